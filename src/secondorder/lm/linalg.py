"""The damped Gauss-Newton step: scaling ``D`` and the linear solve.

Each iteration solves the Levenberg-Marquardt equations (Levenberg 1944; Marquardt
1963; Moré 1978, eq. 2.2)

    (J^T J + mu D^T D) delta = -J^T r,

equivalently the least-squares problem ``[J; sqrt(mu) D] delta ~ [-r; 0]``. ``D`` is
diagonal and given by its squared diagonal ``d2``.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def identity_scaling(jtj):
    """``D = I``: Levenberg's damping, ``mu`` added to every diagonal entry
    (MATLAB ``trainlm``)."""
    return tf.ones_like(tf.linalg.diag_part(jtj))


def jtj_diag_scaling(jtj):
    """``D^T D = diag(J^T J)``: Marquardt's (1963) scale-invariant damping.

    A zero diagonal entry (a parameter that does not affect the residuals) would
    leave that direction undamped and the matrix singular; it gets 1 instead.
    """
    d2 = tf.linalg.diag_part(jtj)
    return tf.where(d2 > 0, d2, tf.ones_like(d2))


SCALINGS = {"identity": identity_scaling, "jtj_diag": jtj_diag_scaling}


def min_norm_solve(matrix, rhs):
    """Minimum-norm solution of the symmetric system ``matrix @ delta = rhs``.

    Eigen-decomposition pseudo-inverse, eigenvalues below ``n * eps * max|lambda|``
    dropped. For the damped normal matrix this is the minimum-norm least-squares
    solution of the augmented system ``[J; sqrt(mu) D] delta ~ [-r; 0]``.
    """
    lam, vec = tf.linalg.eigh(matrix)
    n = tf.cast(tf.shape(matrix)[0], matrix.dtype)
    eps = np.finfo(matrix.dtype.as_numpy_dtype).eps
    cutoff = n * eps * tf.reduce_max(tf.abs(lam))
    kept = lam > cutoff
    inv = tf.where(kept, 1.0 / tf.where(kept, lam, tf.ones_like(lam)), tf.zeros_like(lam))
    return tf.linalg.matvec(vec, inv * tf.linalg.matvec(vec, rhs, transpose_a=True))


def damped_step(jtj, grad, mu, d2):
    """Solve ``(J^T J + mu diag(d2)) delta = -J^T r``; return ``(delta, fallback)``.

    Cholesky ``M = L L^T`` first. It is taken as failed when ``delta`` is not finite
    (an exactly singular or indefinite matrix) or when the matrix is numerically
    singular, ``min(diag L)^2 <= n * eps * max(diag L)^2`` (rounding can leave a tiny
    positive pivot where the exact one is zero, and a garbage step). Then the
    minimum-norm solution (:func:`min_norm_solve`) is used and ``fallback`` is True.
    A step that is still not finite is rejected by the caller, which raises ``mu``.
    """
    matrix = jtj + tf.linalg.diag(mu * d2)
    chol = tf.linalg.cholesky(matrix)
    delta = -tf.linalg.cholesky_solve(chol, grad[:, None])[:, 0]
    pivots = tf.square(tf.linalg.diag_part(chol))
    n = tf.cast(tf.shape(matrix)[0], matrix.dtype)
    eps = np.finfo(matrix.dtype.as_numpy_dtype).eps
    ok = (tf.reduce_all(tf.math.is_finite(delta))
          & (tf.reduce_min(pivots) > n * eps * tf.reduce_max(pivots)))
    delta = tf.cond(ok, lambda: delta, lambda: -min_norm_solve(matrix, grad))
    return delta, tf.logical_not(ok)
