"""Checks on a problem and on initial weights before any training: malformed input
raises ``ValueError`` saying what was expected (shapes, dtypes, indices, finiteness),
before any compilation or fit starts. Every trainer (:mod:`secondorder.optim.arms`,
:mod:`secondorder.optim.first_order`) calls these, so the messages are the same
whatever the arm."""

from __future__ import annotations

import numpy as np

from secondorder.problem.data import Problem
from secondorder.problem.model import Architecture, check_flat


def check_problem(problem: Problem, arch: Architecture) -> None:
    """``ValueError`` unless ``problem`` fits the perceptron ``arch``: real inputs with
    ``arch.nin`` columns, real targets with ``arch.nout`` columns (one-hot), and
    training/validation rows given as integer indices of existing rows. Nothing is
    broadcast: targets with 3 columns for a 2-output model are an error, not a bug
    found later. Non-finite values are allowed (training reports them as a status)."""
    if not isinstance(arch, Architecture):
        raise ValueError(f"arch must be a secondorder.problem.model.Architecture, got "
                         f"{type(arch).__name__}")
    if not isinstance(problem, Problem):
        raise ValueError(f"expected a secondorder.problem.data.Problem, got {type(problem).__name__}")
    name = arch.name
    for what, values, columns, per in (("inputs", problem.x_all, arch.nin, "input"),
                                       ("targets", problem.y_all, arch.nout, "output")):
        values = np.asarray(values)
        if values.dtype.kind not in "iuf":
            raise ValueError(f"{what} must be real numbers, got dtype {values.dtype}")
        if values.ndim != 2 or values.shape[1] != columns:
            raise ValueError(f"{what} must be an (n, {columns}) array, one column per "
                             f"{per} of the {name} perceptron, got shape {values.shape}")
    rows = len(problem.x_all)
    if rows == 0:
        raise ValueError("the data have no rows")
    for what, index in (("train", problem.train), ("validation", problem.validation)):
        index = np.asarray(index)
        if index.ndim != 1 or index.size == 0 or index.dtype.kind not in "iu":
            raise ValueError(f"{what} must be a non-empty 1-D array of integer row indices, "
                             f"got dtype {index.dtype}, shape {index.shape}")
        if index.min() < 0 or index.max() >= rows:
            raise ValueError(f"{what} indices must lie in 0..{rows - 1} (the rows of the "
                             f"data), got {index.min()}..{index.max()}")


def check_init(ws0, arch: Architecture, batched: bool = False) -> np.ndarray:
    """``ws0`` as a float array after checking it: a flat vector of ``arch.n_params``
    finite numbers, or with ``batched`` a ``(B, n_params)`` matrix (one row per fit)."""
    if not batched:
        ws0 = check_flat(ws0, arch)
    else:
        ws0 = np.asarray(ws0)
        if ws0.ndim != 2 or ws0.shape[0] == 0 or ws0.shape[1] != arch.n_params:
            raise ValueError(
                f"expected a (B, {arch.n_params}) matrix of initial weights, one row per fit "
                f"of a {arch.name} perceptron (B >= 1; one fit: "
                f"w[None, :]), got shape {ws0.shape}")
        if not np.issubdtype(ws0.dtype, np.floating):
            raise ValueError(f"weights must be floating point, got dtype {ws0.dtype}")
    if not np.all(np.isfinite(ws0)):
        raise ValueError("initial weights must be finite (no NaN or infinity)")
    return ws0
