"""The public entry points :func:`least_squares` (one start) and
:func:`least_squares_batch` (one start per row), and their one set of input checks.

Both run the same loop (:mod:`.engine`) on a provider (:mod:`.providers`) built from
the functions given: numpy functions (scipy's convention) are called as they are,
their Jacobian ``jac`` or finite differences (:mod:`.finite_difference`); TensorFlow
functions are compiled, their Jacobian by autodiff unless given. A lone fit is a batch
of one. :func:`least_squares` also takes ``scipy.optimize.least_squares``' arguments
(:mod:`.scipy_arguments`).
"""

from __future__ import annotations

import sys
from typing import Callable

import numpy as np

from . import scipy_arguments as scipy_args
from .damping import make_damping
from .engine import LMSettings, solve
from .finite_difference import FiniteDifference, FiniteDifferenceProvider
from .linalg import SCALINGS, ParameterSpace, SampleSpace
from .objective import SumOfSquares
from .providers import NumpyProvider, Provider, TFProvider
from .regularization import Bayesian
from .result import LMResult, Status, add_derivatives
from .scipy_backend import solve_scipy
from .steps import DampedStep, Geodesic
from .termination import Criteria

OPTIONS_DOC = """
    jac : the Jacobian: a callable ``x -> (m, n)`` (scipy's name and convention), or
        finite differences of numpy residuals by scipy's rule: ``"2-point"``,
        ``"3-point"``, ``"cs"`` (complex step) or a :class:`.FiniteDifference`
        (:mod:`.finite_difference`). Left out: ``"2-point"`` for numpy residuals (as in
        scipy), TensorFlow autodiff (:func:`.autodiff_jacobian`) for TensorFlow ones,
        whose ``jac``, if given, must be TensorFlow too (it is compiled). For residuals
        of a model applied sample by sample, :func:`.per_sample_jacobian` is much
        faster.
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
        ``delta = -D^-2 J^T y``; :class:`.linalg.SampleSpace`) or ``"auto"``
        (default): samples when there are more parameters than residuals
        (``n > m``), the smaller system. Both give the same step up to rounding.
    mu0_relative : if True the starting ``mu`` is ``mu0 * max_j (J^T J)_jj / d2_j``
        at ``x0`` (Madsen, Nielsen & Tingleff 2004: ``tau * max a_ii``), so ``mu0`` is
        a pure number, independent of the scale of the problem.
    geodesic : add the geodesic acceleration to each step (Transtrum & Sethna 2012:
        :class:`.steps.Geodesic`; one more residual evaluation and two
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


def documented(doc: str) -> Callable:
    """Give the decorated function the docstring ``doc`` (built from parts, so not a
    literal, which Python would not take as the docstring)."""
    def decorate(fn):
        fn.__doc__ = doc
        return fn
    return decorate


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


@documented("""Minimise ``cost(x) = 0.5 * sum(fun(x)**2)``, ``fun`` the residuals, by
    Levenberg-Marquardt; a drop-in for ``scipy.optimize.least_squares(...,
    method="lm")``.

    Each iteration solves ``(J^T J + mu D^T D) delta = -J^T r`` (Levenberg 1944;
    Marquardt 1963; Moré 1978) and takes ``x + delta`` only if it lowers the SSQ
    (finite values only); the damping rule then updates ``mu``. This is
    :func:`least_squares_batch` with one row. scipy's arguments come first, in scipy's
    order and with scipy's meaning (the table of :mod:`.scipy_arguments` says how each
    maps onto this loop); the loop's own options follow as keywords.

    Parameters
    ----------
    fun : callable ``fun(x, *args, **kwargs) -> r`` (scipy's name): ``x`` a 1-D float64
        array of ``n`` parameters, ``r`` the ``m`` residuals (a 1-D array-like, or a
        scalar for ``m = 1``): a numpy function, as in scipy, or TensorFlow ops on a
        float64 tensor (traced and compiled once; Jacobian by autodiff); or a
        :class:`.Provider`.
    x0 : array-like ``(n,)`` or a number (one parameter), real and finite: the start.
    jac : callable ``jac(x, *args, **kwargs) -> (m, n)``, ``"2-point"``,
        ``"3-point"`` or ``"cs"`` (and ``jac`` below). Default: ``"2-point"`` for numpy
        residuals (scipy's default), autodiff for TensorFlow ones. A finite-difference
        Jacobian costs ``n`` (``"2-point"``, ``"cs"``) or ``2 n`` (``"3-point"``)
        evaluations of ``fun``, kept out of ``nfev`` as in scipy 1.17; ``"cs"`` needs a
        ``fun`` that accepts complex ``x``.
    bounds : only ``(-np.inf, np.inf)`` (scalars, arrays or ``scipy.optimize.Bounds``),
        as scipy's 'lm'; finite bounds raise ``ValueError`` (use scipy's 'trf').
    method : only ``"lm"``; ``"trf"`` and ``"dogbox"`` raise ``ValueError`` pointing to
        scipy.
    ftol, xtol, gtol : the convergence tests (``gtol``, ``ftol``, ``xtol`` below).
        The defaults are the loop's (:data:`DEFAULTS`: 1e-12, 1e-12, 1e-10), not
        scipy's 1e-8, for every call, so that a call does not change its meaning with
        the spelling of its other arguments: ``gtol`` is the cosine test of MINPACK
        and scipy's 'lm' itself, but ``ftol`` and ``xtol`` are MINPACK's step tests
        confirmed at the point (:mod:`.termination`), so scipy's values would not stop
        a run where scipy's stops anyway. The tighter defaults cost a few more
        iterations and give at least scipy's accuracy (checked against scipy on MGH
        problems). Pass ``ftol=1e-8, xtol=1e-8, gtol=1e-8`` for scipy's values; 0
        turns a test off (scipy's 'lm' refuses tolerances below machine epsilon).
    x_scale : ``None`` (default) or ``"jac"``: Moré's scaling by the running maximum of
        the column norms of ``J`` (scipy's 'lm' default; ``scaling="jtj_diag"``); a
        positive number or ``(n,)`` array: the fixed ``D = diag(1 / x_scale)``. Not
        with ``scaling``.
    loss : only ``"linear"``; f_scale : any number, without effect (as in scipy with
        ``loss="linear"``).
    diff_step : the relative step of the finite differences (scipy's ``diff_step``:
        ``h = diff_step * sign(x) * |x|``); None: scipy's default rule
        (:mod:`.finite_difference`). No effect with a callable or TensorFlow ``jac``.
    tr_solver : ``None`` or ``"exact"``; tr_options : ``None`` or ``{}``;
        jac_sparsity : ``None``. (Each step is a dense solve.)
    max_nfev : scipy's budget of residual evaluations (not counting finite
        differences): ``max_iter = max(max_nfev - 1, 1)``, one evaluation at ``x0`` and
        one per trial step, so a run stopped by it has ``nfev == max(max_nfev, 2)``,
        as scipy's 'lm'. Default: ``max_iter``'s 1000 iterations (scipy's 'lm':
        ``100 n`` evaluations). Not with ``max_iter`` or ``geodesic``.
    verbose : 0 (default) silent; 1 print scipy's closing report (the message, then
        evaluations, initial and final cost, optimality); 2 also one line per
        iteration (iteration, evaluations, cost, ``mu``).
    args, kwargs : tuple and dict passed to ``fun`` and ``jac`` (not to
        ``validation``).
    callback : called after every iteration, as scipy's 'trf' calls it (scipy's 'lm'
        ignores it): ``callback(intermediate_result)`` when that is its only
        parameter (an ``OptimizeResult`` with ``x, cost, nit, nfev``), else
        ``callback(x)``. Raising ``StopIteration`` ends the run (status 9). With a
        callback or ``verbose=2``, ``progress`` too is called every iteration unless
        ``chunk`` is given.
    workers : a map-like callable (``workers(f, points)``, e.g.
        ``multiprocessing.Pool(4).map``) evaluating the finite differences' points.
    **options : the loop's own, below; ``validation`` takes ``x`` as ``fun`` does
        (without ``args``).
    """ + OPTIONS_DOC + """
    Returns
    -------
    :class:`.LMResult`: scipy's fields ``x, cost, fun, jac, grad, optimality,
    active_mask, nfev, njev, status, message, success`` (``jac``, ``grad`` and
    ``optimality = max |J^T fun|`` at ``x``; ``njev`` None with finite differences),
    and the loop's ``ssq, nit, time_s, compile_s, batch_wall_s, batch_size,
    history``. Status codes (:class:`.Status`; scipy's meaning for 0-4):

    * 0: the budget is spent (``max_iter``; with ``max_nfev`` scipy's message, "The
      maximum number of function evaluations is exceeded.");
    * 1: ``gtol``: ``max_j |J_j^T r| / (||J_j|| ||r||) <= gtol``, or ``r = 0``;
    * 2: ``ftol``: the relative reduction of the SSQ, actual and predicted, is at
      most ``ftol``, and the point is stationary to ``sqrt(ftol)``;
    * 3: ``xtol``: ``||D delta|| <= xtol ||D x||``, and so is the undamped
      Gauss-Newton step;
    * 4: 2 and 3 together;
    * 5 ``ssq_goal``, 6 ``mu_max``, 7 validation ``max_fail``, 8 ``max_time``, 9 a
      stop asked by ``progress`` or ``callback`` (scipy's -2).

    ``success`` is True for 1-5 only (scipy: ``status > 0``).

    Raises
    ------
    ValueError : on malformed input (shapes, dtypes, option values), saying what was
        expected; on scipy arguments with no counterpart here (``method`` other than
        'lm', finite bounds, a robust ``loss``, ``jac_sparsity``, ...), naming what to
        use instead; and, as scipy, when the residuals at ``x0`` are not finite
        ("Residuals are not finite in the initial point.") or the Jacobian there is
        not (scipy's 'lm' would report ``gtol`` at ``x0``). :func:`least_squares_batch`
        gives such a row status -1 instead, so that one bad start does not stop a
        batch.
    TypeError : for an option that exists neither in scipy nor here.
    """)
def least_squares(fun: Callable, x0, jac=None, bounds=(-np.inf, np.inf), method="lm",
                  ftol=DEFAULTS["ftol"], xtol=DEFAULTS["xtol"], gtol=DEFAULTS["gtol"],
                  x_scale=None, loss="linear", f_scale=1.0, diff_step=None, tr_solver=None,
                  tr_options=None, jac_sparsity=None, max_nfev=None, verbose=0, args=(),
                  kwargs=None, callback=None, workers=None, **options) -> LMResult:
    check_option_names(options)
    scipy_args.check_method(method)
    scipy_args.check_jac(jac)
    scipy_args.check_refused(loss=loss, tr_solver=tr_solver, tr_options=tr_options,
                             jac_sparsity=jac_sparsity, verbose=verbose, workers=workers)
    x0 = check_x0(np.atleast_1d(x0) if np.ndim(x0) == 0 else x0, ndim=1)
    scipy_args.check_bounds(bounds, x0.size)
    options = scipy_args.max_iter_from(max_nfev, options)
    options, scale = scipy_args.scaling_from(x_scale, x0.size, options)
    validation = options.pop("validation", None)
    if validation is not None and not callable(validation):
        raise ValueError(f"validation must be a callable x -> array, got {validation!r}")
    jac = scipy_args.with_arguments(jac, args, kwargs)
    if isinstance(jac, str):
        jac = FiniteDifference(jac, diff_step, workers)
    provider = make_provider(
        lift(scipy_args.with_arguments(fun, args, kwargs)), x0[None],
        jac=lift(jac, ndim=2) if callable(jac) else jac,
        validation=None if validation is None else lift(validation),
        jit_compile=options.pop("jit_compile", DEFAULTS["jit_compile"]),
        differences=FiniteDifference("2-point", diff_step, workers))
    start = x0
    if scale is not None:  # x_scale given as numbers: run in the variables x / x_scale
        provider, start = scipy_args.ScaledVariables(provider, scale), x0 / scale
    reporters = [options.pop("progress", None),
                 scipy_args.callback_progress(callback) if callback is not None else None,
                 scipy_args.iteration_printer() if verbose == 2 else None]
    if callback is not None or verbose == 2:
        options.setdefault("chunk", 1)
    progress = scipy_args.combine([r for r in reporters if r is not None], scale)
    if progress is not None:
        options["progress"] = one_row_progress(progress)
    result = least_squares_batch(provider, start[None], ftol=ftol, xtol=xtol, gtol=gtol,
                                 **options)[0]
    if result.status == Status.NONFINITE_START:
        raise ValueError(scipy_args.NONFINITE_RESIDUALS if not np.isfinite(result.ssq)
                         else scipy_args.NONFINITE_JACOBIAN)
    if scale is not None:
        provider, result.x = provider.inner, scale * result.x
    add_derivatives(result, provider.jacobian(result.x))
    if max_nfev is not None and result.status == Status.MAX_ITER:
        result.message = scipy_args.MAX_NFEV_MESSAGE
    if verbose:
        scipy_args.print_report(result)
    return result


def one_row_progress(progress: Callable) -> Callable:
    """A lone fit's ``progress`` sees its own numbers (``ssq``, ``mu``, ``status`` as
    scalars, ``x`` 1-D), not the one-row arrays of the batch."""
    def report(info):
        return progress({k: v[0] if isinstance(v, np.ndarray) else v
                         for k, v in info.items() if k != "running"})
    return report


@documented("""Minimise ``ssq(x) = sum(residuals(x)**2)`` from every row of ``X0``.

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
    """)
def least_squares_batch(residuals, X0, **options) -> list[LMResult]:
    check_option_names(options)
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
        return without_jacobian_count(
            [solve_scipy(provider, x0, max_iter=opts["max_iter"], gtol=opts["gtol"],
                         ftol=opts["ftol"], xtol=opts["xtol"], scaling=opts["scaling"],
                         progress=row_progress(opts["progress"], b))
             for b, x0 in enumerate(X0)], provider)

    max_fail = opts["max_fail"] if provider.has_validation else None
    criteria = Criteria(mu_max=opts["mu_max"], ssq_goal=opts["ssq_goal"], gtol=opts["gtol"],
                        ftol=opts["ftol"], xtol=opts["xtol"], max_fail=max_fail)
    settings = LMSettings(damping=rule, scaling=SCALINGS[opts["scaling"]],
                          criteria=criteria, mu0=opts["mu0"],
                          mu0_relative=bool(opts["mu0_relative"]),
                          objective=Bayesian() if bayesian else SumOfSquares(),
                          step=Geodesic() if opts["geodesic"] else DampedStep(),
                          space=SampleSpace() if sample_space else ParameterSpace())
    results = solve(provider, settings, X0, max_iter=opts["max_iter"],
                    max_time=opts["max_time"], chunk=opts["chunk"], progress=opts["progress"])
    return without_jacobian_count(results, provider)


def without_jacobian_count(results: list[LMResult], provider: Provider) -> list[LMResult]:
    """``njev`` is None where the Jacobian is by finite differences (scipy's
    convention: there are no Jacobian evaluations to count)."""
    if getattr(provider, "finite_differences", False):
        for result in results:
            result.njev = None
    return results


def check_option_names(options: dict) -> None:
    """``TypeError`` for an option the loop does not have."""
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        hint = " (the Jacobian option is called jac, as in scipy)" if "jacobian" in unknown else ""
        raise TypeError(f"unknown option(s) {unknown}{hint}; options are {sorted(DEFAULTS)}")


def _is_tensor(value) -> bool:
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(value, (tf.Tensor, tf.Variable))


def make_provider(residuals, X0: np.ndarray, *, jac=None, validation=None,
                  jit_compile: bool = True,
                  differences: FiniteDifference = FiniteDifference()) -> Provider:
    """The provider of the batched functions (a :class:`.Provider` is returned as it
    is; then ``jac`` and ``validation`` must not be given).

    ``residuals`` is called once on the first row of ``X0`` (as a ``(1, n)`` numpy
    array). A TensorFlow result makes a :class:`.TFProvider` (``jac`` optional:
    autodiff). A numpy result makes a :class:`.NumpyProvider` with a callable ``jac``,
    as in scipy, or else a :class:`.FiniteDifferenceProvider`: ``jac`` a scheme name
    or a :class:`.FiniteDifference`, or, left out, ``differences`` (scipy's
    ``"2-point"``); TensorFlow is then never imported. Residuals that fail on numpy
    input are tried as TensorFlow (called on a tensor).
    """
    if isinstance(residuals, Provider):
        if jac is not None or validation is not None:
            raise ValueError("a Provider gives its own Jacobian and validation residuals; "
                             "do not pass jac or validation with it")
        if residuals.n != X0.shape[1]:
            raise ValueError(f"the provider has {residuals.n} parameters, X0 has "
                             f"{X0.shape[1]} columns")
        return residuals
    scipy_args.check_jac(jac)
    scheme = FiniteDifference(jac) if isinstance(jac, str) else jac
    if not isinstance(scheme, FiniteDifference):
        scheme = None
    for name, fn in (("residuals", residuals), ("validation", validation)):
        if (fn is not None or name == "residuals") and not callable(fn):
            raise ValueError(f"{name} must be a callable, got {fn!r}")
    n, first = X0.shape[1], X0[:1]
    try:
        out = residuals(first)
    except Exception as failure:  # noqa: BLE001 - it may need a tensor; reported below
        out = _as_tensorflow(residuals, first, failure)
    tensor = _is_tensor(out)
    m = check_output(out, "residuals", tensor)
    p = None
    if validation is not None:
        val = _call(validation, _as_input(first, tensor), "validation")
        if _is_tensor(val) != tensor:
            raise ValueError("validation must be the same kind of function as residuals "
                             "(both numpy or both TensorFlow)")
        p = check_output(val, "validation", tensor)
    if not tensor and jac is None:
        scheme = differences
    if scheme is not None:
        if tensor:
            raise ValueError(f"jac={scheme.method!r} takes finite differences of numpy "
                             "residuals; these are TensorFlow: leave jac out for autodiff, "
                             "or give a TensorFlow jac")
        return FiniteDifferenceProvider(_row(residuals), scheme, n, m, p=p,
                                        validation=None if p is None else _row(validation),
                                        known=(first[0], np.asarray(out)[0]))
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
                         f"({type(err).__name__}: {err}); numpy residuals must return "
                         "numpy arrays") from err
    return provider


def _as_tensorflow(residuals, first: np.ndarray, failure: Exception):
    """The first row's residuals from a tensor, for a function that failed on numpy
    input; ``ValueError`` naming the numpy failure if that fails too."""
    import tensorflow as tf

    try:
        return residuals(tf.constant(first))
    except Exception as err:  # noqa: BLE001 - reported with the numpy failure's type
        raise ValueError(f"residuals failed at the starting point: "
                         f"{type(failure).__name__}: {failure}") from err


def _row(fn: Callable) -> Callable:
    """``x -> y`` of one 1-D row from a batched numpy ``W (1, n) -> (1, k)``."""
    def row(x):
        return np.asarray(fn(np.asarray(x)[None]))[0]
    return row


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


def lift(fn: Callable, ndim: int = 1) -> Callable:
    """``x -> y`` as ``W -> Y`` for a one-row ``W``: the lone fit as a batch of one
    (numpy or TensorFlow, whichever ``fn`` is). A numpy ``y`` gets at least ``ndim``
    dimensions, as scipy reads ``fun`` (a scalar is one residual) and ``jac``."""
    if isinstance(fn, Provider):
        return fn

    def lifted(W):
        y = fn(W[0])
        if _is_tensor(y):
            return sys.modules["tensorflow"].expand_dims(y, 0)
        y = np.asarray(y)
        return (np.atleast_1d(y) if ndim == 1 else np.atleast_2d(y))[None]
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
