"""scipy's arguments of :func:`.least_squares`, with scipy's meaning.

``secondorder.optim.lm.least_squares(fun, x0, ...)`` takes the arguments of
``scipy.optimize.least_squares(fun, x0, ..., method="lm")`` (scipy 1.17) in the same
order, so a scipy call runs here unchanged. This module checks them and maps each
onto the loop's own options:

==============  ===================================================================
scipy           here
==============  ===================================================================
jac             a callable, or ``"2-point"`` / ``"3-point"`` / ``"cs"``
                (:mod:`.finite_difference`, scipy's steps); left out, numpy
                residuals get ``"2-point"`` (scipy's default) and TensorFlow
                residuals autodiff
diff_step       the finite differences' relative step (scipy's rule)
args, kwargs    passed to ``fun`` and ``jac``: ``fun(x, *args, **kwargs)``
x0              a scalar is a one-parameter problem
method          ``"lm"`` only: this is a Levenberg-Marquardt solver
x_scale         ``None`` or ``"jac"``: ``scaling="jtj_diag"`` (Moré's running
                maximum of the column norms of ``J``, MINPACK's ``mode = 1``); a
                number or array: ``D = diag(1 / x_scale)`` fixed (MINPACK's ``diag``,
                ``mode = 2``), run as ``scaling="identity"`` in the variables
                ``x / x_scale`` (:class:`ScaledVariables`; the same steps)
max_nfev        ``max_iter = max(max_nfev - 1, 1)``: the loop evaluates the
                residuals once at ``x0`` and once per trial step, so ``nfev`` stops
                at ``max_nfev``, or at 2 when ``max_nfev = 1`` (MINPACK always
                tries one step); status 0 then carries scipy's message
ftol, xtol,     the loop's tests of the same names (:mod:`.termination`); ``gtol``
gtol            is MINPACK's test itself, ``ftol`` and ``xtol`` MINPACK's step
                tests confirmed at the point, so the defaults stay the loop's
                (``DEFAULTS`` of :mod:`.solver`), tighter than scipy's ``1e-8``
verbose         0 silent; 1 scipy's closing report (printed); 2 also one printed
                line per iteration (scipy's 'lm' prints none)
callback        called after every iteration with ``x`` (or, if its only argument
                is ``intermediate_result``, with ``x, cost, nit, nfev``);
                ``StopIteration`` stops the run, status 9 (scipy: -2; scipy's 'lm'
                ignores callbacks)
workers         a map-like callable for the finite differences' evaluations
bounds          only ``(-inf, inf)``, as scipy's 'lm'
loss, f_scale   only ``loss="linear"``, as scipy's 'lm'; ``f_scale`` then has no
                effect, as in scipy
tr_solver,      ``None`` or ``"exact"`` (each step is a dense solve); no
tr_options      ``tr_options`` (scipy's 'lm' ignores both)
jac_sparsity    ``None`` only (scipy's 'lm' refuses it with finite differences)
*result*
nfev, njev      as scipy 1.17's 'lm': ``nfev`` counts the residuals at ``x0`` and
                at trial points, not the evaluations of finite differences (nor
                does ``max_nfev`` bound those); ``njev`` is None with finite
                differences
status          0-4 scipy's meanings (:class:`.Status`); 5-9 stops scipy lacks, 9
                for scipy's -2; ``success`` only for 1-5
jac, grad,      scipy's, at ``x`` (:func:`.result.add_derivatives`)
optimality,
active_mask
==============  ===================================================================

Where scipy's 'lm' refuses an input this LM may accept it: fewer residuals than
parameters (``m < n``, solved in sample space) and tolerances below machine epsilon
(0 turns a test off). Non-finite residuals at ``x0`` raise scipy's ``ValueError``;
so does a non-finite Jacobian there (scipy's 'lm' then reports a false ``gtol``
success at ``x0``).
"""

from __future__ import annotations

import inspect
from typing import Callable

import numpy as np

from .finite_difference import METHODS, FiniteDifference
from .providers import Provider

NONFINITE_RESIDUALS = "Residuals are not finite in the initial point."
NONFINITE_JACOBIAN = "The Jacobian is not finite in the initial point."
MAX_NFEV_MESSAGE = "The maximum number of function evaluations is exceeded."
SCIPY = "scipy.optimize.least_squares"


