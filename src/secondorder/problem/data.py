"""Two-spirals data, the article's train/validation split and its input scaling.

Every function reproduces the article's code bit for bit (see
``shared/seed/article.md``); where the article has a quirk, the function keeps it and
says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Column names of the data table written by the ``data`` stage.
COLUMNS = ("x", "y", "class")


#: The generator's spirals: each turns ``TURNS`` times while its radius grows from 0
#: towards ``RADIUS`` (TensorFlow Playground's, as the article translated it).
TURNS, RADIUS = 1.75, 5


def spiral_data(nsamp: int) -> np.ndarray:
    """The article's two-spirals generator (translated from TensorFlow Playground).

    Returns an ``(nsamp, 4)`` array: columns ``x, y`` and one-hot targets for class 1
    and class 2. The first ``nsamp // 2`` rows are class 1 (phase 0), the next
    ``nsamp // 2`` class 2 (phase pi); radius ``r = RADIUS i / n`` and angle
    ``t = TURNS * 2 pi i / n + phase`` for ``i = 0..n-1``. An odd ``nsamp`` leaves the
    last row all zero, as the article's loop does.

    The arithmetic is evaluated in the article's order, scalar by scalar, so the
    floats are identical to the article's.
    """
    if int(nsamp) != nsamp or nsamp < 2:
        raise ValueError(f"nsamp must be an integer >= 2, got {nsamp!r}")
    n = int(nsamp / 2)
    out = np.zeros((int(nsamp), 4))
    row = 0
    # A scalar loop on purpose: numpy's vectorised sin/cos may use SIMD kernels whose
    # last bit differs from the scalar path the article's loop takes.
    for target_col, delta_t in ((2, 0.0), (3, np.pi)):
        for i in range(n):
            r = i / n * RADIUS
            t = TURNS * i / n * 2 * np.pi + delta_t
            out[row, 0] = r * np.sin(t)
            out[row, 1] = r * np.cos(t)
            out[row, target_col] = 1
            row += 1
    return out


def class_labels(targets: np.ndarray) -> np.ndarray:
    """Class labels 1 and 2 from the one-hot target columns (the article's names)."""
    return np.argmax(targets, axis=1) + 1


def one_hot(labels: np.ndarray, nclass: int = 2) -> np.ndarray:
    """One-hot targets from class labels ``1..nclass``."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.isin(labels, np.arange(1, nclass + 1)).all():
        raise ValueError(f"labels must be a 1-D array of values in 1..{nclass}")
    return (labels[:, None] == np.arange(1, nclass + 1)[None, :]).astype(float)


def split_indices(n: int, train_fraction: float = 0.8, seed: int = 0):
    """The article's train/validation split.

    ``np.random.seed(seed)`` then ``np.random.choice(arange(n), floor(n * fraction),
    replace=False)`` for training rows (in the drawn order) and the sorted rest for
    validation, exactly as the article draws them.
    """
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction!r}")
    np.random.seed(seed)
    trn = np.random.choice(np.arange(0, n), int(np.floor(n * train_fraction)), replace=False)
    val = np.setdiff1d(np.arange(0, n), trn)
    return trn, val


def linear_scale(data, scale_min, scale_max, data_min, data_max) -> np.ndarray:
    """Map each column of ``data`` linearly so ``data_min -> scale_min`` and
    ``data_max -> scale_max`` (the article's ``linear_scale``)."""
    data = np.asarray(data, dtype=float)
    scaled = np.zeros(data.shape)
    for i in range(data.shape[1]):
        scaler = (scale_max[i] - scale_min[i]) / (data_max[i] - data_min[i])
        scaled[:, i] = (scaler * (data[:, i] - data_min[i])) + scale_min[i]
    return scaled


def article_scaler(train_inputs: np.ndarray, lo: float = 0.1, hi: float = 0.9,
                   swap_min_max: bool = True) -> dict:
    """The scaler the article fits on the training rows.

    The article passes ``np.max`` as ``data_min`` and ``np.min`` as ``data_max``, so
    each input's training maximum maps to ``lo`` and its minimum to ``hi``: the axes
    are flipped. ``swap_min_max=True`` keeps that quirk (the faithful reproduction);
    ``False`` gives the conventional direction. Returned as a JSON-ready dict.
    """
    col_max = np.max(train_inputs, axis=0)
    col_min = np.min(train_inputs, axis=0)
    data_min, data_max = (col_max, col_min) if swap_min_max else (col_min, col_max)
    return {
        "scale_min": [lo] * train_inputs.shape[1],
        "scale_max": [hi] * train_inputs.shape[1],
        "data_min": data_min.tolist(),
        "data_max": data_max.tolist(),
        "min_max_swapped": bool(swap_min_max),
        "note": (
            "As in the article, data_min holds the training maximum and data_max the "
            "training minimum, so each axis is flipped (max -> 0.1, min -> 0.9)."
            if swap_min_max else "Conventional scaling: min -> lo, max -> hi."
        ),
    }


def apply_scaler(inputs: np.ndarray, scaler: dict) -> np.ndarray:
    """Apply a scaler dict from :func:`article_scaler` with :func:`linear_scale`."""
    return linear_scale(inputs, np.array(scaler["scale_min"]), np.array(scaler["scale_max"]),
                        np.array(scaler["data_min"]), np.array(scaler["data_max"]))


# --- the training problem -------------------------------------------------------------


#: Kinds of inputs an arm can see: the raw coordinates, the article's scaled ones, the
#: raw ones with the training rows in another order (:func:`reorder_rows`), and inputs
#: standardised from the training rows (the multi-dataset suite,
#: :mod:`secondorder.problem.datasets`).
INPUTS = ("raw", "scaled", "raw_reordered", "standardised")

#: Seed of the fixed permutation behind ``raw_reordered``.
REORDER_SEED = 0


def reorder_rows(rows, seed: int = REORDER_SEED) -> np.ndarray:
    """The same training rows in a fixed random order.

    The problem is mathematically the same (every loss and every ``J^T J`` is a sum
    over the rows), but floating-point sums are taken in another order, so each
    iterate differs by rounding. Training from the same initial weights on both orders
    measures how much rounding alone (another CPU, another BLAS) moves a fit's
    outcome.
    """
    rows = np.asarray(rows)
    return rows[np.random.default_rng(seed).permutation(len(rows))]


@dataclass(frozen=True)
class Problem:
    """Inputs and targets of one arm, split into training, validation and (optionally)
    test rows.

    ``inputs`` names which inputs the arm sees (:data:`INPUTS`): ``"raw"`` (the
    article's LM arm), ``"scaled"`` (the article's Adam arm), ... Targets are one-hot
    for classification, real columns for regression. ``test`` rows (the suite's held-out
    rows) are never used in training; the article's problem has none.
    """

    x_all: np.ndarray
    y_all: np.ndarray
    train: np.ndarray
    validation: np.ndarray
    inputs: str
    test: np.ndarray | None = None

    def __post_init__(self):
        # frozen dataclass: normalise the fields with object.__setattr__
        for name in ("x_all", "y_all"):
            value = np.asarray(getattr(self, name))
            if value.dtype.kind not in "iuf":
                raise ValueError(f"{name} must hold real numbers, got dtype {value.dtype}")
            object.__setattr__(self, name, value.astype(float))
        if self.x_all.ndim != 2 or self.y_all.ndim != 2 or len(self.x_all) != len(self.y_all):
            raise ValueError(
                f"inputs and targets must be 2-D with the same number of rows, got "
                f"{self.x_all.shape} and {self.y_all.shape}")
        for name in ("train", "validation", "test"):
            if name == "test" and self.test is None:
                continue
            rows = np.asarray(getattr(self, name))
            if rows.ndim != 1:
                raise ValueError(f"{name} must be a 1-D array of row indices, got shape "
                                 f"{rows.shape}")
            if len(rows) == 0:
                raise ValueError(f"{name} rows must not be empty")
            if rows.dtype.kind not in "iu" or rows.min() < 0 or rows.max() >= len(self.x_all):
                raise ValueError(f"{name} must hold integer row indices in "
                                 f"0..{len(self.x_all) - 1}")
            object.__setattr__(self, name, rows)
        if self.inputs not in INPUTS:
            raise ValueError(f"inputs must be one of {list(INPUTS)}, got {self.inputs!r}")

    @property
    def x_train(self):
        return self.x_all[self.train]

    @property
    def y_train(self):
        return self.y_all[self.train]

    @property
    def x_val(self):
        return self.x_all[self.validation]

    @property
    def y_val(self):
        return self.y_all[self.validation]

    @property
    def x_test(self):
        return None if self.test is None else self.x_all[self.test]

    @property
    def y_test(self):
        return None if self.test is None else self.y_all[self.test]
