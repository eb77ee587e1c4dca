"""The public entry points :func:`least_squares` (one start) and
:func:`least_squares_batch` (one start per row), and their one set of input checks.

Both run the same engine (:mod:`.engine`): a lone fit is a batch of one, its
functions of ``w`` lifted to functions of a one-row matrix ``W``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import tensorflow as tf

from .damping import make_damping
from .engine import LMProblem, solve
from .jacobian import autodiff_jacobian
from .linalg import SCALINGS
from .result import LMResult
from .scipy_backend import solve_scipy
from .termination import Criteria

OPTIONS_DOC = """
    jacobian : callable, optional. Default: TensorFlow autodiff
        (:func:`.autodiff_jacobian`); for residuals of a model applied sample by
        sample, :func:`.per_sample_jacobian` is much faster.
    solve : ``"tf"`` (default) the compiled loop of :mod:`.engine`; ``"scipy"``
        MINPACK through ``scipy.optimize.least_squares(method="lm")`` (see
        :func:`.solve_scipy`; only ``jacobian, scaling, max_iter, gtol, ftol, xtol,
        jit_compile, progress`` apply, and ``damping`` must not be given: MINPACK
        uses its own trust-region rule).
    damping : ``"marquardt"`` (multiply by ``mu_dec`` / ``mu_inc``, MATLAB
        ``trainlm``), ``"nielsen"`` (gain-ratio rule, Nielsen 1999) or a rule object
        (:mod:`.damping`).
    scaling : ``"identity"`` (``D = I``, trainlm) or ``"jtj_diag"``
        (``D^T D = diag(J^T J)``, Marquardt 1963, with Moré's running maximum).
    mu0, mu_dec, mu_inc, mu_max : initial damping (> 0), its factors for the
        Marquardt rule, and the ``MU_MAX`` stop (trainlm: 1e-3, 0.1, 10, 1e10).
        ``mu0`` is the starting ``mu`` for the Nielsen rule too. ``mu`` never goes
        below :func:`.engine.mu_floor` (``eps`` relative to ``J^T J``).
    step_space : where the damped system is solved: ``"parameters"`` (``n x n``:
        ``J^T J + mu D^2``), ``"samples"`` (``m x m``: ``J D^-2 J^T + mu I``, then
        ``delta = -D^-2 J^T y``; :func:`.linalg.sample_space_step`) or ``"auto"``
        (default): samples when there are more parameters than residuals
        (``n > m``), the smaller system. Both give the same step up to rounding.
    mu0_relative : if True the starting ``mu`` is ``mu0 * max_j (J^T J)_jj / d2_j``
        at ``x0`` (Madsen, Nielsen & Tingleff 2004: ``tau * max a_ii``), so ``mu0`` is
        a pure number, independent of the scale of the problem.
    max_iter : most iterations (trial steps, accepted or not).
    max_time : seconds; checked between chunks, so it can overrun by one chunk.
    ssq_goal : stop when ``ssq <= ssq_goal`` (trainlm's ``goal``, default 0).
    gtol, ftol, xtol : MINPACK's convergence tests (:mod:`.termination`):
        ``gtol`` bounds the cosine between ``r`` and every column of ``J``; ``ftol``
        the actual and predicted relative reduction of the SSQ; ``xtol`` the scaled
        step against the scaled point. ``ftol`` and ``xtol`` are confirmed by the
        undamped Gauss-Newton model before they end a run.
    validation : callable giving validation residuals, optional. Its SSQ is
        recorded after every accepted step.
    max_fail : with ``validation``, stop after this many accepted steps in a row
        without a new lowest validation SSQ, and return the parameters with the
        lowest validation SSQ seen (trainlm's ``max_fail``; its epochs are accepted
        steps). The best-validation parameters are returned whatever ends the run.
        ``None`` records validation SSQ only.
    chunk : iterations per compiled call; Python work happens between chunks.
    progress : callable ``progress(info)`` called after each chunk with a dict
        ``iteration, running, elapsed`` and per-row arrays ``ssq, mu, status, x``
        (and ``val_ssq``); if it returns True every running row stops with
        ``CALLBACK``. Default: log at INFO level. With ``solve="scipy"`` it is called
        after each Jacobian evaluation (at ``x0`` and after every accepted step),
        the rows running one after the other: each call is about one row (arrays of
        one element, ``row`` its index), and True stops that row.
    jit_compile : compile the model functions with XLA (default). False gives a
        plain ``tf.function`` graph, for functions using ops XLA lacks.
"""

#: The defaults, chosen from the Moré-Garbow-Hillstrom table of ``snakemake
#: lm_robustness`` (README, "Choosing the defaults"): Nielsen's damping with Moré's
#: running-maximum scaling solved as many problems as MINPACK there, with no false
#: success. (The pipeline's network arm sets its own options, trainlm's, in the config.)
DEFAULTS = dict(jacobian=None, solve="tf", damping="nielsen", scaling="jtj_diag",
                step_space="auto", mu0=1e-3, mu0_relative=False, mu_dec=0.1, mu_inc=10.0, mu_max=1e10,
                max_iter=1000,
                max_time=None, ssq_goal=0.0, gtol=1e-10, ftol=1e-12, xtol=1e-12,
                validation=None, max_fail=None, chunk=50, progress=None, jit_compile=True)


def least_squares(residuals: Callable, x0, **options) -> LMResult:
    """Minimise ``ssq(x) = sum(residuals(x)**2)`` by Levenberg-Marquardt.

    Each iteration solves ``(J^T J + mu D^T D) delta = -J^T r`` (Levenberg 1944;
    Marquardt 1963; Moré 1978) and takes ``x + delta`` only if it lowers the SSQ
    (finite values only); the damping rule then updates ``mu``. This is
    :func:`least_squares_batch` with one row.

    Parameters
    ----------
    residuals : callable ``w -> r``, a 1-D float64 ``tf.Tensor`` of parameters to a
        1-D float64 tensor of residuals, written in TensorFlow ops (it is traced).
    x0 : array-like, 1-D, real, finite: the starting parameters.
    **options : see below; ``jacobian`` and ``validation`` take ``w`` as
        ``residuals`` does, the Jacobian returning ``(m, n)``.
    """ + OPTIONS_DOC + """
    Returns
    -------
    :class:`.LMResult`. Status codes (:class:`.Status`): -1 non-finite residuals or
    Jacobian at ``x0``; 0 ``max_iter``; 1 ``gtol``; 2 ``ftol``; 3 ``xtol``; 4 ``ftol``
    and ``xtol``; 5 ``ssq_goal``; 6 ``mu_max``; 7 validation ``max_fail``;
    8 ``max_time``; 9 progress callback. Only 1-5 are successes.

    Raises
    ------
    ValueError : on malformed input (shapes, dtypes, option values), saying what was
        expected.
    """
    x0 = check_x0(x0, ndim=1)
    num_residuals = check_output(residuals, x0, "residuals")
    if options.get("validation") is not None:
        check_output(options["validation"], x0, "validation")
    jacobian = options.get("jacobian")
    if jacobian is not None and not callable(jacobian):
        raise ValueError(f"jacobian must be a callable w -> (m, n) tensor, got {jacobian!r}")
    if jacobian is None:
        jacobian = autodiff_jacobian(residuals, num_residuals, x0.size)
    lifted = {"jacobian": lift(jacobian),
              "validation": None if options.get("validation") is None
              else lift(options["validation"])}
    if options.get("progress") is not None:
        lifted["progress"] = one_row_progress(options["progress"])
    return least_squares_batch(lift(residuals), x0[None], **{**options, **lifted})[0]


def one_row_progress(progress: Callable) -> Callable:
    """A lone fit's ``progress`` sees its own numbers (``ssq``, ``mu``, ``status`` as
    scalars, ``x`` 1-D), not the one-row arrays of the batch."""
    def report(info):
        return progress({k: v[0] if isinstance(v, np.ndarray) else v
                         for k, v in info.items() if k != "running"})
    return report


def least_squares_batch(residuals: Callable, X0, **options) -> list[LMResult]:
    """Minimise ``ssq_b(x) = sum(residuals(x)[b]**2)`` from every row ``b`` of ``X0``.

    Each row is an independent run; rows stop independently and a stopped row is
    frozen, so each row's iterates, counts and history are what it would get alone.

    Parameters
    ----------
    residuals : callable ``W -> R``, a ``(B, n)`` float64 tensor of parameter rows to
        the ``(B, m)`` residuals, row ``b`` of ``R`` depending on row ``b`` of ``W``
        only; TensorFlow ops (it is traced).
    X0 : array-like ``(B, n)``, real, finite: one starting point per row.
    **options : see below; ``jacobian`` is ``W -> (B, m, n)`` (default: autodiff of
        each row), ``validation`` ``W -> (B, p)``. ``max_iter`` and ``max_time`` bound
        the whole batch.
    """ + OPTIONS_DOC + """
    Returns
    -------
    One :class:`.LMResult` per row (see :func:`least_squares`). ``wall_s`` of a row is
    the time until it stopped, ``batch_wall_s`` the batch's, ``compile_s`` the
    batch's compilation.
    """
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise TypeError(f"unknown option(s) {unknown}; options are {sorted(DEFAULTS)}")
    opts = {**DEFAULTS, **options}
    X0 = check_x0(X0, ndim=2, name="X0")
    num_residuals = check_output(residuals, X0, "residuals")
    if opts["validation"] is not None:
        check_output(opts["validation"], X0, "validation")
    check_options(**{k: opts[k] for k in ("solve", "scaling", "mu0", "mu_max", "max_iter",
                                           "max_time", "ssq_goal", "gtol", "ftol", "xtol",
                                           "max_fail", "chunk")})
    jacobian = opts["jacobian"]
    if jacobian is None:
        jacobian = rowwise_autodiff_jacobian(residuals, num_residuals, X0.shape[1])
    jacobian = checked_jacobian(jacobian, num_residuals, X0.shape[1])
    rule = make_damping(opts["damping"], opts["mu_dec"], opts["mu_inc"])
    in_sample_space(opts["step_space"], num_residuals, X0.shape[1])  # checks the value

    if opts["solve"] == "scipy":
        unsupported = {"validation": opts["validation"] is not None,
                       "max_time": opts["max_time"] is not None,
                       "ssq_goal": opts["ssq_goal"] != 0.0,
                       "damping": "damping" in options}
        named = [name for name, given in unsupported.items() if given]
        if named:
            raise ValueError(f"solve='scipy' does not support {', '.join(named)}; "
                             "use solve='tf'")
        return [solve_scipy(row_function(residuals), row_function(jacobian), x0,
                            max_iter=opts["max_iter"], gtol=opts["gtol"], ftol=opts["ftol"],
                            xtol=opts["xtol"], scaling=opts["scaling"],
                            jit_compile=opts["jit_compile"],
                            progress=row_progress(opts["progress"], b))
                for b, x0 in enumerate(X0)]

    max_fail = opts["max_fail"] if opts["validation"] is not None else None
    criteria = Criteria(mu_max=opts["mu_max"], ssq_goal=opts["ssq_goal"], gtol=opts["gtol"],
                        ftol=opts["ftol"], xtol=opts["xtol"], max_fail=max_fail)
    problem = LMProblem(residuals=residuals, jacobian=jacobian,
                        validation=opts["validation"], damping=rule,
                        scaling=SCALINGS[opts["scaling"]], criteria=criteria,
                        mu0_relative=bool(opts["mu0_relative"]),
                        sample_space=in_sample_space(opts["step_space"], num_residuals,
                                                     X0.shape[1]))
    return solve(problem, X0, mu0=opts["mu0"], max_iter=opts["max_iter"],
                 max_time=opts["max_time"], chunk=opts["chunk"], progress=opts["progress"],
                 jit_compile=opts["jit_compile"])


STEP_SPACES = ("auto", "parameters", "samples")


def in_sample_space(step_space: str, m: int, n: int) -> bool:
    """Whether the damped system is solved in sample space (see ``step_space``)."""
    if step_space not in STEP_SPACES:
        raise ValueError(f"step_space must be one of {list(STEP_SPACES)}, got {step_space!r}")
    return step_space == "samples" or (step_space == "auto" and n > m)


def row_progress(progress: Callable | None, row: int) -> Callable | None:
    """``progress`` for row ``row`` of a batch that ``solve="scipy"`` runs one row
    after the other: each report also names its ``row``."""
    if progress is None:
        return None

    def report(info):
        return progress({**info, "row": row})
    return report


def lift(fn: Callable) -> Callable:
    """``w -> y`` as ``W -> Y`` for a one-row ``W``: the lone fit as a batch of one."""
    def lifted(W):
        return tf.expand_dims(fn(W[0]), 0)
    return lifted


def row_function(fn: Callable) -> Callable:
    """The batched ``fn`` applied to one row ``w`` alone: ``w -> fn(w[None])[0]``
    (rows are independent, so this is every row's function)."""
    def one(w):
        return fn(tf.expand_dims(w, 0))[0]
    return one


def rowwise_autodiff_jacobian(residuals: Callable, num_residuals: int,
                              num_params: int) -> Callable:
    """``W -> (B, m, n)``: :func:`.autodiff_jacobian` of each row's residuals."""
    one = autodiff_jacobian(row_function(residuals), num_residuals, num_params)

    def jacobian(W):
        return tf.vectorized_map(one, W)
    return jacobian


def check_x0(x0, ndim: int = 1, name: str = "x0") -> np.ndarray:
    """``x0`` as a float64 array, or ``ValueError``: 1-D parameters (``ndim=1``) or one
    starting point per row (``ndim=2``)."""
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


def check_output(fn: Callable, x0: np.ndarray, name: str) -> int:
    """Call ``fn(x0)`` eagerly; a 1-D ``x0`` must give a non-empty 1-D float64 tensor,
    a ``(B, n)`` one a ``(B, m)`` tensor. Returns ``m``."""
    batched = x0.ndim == 2
    what = "W -> (B, m) tensor" if batched else "w -> 1-D tensor"
    if not callable(fn):
        raise ValueError(f"{name} must be a callable {what}, got {fn!r}")
    out = tf.convert_to_tensor(fn(tf.constant(x0)))
    if out.dtype != tf.float64:
        raise ValueError(f"{name} must return float64 (compute in float64 for LM), "
                         f"got {out.dtype.name}")
    if batched and (out.shape.rank != 2 or out.shape[0] != x0.shape[0] or out.shape[1] == 0):
        raise ValueError(f"{name} must return a ({x0.shape[0]}, m) tensor, one row of "
                         f"residuals per row of X0, got shape {tuple(out.shape)}")
    if not batched and (out.shape.rank != 1 or out.shape[0] == 0):
        raise ValueError(f"{name} must return a non-empty 1-D tensor, got shape "
                         f"{tuple(out.shape)}; flatten it, e.g. tf.reshape(r, [-1])")
    return int(out.shape[-1])


def checked_jacobian(jacobian: Callable, num_residuals: int, num_params: int) -> Callable:
    """Wrap a batched ``jacobian`` so that tracing it checks its output: a float64
    tensor of shape ``(B, m, n)``, else ``ValueError``. Costs nothing at run time."""
    if not callable(jacobian):
        raise ValueError(f"jacobian must be a callable, got {jacobian!r}")
    expected = (None, num_residuals, num_params)

    def checked(W):
        jac = tf.convert_to_tensor(jacobian(W))
        if jac.dtype != tf.float64 or not jac.shape.is_compatible_with(expected):
            raise ValueError(f"jacobian must return a float64 tensor of shape "
                             f"{expected[1:]} (residuals x parameters; rows x residuals x "
                             f"parameters for a batch), got {tuple(jac.shape)} "
                             f"{jac.dtype.name}")
        return jac
    return checked


def check_options(*, solve, scaling, mu0, mu_max, max_iter, max_time, ssq_goal, gtol, ftol,
                  xtol, max_fail, chunk) -> None:
    """``ValueError`` for an option outside its domain."""
    if solve not in ("tf", "scipy"):
        raise ValueError(f"solve must be 'tf' or 'scipy', got {solve!r}")
    if scaling not in SCALINGS:
        raise ValueError(f"scaling must be one of {sorted(SCALINGS)}, got {scaling!r}")
    if not (isinstance(mu0, (int, float)) and np.isfinite(mu0) and mu0 > 0):
        raise ValueError(f"mu0 must be a finite number > 0 (mu = 0 would never grow "
                         f"again under a multiplicative damping rule), got {mu0!r}")
    nonnegative = {"ssq_goal": ssq_goal, "gtol": gtol, "ftol": ftol, "xtol": xtol}
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
