"""The public entry points :func:`least_squares` (one start) and
:func:`least_squares_batch` (one start per row), and their one set of input checks.

Both run the same loop (:mod:`.engine`) on a provider (:mod:`.providers`) built from
the functions given: numpy functions (scipy's convention, with ``jac``) are called as
they are; TensorFlow functions are compiled, their Jacobian by autodiff unless given.
A lone fit is a batch of one.
"""

from __future__ import annotations

import sys
from typing import Callable

import numpy as np

from .damping import make_damping
from .engine import LMSettings, solve
from .linalg import SCALINGS
from .providers import NumpyProvider, Provider, TFProvider
from .result import LMResult
from .scipy_backend import solve_scipy
from .termination import Criteria

OPTIONS_DOC = """
    jac : callable, optional: the Jacobian ``x -> (m, n)`` (scipy's name and
        convention). Required when ``residuals`` is a numpy function; for TensorFlow
        residuals the default is TensorFlow autodiff (:func:`.autodiff_jacobian`), and
        a given ``jac`` must be TensorFlow too (it is compiled). For residuals of a
        model applied sample by sample, :func:`.per_sample_jacobian` is much faster.
    solve : ``"numpy"`` (default) the loop of :mod:`.engine` (numpy on the host, BLAS
        and LAPACK for the linear algebra); ``"scipy"`` MINPACK through
        ``scipy.optimize.least_squares(method="lm")`` with the same residuals and
        Jacobian (see :func:`.solve_scipy`; only ``jac, scaling, max_iter, gtol, ftol,
        xtol, jit_compile, progress`` apply, and ``damping`` must not be given: MINPACK
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
    geodesic : add the geodesic acceleration to each step (Transtrum & Sethna 2012:
        :func:`.engine.geodesic_acceleration`; one more residual evaluation and two
        triangular solves per iteration, ``J`` kept in memory); default False.
    regularization : ``None`` (default) or ``"bayesian"``: minimise ``beta ssq +
        alpha ||x||^2`` with ``alpha`` and ``beta`` re-estimated after every accepted
        step (MacKay 1992; Foresee & Hagan 1997; MATLAB ``trainbr``:
        :mod:`.regularization`). Steps are then solved in parameter space, and the
        history also holds ``alpha``, ``beta`` and ``gamma`` (effective parameters).
    max_iter : most iterations (trial steps, accepted or not) of each run.
    max_time : seconds of each run's own compute (in a batch, its share of the
        batch's time), checked after every iteration.
    ssq_goal : stop when ``ssq <= ssq_goal`` (trainlm's ``goal``, default 0).
    gtol, ftol, xtol : MINPACK's convergence tests (:mod:`.termination`):
        ``gtol`` bounds the cosine between ``r`` and every column of ``J``; ``ftol``
        the actual and predicted relative reduction of the SSQ; ``xtol`` the scaled
        step against the scaled point. ``ftol`` and ``xtol`` are confirmed by the
        undamped Gauss-Newton model before they end a run.
    validation : callable giving validation residuals, optional (the same kind of
        function as ``residuals``). Its SSQ is recorded after every accepted step.
    max_fail : with ``validation``, stop after this many accepted steps in a row
        without a new lowest validation SSQ, and return the parameters with the
        lowest validation SSQ seen (trainlm's ``max_fail``; its epochs are accepted
        steps). The best-validation parameters are returned whatever ends the run.
        ``None`` records validation SSQ only.
    chunk : iterations between two progress reports.
    progress : callable ``progress(info)`` called every ``chunk`` iterations with a
        dict ``iteration, running, elapsed`` and per-row arrays ``x, best_x, ssq,
        best_val_ssq, mu, status, nit, nfev, njev, time_s`` (and ``val_ssq``); if it
        returns True every running row stops with ``CALLBACK``. Its time is not
        counted. Default: log at INFO level. With ``solve="scipy"`` it is called after
        each Jacobian evaluation (at ``x0`` and after every accepted step), the rows
        running one after the other: each call is about one row (arrays of one
        element, ``row`` its index), and True stops that row.
    jit_compile : compile TensorFlow functions with XLA (default). False gives a plain
        ``tf.function`` graph, for functions using ops XLA lacks.
"""

