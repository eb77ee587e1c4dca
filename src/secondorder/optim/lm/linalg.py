"""The damped Gauss-Newton step: scaling ``D``, the normal products, the spaces where
the damped system is solved, the QR fallback, the Gauss-Newton check.

Each iteration solves the Levenberg-Marquardt equations (Levenberg 1944; Marquardt
1963; Moré 1978, eq. 2.2)

    (J^T J + mu D^T D) delta = -J^T r,

equivalently the linear least-squares problem ``[J; sqrt(mu) D] delta ~ [-r; 0]``.
``D`` is diagonal and given by its squared diagonal ``d2``. The functions here act on
one run (``J`` of shape ``(m, n)``) and call BLAS and LAPACK directly (scipy's
wrappers of ``dsyrk``, ``dpotrf``, ``dpotrs``), so one iteration costs what its linear
algebra costs: the floor of the cost study.

The normal equations are fast (one ``J^T J`` by ``dsyrk`` and one Cholesky of
``n x n``, :class:`ParameterSpace`) but square the condition number of ``J``. With more
parameters than residuals (``n > m``) the same step comes cheaper in sample space: one
``m x m`` system ``(J D^-2 J^T + mu I) y = r``, then ``delta = -D^-2 J^T y``
(:class:`SampleSpace`). When Cholesky is unreliable, the step is solved from the
augmented system by a QR factorisation instead (:func:`qr_step`), whose condition
number is that of ``[J; sqrt(mu) D]`` itself (Golub & Van Loan, *Matrix
Computations*, 4th ed., 5.3.7; MINPACK ``lmpar`` works with the QR factors of ``J``
for the same reason).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from scipy.linalg.blas import dsyrk
from scipy.linalg.lapack import dpotrf, dpotrs, dtrtri

EPS = np.finfo(np.float64).eps


def sum_of_squares(r):
    """``ssq = r^T r`` (over the last axis)."""
    return np.einsum("...i,...i->...", r, r)


def norm(v):
    """Euclidean norm over the last axis."""
    return np.sqrt(np.einsum("...i,...i->...", v, v))


def identity_scaling(colsq, d2_previous):
    """``D = I``: Levenberg's damping, ``mu`` added to every diagonal entry
    (MATLAB ``trainlm``). ``colsq`` is ``diag(J^T J)``, the squared column norms."""
    return np.ones_like(colsq)


def jtj_diag_scaling(colsq, d2_previous):
    """``D^T D = diag(J^T J)`` with Moré's running maximum (Moré 1978, eq. 6.3;
    MINPACK ``lmder`` ``mode = 1``; scipy's ``x_scale='jac'``):
    ``d_j <- max(d_j, ||J_j||)`` over the iterations, so the scaling never shrinks.

    ``d2_previous`` is 0 before the first iteration. A column that has always been
    zero (a parameter that does not affect the residuals) gets 1, as in MINPACK.
    """
    d2 = np.maximum(d2_previous, colsq)
    return np.where(d2 > 0, d2, 1.0)


SCALINGS = {"identity": identity_scaling, "jtj_diag": jtj_diag_scaling}


def gram(a: np.ndarray) -> np.ndarray:
    """``a^T a`` for ``a`` ``(m, n)`` by BLAS ``dsyrk``: the upper triangle of the
    ``n x n`` result (the lower one is left zero; the Cholesky below reads the upper).
    A C-ordered ``a`` is passed as its Fortran-ordered transpose, with no copy."""
    return dsyrk(1.0, np.ascontiguousarray(a).T, trans=0)


def normal_products(jac, r, sample_space: bool = False):
    """``(curvature, colsq, grad)`` of one run from ``J`` ``(m, n)`` and ``r`` ``(m,)``:
    ``grad = J^T r``, ``colsq = diag(J^T J)`` (the squared column norms) and, in
    parameter space, ``curvature = J^T J`` (upper triangle, :func:`gram`); in sample
    space ``curvature`` is ``None``: the step needs ``J D^-2 J^T``
    (:func:`sample_gram`), formed once ``D`` is known."""
    grad = jac.T @ r
    if sample_space:
        return None, np.einsum("ij,ij->j", jac, jac), grad
    jtj = gram(jac)
    return jtj, np.diagonal(jtj).copy(), grad


def sample_gram(jac, d2) -> np.ndarray:
    """``J D^-2 J^T`` (``m x m``, upper triangle) by ``dsyrk`` of ``J D^-1``."""
    return dsyrk(1.0, (jac / np.sqrt(d2)).T, trans=1)


class DampedSystem:
    """The damped matrix of one run, factored once by LAPACK ``dpotrf`` (upper
    triangle): ``J^T J + mu D^2`` (``n x n``) in parameter space, ``J D^-2 J^T + mu I``
    (``m x m``) in sample space; ``curvature`` is ``J^T J`` or ``J D^-2 J^T``
    (upper triangle, as :func:`gram` and :func:`sample_gram` give them; not modified).
    ``scale`` and ``shift`` make it ``scale J^T J + shift I + mu D^2`` (Bayesian
    regularisation's ``beta`` and ``alpha``, :mod:`.regularization`); ``scale`` is kept.

    ``ok`` is False when the factorisation fails (not positive definite) or the factor
    is numerically singular: ``min(diag R)^2 <= k eps max(diag R)^2`` (``k`` its
    order), where the normal equations have lost the small singular values of ``J`` to
    rounding. :meth:`solve` applies the inverse (``dpotrs``) to any right-hand side, so
    a second solve with the same matrix (the geodesic acceleration) costs two
    triangular solves.
    """

    def __init__(self, curvature, mu, d2, sample_space: bool = False, scale: float = 1.0,
                 shift: float = 0.0):
        self.scale = scale
        matrix = curvature * scale if scale != 1.0 else curvature.copy()
        matrix.ravel(order="K")[::matrix.shape[0] + 1] += (mu if sample_space else mu * d2) + shift
        self.factor, info = dpotrf(matrix, lower=0, clean=0, overwrite_a=1)
        pivots = np.square(np.diagonal(self.factor))
        self.ok = info == 0 and pivots.min() > self.factor.shape[0] * EPS * pivots.max()

    def solve(self, rhs):
        """``matrix^-1 rhs``."""
        x, _ = dpotrs(self.factor, rhs, lower=0)
        return x

    def inverse_trace(self) -> float:
        """``trace(matrix^-1) = ||R^-1||_F^2`` from the factor ``R`` (LAPACK ``dtrtri``)."""
        inverse, _ = dtrtri(np.triu(self.factor), lower=0)
        return float(np.sum(np.square(inverse)))


class ParameterSpace:
    """The damped system in parameter space, ``n x n``: ``(scale J^T J + shift I + mu
    D^2) delta = -g`` with ``g`` the objective's gradient (``J^T r`` for the SSQ), its
    matrix formed from ``J^T J`` as the provider gives it (:func:`gram`)."""

    name = "parameters"
    sample_space = False   # the provider's linearisation forms J^T J
    keeps_jacobian = False

    def curvature(self, lin, d2):
        """The matrix of the system at a linearisation: ``J^T J`` (upper triangle)."""
        return lin.curvature

    def system(self, curvature, mu, d2, scale=1.0, shift=0.0) -> DampedSystem:
        return DampedSystem(curvature, mu, d2, scale=scale, shift=shift)

    def step(self, system, grad, r, jac, d2):
        """The damped step ``-(scale J^T J + shift I + mu D^2)^-1 grad`` (``system`` that
        matrix, factored; ``r`` and ``jac`` are not needed)."""
        return -system.solve(grad)

    def residual_step(self, system, s, jac, d2):
        """The damped step of residuals ``s``: ``-(...)^-1 scale J^T s`` (the objective's
        gradient for residuals ``s``: Bayesian regularisation weighs them by ``beta``)."""
        return -system.solve(system.scale * (jac.T @ s))


class SampleSpace(ParameterSpace):
    """The same step through an ``m x m`` system, for ``n > m``: ``(J D^-2 J^T + mu I) y
    = r``, ``delta = -D^-2 J^T y``.

    With ``delta = -D^-2 J^T y``, ``(J^T J + mu D^2) delta = -J^T (J D^-2 J^T + mu I) y``,
    which is ``-J^T r`` when ``(J D^-2 J^T + mu I) y = r`` (the push-through identity;
    Nocedal & Wright, *Numerical Optimization*, 2nd ed., sec. 10.3 for the
    minimum-norm form). The matrix is symmetric positive definite for ``mu > 0``, so
    one Cholesky of order ``m`` replaces one of order ``n``, and ``J D^-2 J^T``
    (:func:`sample_gram`, formed once ``D`` is known) costs ``m^2 n`` instead of
    ``m n^2``. ``J`` is kept. The SSQ's system only (``scale = 1``, ``shift = 0``).
    """

    name = "samples"
    sample_space = True    # the provider's linearisation forms no J^T J
    keeps_jacobian = True

    def curvature(self, lin, d2):
        """``J D^-2 J^T`` (upper triangle)."""
        return sample_gram(lin.jac, d2)

    def system(self, curvature, mu, d2, scale=1.0, shift=0.0) -> DampedSystem:
        return DampedSystem(curvature, mu, d2, sample_space=True)

    def step(self, system, grad, r, jac, d2):
        """``-D^-2 J^T (J D^-2 J^T + mu I)^-1 r`` (``grad = J^T r`` is not needed)."""
        return self.residual_step(system, r, jac, d2)

    def residual_step(self, system, s, jac, d2):
        """``-D^-2 J^T (J D^-2 J^T + mu I)^-1 s``."""
        return -(jac.T @ system.solve(s)) / d2


def qr_step(jac, r, mu, d2):
    """Solve ``[J; sqrt(mu) D] delta ~ [-r; 0]`` by Householder QR: ``delta = -R^-1
    Q^T [r; 0]``. ``mu > 0`` and ``d2 > 0`` make the stacked matrix of full column
    rank."""
    stacked = np.vstack([jac, np.diag(np.sqrt(mu * d2))])
    rhs = np.concatenate([r, np.zeros_like(d2)])
    q, rfac = scipy.linalg.qr(stacked, mode="economic", check_finite=False)
    return -scipy.linalg.solve_triangular(rfac, q.T @ rhs, lower=False, check_finite=False)


def gauss_newton_step(jac, r, d2):
    """The undamped model's best step, for the convergence check: ``(delta, predicted)``.

    ``delta`` is the minimum-norm least-squares solution of ``J delta ~ -r`` in the
    scaled variables ``D delta`` (singular value decomposition of ``J D^-1``, singular
    values below ``max(m, n) * eps * sigma_max`` dropped, as numpy's ``lstsq``), and
    ``predicted = ||r||^2 - ||r + J delta||^2 = ||U_k^T r||^2`` the largest reduction
    of the SSQ that the Gauss-Newton model promises from here. Both are exact
    functions of ``J`` and ``r`` (no normal equations).
    """
    scale = np.sqrt(d2)
    u, sigma, vt = np.linalg.svd(jac / scale, full_matrices=False)
    kept = sigma > max(jac.shape) * EPS * sigma.max(initial=0.0)
    utr = np.where(kept, u.T @ r, 0.0)
    inv = np.where(kept, 1.0 / np.where(kept, sigma, 1.0), 0.0)
    return -(vt.T @ (inv * utr)) / scale, float(np.sum(np.square(utr)))
