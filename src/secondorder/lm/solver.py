"""The public entry point :func:`least_squares` and its input checks."""

from __future__ import annotations

from typing import Callable

import numpy as np
import tensorflow as tf

from .damping import make_damping
from .engine import Criteria, LMProblem, solve_tf
from .jacobian import autodiff_jacobian
from .linalg import SCALINGS
from .result import LMResult
from .scipy_backend import solve_scipy


def least_squares(residuals: Callable, x0, *, jacobian: Callable | None = None,
                  solve: str = "tf", damping="marquardt", scaling: str = "identity",
                  mu0: float = 1e-3, mu_dec: float = 0.1, mu_inc: float = 10.0,
                  mu_max: float = 1e10, max_iter: int = 1000, max_time: float | None = None,
                  ssq_goal: float = 0.0, gtol: float = 1e-10, ftol: float = 1e-12,
                  xtol: float = 1e-12, validation: Callable | None = None,
                  max_fail: int | None = 6, chunk: int = 50,
                  progress: Callable | None = None, jit_compile: bool = True) -> LMResult:
    """Minimise ``ssq(x) = sum(residuals(x)**2)`` by Levenberg-Marquardt.

    Each iteration solves ``(J^T J + mu D^T D) delta = -J^T r`` (Levenberg 1944;
    Marquardt 1963; Moré 1978) and takes ``x + delta`` only if it lowers the SSQ
    (finite values only); the damping rule then updates ``mu``.

    Parameters
    ----------
    residuals : callable ``w -> r``, a 1-D float64 ``tf.Tensor`` of parameters to a
        1-D float64 tensor of residuals, written in TensorFlow ops (it is traced).
    x0 : array-like, 1-D, real, finite: the starting parameters.
    jacobian : callable ``w -> (m, n)`` tensor, optional. Default: TensorFlow
        autodiff (:func:`.autodiff_jacobian`); for residuals of a model applied
        sample by sample, :func:`.per_sample_jacobian` is much faster.
    solve : ``"tf"`` (default) the compiled loop of :mod:`.engine`; ``"scipy"``
        MINPACK through ``scipy.optimize.least_squares(method="lm")`` (see
        :func:`.solve_scipy`; only ``jacobian, scaling, max_iter, gtol, ftol, xtol,
        jit_compile`` apply, and ``damping`` must stay ``"marquardt"``: MINPACK
        uses its own trust-region rule).
    damping : ``"marquardt"`` (multiply by ``mu_dec`` / ``mu_inc``, MATLAB
        ``trainlm``), ``"nielsen"`` (gain-ratio rule, Nielsen 1999) or a rule object
        (:mod:`.damping`).
    scaling : ``"identity"`` (``D = I``, trainlm) or ``"jtj_diag"``
        (``D^T D = diag(J^T J)``, Marquardt 1963).
    mu0, mu_dec, mu_inc, mu_max : initial damping, its factors for the Marquardt
        rule, and the ``MU_MAX`` stop (trainlm: 1e-3, 0.1, 10, 1e10). ``mu0`` is the
        starting ``mu`` for the Nielsen rule too.
    max_iter : most iterations (trial steps, accepted or not).
    max_time : seconds; checked between chunks, so it can overrun by one chunk.
    ssq_goal : stop when ``ssq <= ssq_goal`` (trainlm's ``goal``, default 0).
    gtol : stop when ``||J^T r||_inf <= gtol`` (the gradient of ``cost = ssq / 2``).
    ftol : stop when an accepted step lowers the SSQ by at most ``ftol * ssq``.
    xtol : stop when an accepted step has ``||delta|| <= xtol * (xtol + ||x||)``.
    validation : callable ``w -> validation residuals`` (1-D), optional. Its SSQ is
        recorded after every accepted step.
    max_fail : with ``validation``, stop after this many accepted steps in a row
        without a new lowest validation SSQ, and return the parameters with the
        lowest validation SSQ seen (trainlm's ``max_fail``, default 6; trainlm's
        epochs are accepted steps). The best-validation parameters are returned
        whatever ends the run. ``None`` records validation SSQ only.
    chunk : iterations per compiled call; Python work happens between chunks.
    progress : callable ``progress(info)`` called after each chunk with a dict
        ``iteration, ssq, mu, val_ssq (with validation), elapsed, status, x``; if it
        returns True the run stops (``CALLBACK``). Default: log at INFO level.
    jit_compile : compile with XLA (default). False gives a plain ``tf.function``
        graph, for residual functions using ops XLA lacks.

    Returns
    -------
    :class:`.LMResult`. Status codes (:class:`.Status`): -1 non-finite residuals or
    Jacobian at ``x0``; 0 ``max_iter``; 1 ``gtol``; 2 ``ftol``; 3 ``xtol``; 4 ``ftol``
    and ``xtol``; 5 ``ssq_goal``; 6 ``mu_max``; 7 validation ``max_fail``;
    8 ``max_time``; 9 progress callback.

    Raises
    ------
    ValueError : on malformed input (shapes, dtypes, option values), saying what was
        expected.
    """
    x0 = check_x0(x0)
    num_residuals = check_vector_function(residuals, x0, "residuals")
    if validation is not None:
        check_vector_function(validation, x0, "validation")
    if jacobian is None:
        jacobian = autodiff_jacobian(residuals, num_residuals, x0.size)
    else:
        jacobian = checked_jacobian(jacobian, num_residuals, x0.size)
    check_options(solve=solve, scaling=scaling, mu0=mu0, mu_max=mu_max, max_iter=max_iter,
                  max_time=max_time, ssq_goal=ssq_goal, gtol=gtol, ftol=ftol, xtol=xtol,
                  max_fail=max_fail, chunk=chunk)
    rule = make_damping(damping, mu_dec, mu_inc)

    if solve == "scipy":
        unsupported = {"validation": validation is not None, "max_time": max_time is not None,
                       "ssq_goal": ssq_goal != 0.0, "progress": progress is not None,
                       "damping": damping != "marquardt"}
        named = [name for name, given in unsupported.items() if given]
        if named:
            raise ValueError(f"solve='scipy' does not support {', '.join(named)}; "
                             "use solve='tf'")
        return solve_scipy(residuals, jacobian, x0, max_iter=max_iter, gtol=gtol, ftol=ftol,
                           xtol=xtol, scaling=scaling, jit_compile=jit_compile)

    criteria = Criteria(mu_max=mu_max, ssq_goal=ssq_goal, gtol=gtol, ftol=ftol, xtol=xtol,
                        max_fail=max_fail if validation is not None else None)
    problem = LMProblem(residuals=residuals, jacobian=jacobian, validation=validation,
                        damping=rule, scaling=SCALINGS[scaling], criteria=criteria)
    return solve_tf(problem, x0, mu0=mu0, max_iter=max_iter, max_time=max_time, chunk=chunk,
                    progress=progress, jit_compile=jit_compile)