#: The defaults, chosen from the Moré-Garbow-Hillstrom table of ``snakemake
#: lm_robustness`` (README, "Choosing the defaults"): Nielsen's damping with Moré's
#: running-maximum scaling solved as many problems as MINPACK there, with no false
#: success. (The pipeline's network arm sets its own options, trainlm's, in the config.)
DEFAULTS = dict(jac=None, solve="numpy", damping="nielsen", scaling="jtj_diag",
                step_space="auto", mu0=1e-3, mu0_relative=False, geodesic=False,
                regularization=None,
                mu_dec=0.1, mu_inc=10.0,
                mu_max=1e10, max_iter=1000, max_time=None, ssq_goal=0.0, gtol=1e-10,
                ftol=1e-12, xtol=1e-12, validation=None, max_fail=None, chunk=50,
                progress=None, jit_compile=True)


def least_squares(residuals: Callable, x0, **options) -> LMResult:
    """Minimise ``ssq(x) = sum(residuals(x)**2)`` by Levenberg-Marquardt.

    Each iteration solves ``(J^T J + mu D^T D) delta = -J^T r`` (Levenberg 1944;
    Marquardt 1963; Moré 1978) and takes ``x + delta`` only if it lowers the SSQ
    (finite values only); the damping rule then updates ``mu``. This is
    :func:`least_squares_batch` with one row.

    Parameters
    ----------
    residuals : callable ``x -> r``, a 1-D float64 array of parameters to a 1-D array
        of residuals: a numpy function (give ``jac`` then, as in scipy) or TensorFlow
        ops on a float64 tensor (traced and compiled; Jacobian by autodiff).
    x0 : array-like, 1-D, real, finite: the starting parameters.
    **options : see below; ``jac`` and ``validation`` take ``x`` as ``residuals``
        does, ``jac`` returning ``(m, n)``.
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
    lifted = {name: lift(options[name]) for name in ("jac", "validation")
              if options.get(name) is not None}
    for name in lifted:
        if not callable(options[name]):
            raise ValueError(f"{name} must be a callable x -> array, got {options[name]!r}")
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


def least_squares_batch(residuals, X0, **options) -> list[LMResult]:
    """Minimise ``ssq(x) = sum(residuals(x)**2)`` from every row of ``X0``.

    Each row is an independent run with its own arithmetic; rows stop independently
    and a stopped row leaves the batch, so each row's iterates, counts and history
    are what it would get alone.

    Parameters
    ----------
    residuals : callable ``W -> R``, a ``(B, n)`` float64 matrix of parameter rows to
        the ``(B, m)`` residuals, row ``b`` of ``R`` the same function of row ``b`` of
        ``W`` for every ``b`` (one problem, many starting points; it is called one row
        at a time, as a ``(1, n)`` matrix): numpy (give ``jac``, ``W -> (B, m, n)``) or TensorFlow ops (compiled,
        called one row at a time); or a :class:`.Provider`, which then also gives
        the Jacobian and the validation residuals.
    X0 : array-like ``(B, n)``, real, finite: one starting point per row.
    **options : see below; ``jac`` is ``W -> (B, m, n)``, ``validation``
        ``W -> (B, p)``. ``max_iter`` and ``max_time`` bound each row.
    """ + OPTIONS_DOC + """
    Returns
    -------
    One :class:`.LMResult` per row (see :func:`least_squares`). ``time_s`` of a row is
    its own compute, ``batch_wall_s`` the batch's, ``compile_s`` the batch's
    compilation.
    """
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        hint = " (the Jacobian option is called jac, as in scipy)" if "jacobian" in unknown else ""
        raise TypeError(f"unknown option(s) {unknown}{hint}; options are {sorted(DEFAULTS)}")
    opts = {**DEFAULTS, **options}
    X0 = check_x0(X0, ndim=2, name="X0")
    check_options(**{k: opts[k] for k in ("solve", "scaling", "mu0", "mu_max", "max_iter",
                                           "max_time", "ssq_goal", "gtol", "ftol", "xtol",
                                           "max_fail", "chunk")})
    provider = make_provider(residuals, X0, jac=opts["jac"], validation=opts["validation"],
                             jit_compile=opts["jit_compile"])
    rule = make_damping(opts["damping"], opts["mu_dec"], opts["mu_inc"])
    if opts["regularization"] not in (None, "bayesian"):
        raise ValueError(f"regularization must be None or 'bayesian', got "
                         f"{opts['regularization']!r}")
    bayesian = opts["regularization"] == "bayesian"
    if bayesian and opts["step_space"] == "samples":
        raise ValueError("regularization='bayesian' solves in parameter space; "
                         "step_space='samples' is not available with it")
    sample_space = (not bayesian
                    and in_sample_space(opts["step_space"], provider.m, provider.n))

    if opts["solve"] == "scipy":
        unsupported = {"validation": provider.has_validation,
                       "regularization": bayesian,
                       "max_time": opts["max_time"] is not None,
                       "ssq_goal": opts["ssq_goal"] != 0.0,
                       "damping": "damping" in options}
        named = [name for name, given in unsupported.items() if given]
        if named:
            raise ValueError(f"solve='scipy' does not support {', '.join(named)}; "
                             "use solve='numpy'")
        return [solve_scipy(provider, x0, max_iter=opts["max_iter"], gtol=opts["gtol"],
                            ftol=opts["ftol"], xtol=opts["xtol"], scaling=opts["scaling"],
                            progress=row_progress(opts["progress"], b))
                for b, x0 in enumerate(X0)]

    max_fail = opts["max_fail"] if provider.has_validation else None
    criteria = Criteria(mu_max=opts["mu_max"], ssq_goal=opts["ssq_goal"], gtol=opts["gtol"],
                        ftol=opts["ftol"], xtol=opts["xtol"], max_fail=max_fail)
    settings = LMSettings(damping=rule, scaling=SCALINGS[opts["scaling"]],
                          criteria=criteria, mu0=opts["mu0"],
                          mu0_relative=bool(opts["mu0_relative"]), sample_space=sample_space,
                          geodesic=bool(opts["geodesic"]), bayesian=bayesian)
    return solve(provider, settings, X0, max_iter=opts["max_iter"],
                 max_time=opts["max_time"], chunk=opts["chunk"], progress=opts["progress"])


def _is_tensor(value) -> bool:
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(value, (tf.Tensor, tf.Variable))


def make_provider(residuals, X0: np.ndarray, *, jac=None, validation=None,
                  jit_compile: bool = True) -> Provider:
    """The provider of the batched functions (a :class:`.Provider` is returned as it
    is; then ``jac`` and ``validation`` must not be given).

    ``residuals`` is called once on the first row of ``X0`` (as a ``(1, n)`` numpy
    array). A TensorFlow result makes a :class:`.TFProvider` (``jac`` optional:
    autodiff); a numpy result with ``jac`` a :class:`.NumpyProvider`, as in scipy. A
    numpy result without ``jac`` is tried as TensorFlow (called on a tensor; plain
    arithmetic works either way); if it is not, the error says what to pass.
    """
    if isinstance(residuals, Provider):
        if jac is not None or validation is not None:
            raise ValueError("a Provider gives its own Jacobian and validation residuals; "
                             "do not pass jac or validation with it")
        if residuals.n != X0.shape[1]:
            raise ValueError(f"the provider has {residuals.n} parameters, X0 has "
                             f"{X0.shape[1]} columns")
        return residuals
    for name, fn in (("residuals", residuals), ("jac", jac), ("validation", validation)):
        if (fn is not None or name == "residuals") and not callable(fn):
            raise ValueError(f"{name} must be a callable, got {fn!r}")
    n, first = X0.shape[1], X0[:1]
    try:
        out, failure = residuals(first), None
    except Exception as err:  # noqa: BLE001 - it may need a tensor; reported below
        out, failure = None, err
    tensor = _is_tensor(out)
    if not tensor and (jac is None or failure is not None):
        import tensorflow as tf

        try:
            out = residuals(tf.constant(first))
        except Exception as err:  # noqa: BLE001 - reported with its type
            raise ValueError(f"residuals failed at the starting point: "
                             f"{type(failure or err).__name__}: {failure or err}. "
                             f"{NUMPY_WITHOUT_JAC if failure is None else ''}") from err
        tensor = _is_tensor(out)
        if not tensor:
            raise ValueError(NUMPY_WITHOUT_JAC)
    m = check_output(out, "residuals", tensor)
    p = None
    if validation is not None:
        val = _call(validation, _as_input(first, tensor), "validation")
        if _is_tensor(val) != tensor:
            raise ValueError("validation must be the same kind of function as residuals "
                             "(both numpy or both TensorFlow)")
        p = check_output(val, "validation", tensor)
    if not tensor:
        jac_out = np.asarray(_call(jac, first, "jac"))
        if jac_out.shape != (1, m, n):
            raise ValueError(f"jac must return an (m, n) = ({m}, {n}) array (residuals x "
                             f"parameters), got shape {jac_out.shape[1:]}")
        return NumpyProvider(residuals, jac, n, validation=validation, batched=True, m=m,
                             p=p)
    try:
        provider = TFProvider(residuals, n, m, jacobian=jac, validation=validation, p=p,
                              jit_compile=jit_compile)
        provider.prepare(X0[0])
    except (NotImplementedError, TypeError, AttributeError) as err:
        raise ValueError(f"could not compile the TensorFlow functions "
                         f"({type(err).__name__}: {err}). {NUMPY_WITHOUT_JAC}") from err
    return provider


NUMPY_WITHOUT_JAC = (
    "residuals looks like a numpy function (it returns numpy arrays, or numpy calls on "
    "TensorFlow tensors fail): pass its Jacobian as jac=callable (x -> (m, n) array, as "
    "in scipy.optimize.least_squares), or write residuals in TensorFlow ops on float64 "
    "tensors for an autodiff Jacobian")


def _as_input(first: np.ndarray, tensor: bool):
    if not tensor:
        return first
    import tensorflow as tf

    return tf.constant(first)


def _call(fn, arg, name: str):
    """``fn(arg)``; a failure becomes a ``ValueError`` naming ``fn``."""
    try:
        return fn(arg)
    except Exception as err:  # noqa: BLE001 - reported with its type
        raise ValueError(f"{name} failed at the starting point: {type(err).__name__}: "
                         f"{err}") from err


def check_output(out, name: str, tensor: bool) -> int:
    """The first row's output of ``name``: float64 for TensorFlow, real numbers for
    numpy, shape ``(1, m)`` with ``m > 0``. Returns ``m``."""
    if tensor:
        if out.dtype.name != "float64":
            raise ValueError(f"{name} must return float64 (compute in float64 for LM), "
                             f"got {out.dtype.name}")
        shape = tuple(out.shape)
    else:
        out = np.asarray(out)
        if out.dtype.kind not in "iuf":
            raise ValueError(f"{name} must return real numbers, got dtype {out.dtype}")
        shape = out.shape
    if len(shape) != 2 or shape[0] != 1 or shape[1] == 0:
        raise ValueError(f"{name} must return a non-empty 1-D array per row, got shape "
                         f"{shape[1:] if shape else shape}; flatten it, e.g. "
                         "tf.reshape(r, [-1]) or r.ravel()")
    return int(shape[1])


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
    """``x -> y`` as ``W -> Y`` for a one-row ``W``: the lone fit as a batch of one
    (numpy or TensorFlow, whichever ``fn`` is)."""
    if isinstance(fn, Provider):
        return fn

    def lifted(W):
        y = fn(W[0])
        if _is_tensor(y):
            return sys.modules["tensorflow"].expand_dims(y, 0)
        return np.asarray(y)[None]
    return lifted


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


def check_options(*, solve, scaling, mu0, mu_max, max_iter, max_time, ssq_goal, gtol, ftol,
                  xtol, max_fail, chunk) -> None:
    """``ValueError`` for an option outside its domain."""
    if solve not in ("numpy", "scipy"):
        raise ValueError(f"solve must be 'numpy' or 'scipy', got {solve!r}")
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
