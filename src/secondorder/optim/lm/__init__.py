"""Levenberg-Marquardt least squares in TensorFlow.

``least_squares(residuals, x0, ...)`` minimises ``sum(residuals(x)**2)`` with the whole
iteration compiled (``solve="tf"``) or through MINPACK (``solve="scipy"``);
``least_squares_batch(residuals, X0, ...)`` runs the same engine from every row of
``X0`` at once (a lone fit is a batch of one); ``fit_keras`` trains a Keras model on
sum-of-squares residuals with it. Pieces:

* :mod:`.jacobian` -- autodiff Jacobians, generic and per-sample;
* :mod:`.damping` -- damping rules (Marquardt, Nielsen) and the gain ratio;
* :mod:`.linalg` -- scaling ``D``, the damped step (Cholesky, QR fallback), the
  Gauss-Newton step of the convergence check;
* :mod:`.termination` -- MINPACK's convergence tests and the other stops;
* :mod:`.engine` -- state, one iteration, the compiled loop over a batch;
* :mod:`.solver` -- the public functions and their input checks;
* :mod:`.scipy_backend` -- ``solve="scipy"``;
* :mod:`.result` -- status codes and :class:`LMResult`.
"""

from .damping import Marquardt, Nielsen
from .engine import LMProblem, LMState, lm_step
from .jacobian import autodiff_jacobian, per_sample_jacobian
from .keras_fit import fit_keras
from .linalg import damped_step, gauss_newton_step, identity_scaling, jtj_diag_scaling
from .result import MESSAGES, LMResult, Status
from .solver import least_squares, least_squares_batch

__all__ = [
    "LMProblem", "LMResult", "LMState", "MESSAGES", "Marquardt", "Nielsen", "Status",
    "autodiff_jacobian", "damped_step", "fit_keras", "gauss_newton_step",
    "identity_scaling", "jtj_diag_scaling", "least_squares", "least_squares_batch",
    "lm_step", "per_sample_jacobian",
]