def check_x0(x0, ndim: int = 1, name: str = "x0") -> np.ndarray:
    """``x0`` as a float64 array, or ``ValueError``: 1-D parameters (``ndim=1``) or one
    starting point per row (``ndim=2``, the batched solver)."""
    x0 = np.asarray(x0)
    if x0.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold real numbers, got dtype {x0.dtype}")
    if x0.ndim != ndim or x0.size == 0:
        what = ("a non-empty 1-D array of parameters" if ndim == 1 else
                "a non-empty 2-D array, one starting point per row")
        raise ValueError(f"{name} must be {what}, got shape {x0.shape}")
    x0 = x0.astype(np.float64)
    if not np.all(np.isfinite(x0)):
        raise ValueError(f"{name} must be finite")
    return x0


def check_vector_function(fn: Callable, x0: np.ndarray, name: str) -> int:
    """Call ``fn(x0)`` eagerly; it must give a non-empty 1-D float64 tensor. Returns
    its length."""
    if not callable(fn):
        raise ValueError(f"{name} must be a callable w -> 1-D tensor, got {fn!r}")
    out = tf.convert_to_tensor(fn(tf.constant(x0)))
    if out.dtype != tf.float64:
        raise ValueError(f"{name} must return float64 (compute in float64 for LM), "
                         f"got {out.dtype.name}")
    if out.shape.rank != 1 or out.shape[0] == 0:
        raise ValueError(f"{name} must return a non-empty 1-D tensor, got shape "
                         f"{tuple(out.shape)}; flatten it, e.g. tf.reshape(r, [-1])")
    return int(out.shape[0])


def checked_jacobian(jacobian: Callable, num_residuals: int, num_params: int,
                     batched: bool = False) -> Callable:
    """Wrap ``jacobian`` so that tracing it checks its output: a float64 tensor of
    shape ``(m, n)`` (``(B, m, n)`` when ``batched``), else ``ValueError``. The check
    costs nothing at run time."""
    shape = "(B, m, n)" if batched else "(m, n)"
    if not callable(jacobian):
        raise ValueError(f"jacobian must be a callable w -> {shape} tensor, got {jacobian!r}")
    expected = ((None,) if batched else ()) + (num_residuals, num_params)
    axes = "rows x residuals x parameters" if batched else "residuals x parameters"

    def checked(w):
        jac = tf.convert_to_tensor(jacobian(w))
        if jac.dtype != tf.float64 or not jac.shape.is_compatible_with(expected):
            raise ValueError(f"jacobian must return a float64 tensor of shape {expected} "
                             f"({axes}), got {tuple(jac.shape)} {jac.dtype.name}")
        return jac
    return checked


def check_options(*, solve, scaling, mu0, mu_max, max_iter, max_time, ssq_goal, gtol, ftol,
                  xtol, max_fail, chunk) -> None:
    """``ValueError`` for an option outside its domain."""
    if solve not in ("tf", "scipy"):
        raise ValueError(f"solve must be 'tf' or 'scipy', got {solve!r}")
    if scaling not in SCALINGS:
        raise ValueError(f"scaling must be one of {sorted(SCALINGS)}, got {scaling!r}")
    nonnegative = {"mu0": mu0, "ssq_goal": ssq_goal, "gtol": gtol, "ftol": ftol,
                   "xtol": xtol}
    for name, value in nonnegative.items():
        if not (isinstance(value, (int, float)) and np.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if not (isinstance(mu_max, (int, float)) and mu_max > 0):
        raise ValueError(f"mu_max must be a number > 0, got {mu_max!r}")
    for name, value, low in (("max_iter", max_iter, 0), ("chunk", chunk, 1)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if max_fail is not None and (not isinstance(max_fail, (int, np.integer))
                                 or isinstance(max_fail, bool) or max_fail < 1):
        raise ValueError(f"max_fail must be an integer >= 1 or None, got {max_fail!r}")
    if max_time is not None and not (isinstance(max_time, (int, float)) and max_time > 0):
        raise ValueError(f"max_time must be a number > 0 or None, got {max_time!r}")
