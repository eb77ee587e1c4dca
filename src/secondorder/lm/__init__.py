"""Levenberg-Marquardt least squares in TensorFlow.

``least_squares(residuals, x0, ...)`` minimises ``sum(residuals(x)**2)`` with the whole
iteration compiled (``solve="tf"``) or through MINPACK (``solve="scipy"``);
``least_squares_batch(residuals, jacobian, X0, ...)`` runs it from every row of ``X0``
at once; ``fit_keras`` trains a Keras model on sum-of-squares residuals with it. Pieces:

* :mod:`.jacobian` -- autodiff Jacobians, generic and per-sample;
* :mod:`.damping` -- damping rules (Marquardt, Nielsen) and the gain ratio;
* :mod:`.linalg` -- scaling ``D`` and the damped step solve with its fallback;
* :mod:`.engine` -- state, one iteration, stopping tests, the compiled loop;
* :mod:`.batch` -- ``least_squares_batch``: many starting points in one compiled loop;
* :mod:`.result` -- status codes and :class:`LMResult`.
"""

from .batch import least_squares_batch
from .damping import Marquardt, Nielsen
from .engine import LMProblem, LMState, lm_step
from .jacobian import autodiff_jacobian, per_sample_jacobian
from .keras_fit import fit_keras
from .linalg import damped_step, damped_step_batch, identity_scaling, jtj_diag_scaling
from .result import MESSAGES, LMResult, Status
from .solver import least_squares

__all__ = [
    "LMProblem", "LMResult", "LMState", "MESSAGES", "Marquardt", "Nielsen", "Status",
    "autodiff_jacobian", "damped_step", "damped_step_batch", "fit_keras",
    "identity_scaling", "jtj_diag_scaling", "least_squares", "least_squares_batch",
    "lm_step", "per_sample_jacobian",
]