def check_method(method) -> None:
    """Only ``"lm"``: the other methods are scipy's."""
    if method != "lm":
        raise ValueError(
            f"method={method!r}: this least_squares is Levenberg-Marquardt only "
            f"(method='lm'); for 'trf' or 'dogbox' (bounds, robust losses, sparse "
            f"Jacobians) call {SCIPY}(..., method={method!r})")


def check_jac(jac) -> None:
    """``jac``: None, a callable, a scheme name or a :class:`.FiniteDifference`."""
    if not (jac is None or callable(jac) or isinstance(jac, FiniteDifference)
            or (isinstance(jac, str) and jac in METHODS)):
        raise ValueError(f"`jac` must be '2-point', '3-point', 'cs' or callable (or "
                         f"left out), got {jac!r}")


def check_bounds(bounds, n: int) -> None:
    """Only unbounded variables (``-inf``, ``inf``, scalars or arrays, or a
    ``scipy.optimize.Bounds``), as scipy's 'lm'."""
    if hasattr(bounds, "lb") and hasattr(bounds, "ub"):
        bounds = (bounds.lb, bounds.ub)
    if len(bounds) != 2:
        raise ValueError("`bounds` must contain 2 elements.")
    lb, ub = (np.resize(np.asarray(b, dtype=float), n) if np.ndim(b) == 0
              else np.asarray(b, dtype=float) for b in bounds)
    if not (np.all(lb == -np.inf) and np.all(ub == np.inf)):
        raise ValueError(f"Method 'lm' doesn't support bounds: this is an unconstrained "
                         f"Levenberg-Marquardt; {SCIPY}(..., method='trf') handles bounds")
    if lb.shape != (n,) or ub.shape != (n,):
        raise ValueError("Inconsistent shapes between bounds and `x0`.")


def check_refused(*, loss, tr_solver, tr_options, jac_sparsity, verbose, workers) -> None:
    """scipy's options that have only one value here (the one 'lm' supports)."""
    if loss != "linear":
        raise ValueError(f"method='lm' supports only 'linear' loss function, got "
                         f"loss={loss!r}; {SCIPY}(..., method='trf', loss={loss!r}) "
                         f"has the robust losses")
    if tr_solver not in (None, "exact"):
        raise ValueError(f"tr_solver={tr_solver!r}: each step here is a dense solve "
                         f"(Cholesky, or QR of the augmented system), as MINPACK's; "
                         f"leave tr_solver out (scipy's 'lm' ignores it)")
    if tr_options:
        raise ValueError(f"tr_options={tr_options!r}: there are no trust-region solver "
                         f"options here (scipy's 'lm' ignores them); leave them out")
    if jac_sparsity is not None:
        raise ValueError("method='lm' does not support `jac_sparsity` (dense Jacobians "
                         f"only); {SCIPY}(..., method='trf', jac_sparsity=...) uses it")
    if verbose not in (0, 1, 2):
        raise ValueError(f"`verbose` must be in [0, 1, 2], got {verbose!r}")
    if not (workers is None or callable(workers)):
        raise ValueError(f"workers must be None or a map-like callable "
                         f"(e.g. multiprocessing.Pool(4).map), got {workers!r}")


def with_arguments(fn: Callable | None, args, kwargs) -> Callable | None:
    """``x -> fn(x, *args, **kwargs)`` (``fn`` itself when both are empty)."""
    if fn is None or not callable(fn) or (not args and not kwargs):
        return fn
    args, kwargs = tuple(args), dict(kwargs or {})

    def bound(x):
        return fn(x, *args, **kwargs)
    return bound


def max_iter_from(max_nfev, options: dict) -> dict:
    """``options`` with ``max_iter`` from scipy's ``max_nfev`` (None: unchanged)."""
    if max_nfev is None:
        return options
    if (not isinstance(max_nfev, (int, np.integer)) or isinstance(max_nfev, bool)
            or max_nfev <= 0):
        raise ValueError(f"`max_nfev` must be None or positive integer, got {max_nfev!r}")
    for name in ("max_iter", "geodesic"):
        if options.get(name):
            raise ValueError(
                f"max_nfev (scipy's budget of residual evaluations) cannot be combined "
                f"with {name}" + (": give one of them" if name == "max_iter" else
                                  " (an iteration then costs one or two evaluations); "
                                  "bound the iterations with max_iter"))
    return {**options, "max_iter": max(int(max_nfev) - 1, 1)}


