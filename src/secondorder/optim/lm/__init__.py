"""Levenberg-Marquardt least squares: a numpy loop on the host, the model's products
where they are fastest.

``least_squares(fun, x0, ...)`` minimises ``sum(fun(x)**2)`` with our loop
(``solve="numpy"``) or MINPACK (``solve="scipy"``), and takes the arguments of
``scipy.optimize.least_squares(method="lm")``; ``least_squares_batch(residuals, X0,
...)`` runs the same loop from every row of ``X0`` (a lone fit is a batch of one);
``fit_keras`` trains a Keras model on sum-of-squares residuals with it. The residuals
may be numpy (with ``jac``, or finite differences, as in scipy) or TensorFlow
(compiled; autodiff Jacobian).
Pieces:

* :mod:`.providers` -- where residuals, Jacobian and normal products come from;
* :mod:`.jacobian` -- TensorFlow autodiff Jacobians, generic and per-sample;
* :mod:`.finite_difference` -- finite-difference Jacobians of numpy functions
  (scipy's ``"2-point"``, ``"3-point"``, ``"cs"``, scipy's step rule);
* :mod:`.damping` -- damping rules (Marquardt, Nielsen; :data:`.damping.RULES`) and
  the gain ratio;
* :mod:`.objective` -- the objective the loop minimises: the SSQ;
  :mod:`.regularization` -- Bayesian regularisation's (MATLAB ``trainbr``);
* :mod:`.steps` -- the step taken: damped, or with geodesic acceleration;
* :mod:`.linalg` -- scaling ``D``, the normal products (BLAS), the spaces of the damped
  system (parameters, samples; Cholesky), the QR fallback, the Gauss-Newton step of the
  convergence check;
* :mod:`.termination` -- MINPACK's convergence tests and the other stops;
* :mod:`.engine` -- state, one iteration in phases (propose, try, accept, judge), the
  loop over a batch;
* :mod:`.solver` -- the public functions and their input checks;
* :mod:`.scipy_arguments` -- ``scipy.optimize.least_squares``' arguments, mapped onto
  the loop's options;
* :mod:`.scipy_backend` -- ``solve="scipy"``;
* :mod:`.result` -- status codes and :class:`LMResult`.

TensorFlow is imported only when a TensorFlow function is given.
"""

from .damping import RULES, DampingRule, Marquardt, Nielsen
from .engine import LMSettings, LMState, lm_step
from .finite_difference import FiniteDifference, FiniteDifferenceProvider
from .linalg import gauss_newton_step, identity_scaling, jtj_diag_scaling, qr_step
from .providers import Linearization, NumpyProvider, Provider, TFProvider
from .result import MESSAGES, LMResult, Status
from .solver import least_squares, least_squares_batch

__all__ = [
    "DampingRule", "FiniteDifference", "FiniteDifferenceProvider", "LMResult",
    "LMSettings", "LMState", "Linearization", "MESSAGES", "Marquardt", "Nielsen",
    "NumpyProvider", "Provider", "RULES", "Status", "TFProvider", "autodiff_jacobian",
    "fit_keras", "gauss_newton_step", "identity_scaling",
    "jtj_diag_scaling", "least_squares", "least_squares_batch", "lm_step",
    "per_sample_jacobian", "qr_step",
]


def __getattr__(name):
    """The TensorFlow parts, imported on first use."""
    if name in ("autodiff_jacobian", "per_sample_jacobian"):
        from . import jacobian
        return getattr(jacobian, name)
    if name == "fit_keras":
        from .keras_fit import fit_keras
        return fit_keras
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