def scaling_from(x_scale, n: int, options: dict) -> tuple[dict, np.ndarray | None]:
    """``(options, scale)``: the loop's ``scaling`` from scipy's ``x_scale``, and the
    fixed scale of the variables for :class:`ScaledVariables` (None: none needed)."""
    if x_scale is None:
        return options, None
    if "scaling" in options:
        raise ValueError("x_scale (scipy's) and scaling (ours) choose the same thing, "
                         "the scaling D: give one of them")
    if isinstance(x_scale, str):
        if x_scale != "jac":
            raise ValueError(f"`x_scale` must be 'jac' or array_like with positive "
                             f"numbers, got {x_scale!r}")
        return {**options, "scaling": "jtj_diag"}, None
    try:
        scale = np.asarray(x_scale, dtype=float)
    except (TypeError, ValueError):
        scale = np.array(np.nan)
    if not (np.all(np.isfinite(scale)) and np.all(scale > 0)):
        raise ValueError(f"`x_scale` must be 'jac' or array_like with positive numbers, "
                         f"got {x_scale!r}")
    scale = np.resize(scale, n) if scale.ndim == 0 else scale
    if scale.shape != (n,):
        raise ValueError("Inconsistent shapes between `x_scale` and `x0`.")
    options = {**options, "scaling": "identity"}
    return options, (None if np.all(scale == 1.0) else scale)


class ScaledVariables(Provider):
    """``provider``'s functions in the variables ``z = x / scale``: residuals
    ``r(scale * z)``, Jacobian ``J(scale * z) diag(scale)``.

    With ``D = I`` in ``z`` the damped step is ``(J^T J + mu S^-2) delta = -J^T r`` in
    ``x`` (``S = diag(scale)``), and ``||delta_z|| / ||z|| = ||S^-1 delta|| /
    ||S^-1 x||``: the run with ``D = S^-1`` fixed, MINPACK's ``diag = 1 / x_scale``.
    """

    def __init__(self, provider: Provider, scale: np.ndarray):
        super().__init__(provider.m, provider.n, provider.p)
        self.inner, self.scale = provider, scale
        self.device = provider.device
        self.finite_differences = getattr(provider, "finite_differences", False)

    def _residuals(self, z):
        return self.inner.residuals(self.scale * z)

    def _jacobian(self, z):
        return self.inner.jacobian(self.scale * z) * self.scale

    def _validation(self, z):
        return self.inner.validation(self.scale * z)


def callback_progress(callback: Callable) -> Callable:
    """A lone fit's ``progress(info)`` that calls scipy's ``callback`` (scipy's rule:
    ``callback(intermediate_result=...)`` if that is its only parameter, else
    ``callback(x)``); ``StopIteration`` asks to stop."""
    try:
        named = set(inspect.signature(callback).parameters) == {"intermediate_result"}
    except (TypeError, ValueError):  # no signature (a builtin): called with x
        named = False

    def report(info):
        x = np.array(info["x"], dtype=np.float64)
        try:
            if named:
                from scipy.optimize import OptimizeResult
                callback(intermediate_result=OptimizeResult(
                    x=x, cost=0.5 * float(info["ssq"]), nit=int(info["nit"]),
                    nfev=int(info["nfev"])))
            else:
                callback(x)
        except StopIteration:
            return True
        return False
    return report


def iteration_printer() -> Callable:
    """``verbose=2``: a lone fit's ``progress`` printing one line per report, under a
    header printed once."""
    header = [f"{'Iteration':>10} {'Total nfev':>11} {'Cost':>13} {'Damping mu':>11}"]

    def report(info):
        while header:
            print(header.pop())
        print(f"{int(info['nit']):>10} {int(info['nfev']):>11} "
              f"{0.5 * float(info['ssq']):>13.4e} {float(info['mu']):>11.2e}")
        return False
    return report


def print_report(result) -> None:
    """``verbose >= 1``: scipy's closing report (its two lines)."""
    initial_cost = 0.5 * float(result.history["ssq"][0])
    print(result.message)
    print(f"Function evaluations {result.nfev}, initial cost {initial_cost:.4e}, "
          f"final cost {result.cost:.4e}, "
          f"first-order optimality {result.optimality:.2e}.")


def combine(reporters: list[Callable], scale: np.ndarray | None) -> Callable | None:
    """One ``progress`` calling every reporter (each sees ``x`` and ``best_x`` in the
    caller's variables); True from any asks to stop."""
    if not reporters:
        return None

    def report(info):
        if scale is not None:
            info = {**info, **{k: scale * info[k] for k in ("x", "best_x") if k in info}}
        stops = [bool(reporter(info)) for reporter in reporters]
        return any(stops)
    return report
