"""The damped Gauss-Newton step: scaling ``D`` and the linear solve.

Each iteration solves the Levenberg-Marquardt equations (Levenberg 1944; Marquardt
1963; Moré 1978, eq. 2.2)

    (J^T J + mu D^T D) delta = -J^T r,

equivalently the least-squares problem ``[J; sqrt(mu) D] delta ~ [-r; 0]``. ``D`` is
diagonal and given by its squared diagonal ``d2``. The scalings,
:func:`min_norm_solve` and :func:`cholesky_step` act on the last axes and take leading
batch axes; :func:`damped_step` solves one system, :func:`damped_step_batch` one per
row of a batch.
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
    n = tf.cast(tf.shape(matrix)[-1], matrix.dtype)
    eps = np.finfo(matrix.dtype.as_numpy_dtype).eps
    cutoff = n * eps * tf.reduce_max(tf.abs(lam), axis=-1, keepdims=True)
    kept = lam > cutoff
    inv = tf.where(kept, 1.0 / tf.where(kept, lam, tf.ones_like(lam)), tf.zeros_like(lam))
    return tf.linalg.matvec(vec, inv * tf.linalg.matvec(vec, rhs, transpose_a=True))


def cholesky_step(jtj, grad, mu, d2):
    """Cholesky attempt at ``(J^T J + mu diag(d2)) delta = -J^T r``: return
    ``(matrix, delta, ok)``, ``matrix`` the damped normal matrix.

    ``M = L L^T`` is taken as failed (``ok`` False) when ``delta`` is not finite (an
    exactly singular or indefinite matrix: TensorFlow's kernel then fills that
    matrix's factor with NaN) or when the matrix is numerically singular,
    ``min(diag L)^2 <= n * eps * max(diag L)^2`` (rounding can leave a tiny positive
    pivot where the exact one is zero, and a garbage step).
    """
    matrix = jtj + tf.linalg.diag(mu[..., None] * d2)
    chol = tf.linalg.cholesky(matrix)
    delta = -tf.linalg.cholesky_solve(chol, grad[..., None])[..., 0]
    pivots = tf.square(tf.linalg.diag_part(chol))
    n = tf.cast(tf.shape(matrix)[-1], matrix.dtype)
    eps = np.finfo(matrix.dtype.as_numpy_dtype).eps
    ok = (tf.reduce_all(tf.math.is_finite(delta), axis=-1)
          & (tf.reduce_min(pivots, axis=-1) > n * eps * tf.reduce_max(pivots, axis=-1)))
    return matrix, delta, ok


def damped_step(jtj, grad, mu, d2):
    """Solve ``(J^T J + mu diag(d2)) delta = -J^T r``; return ``(delta, fallback)``.

    Cholesky first (:func:`cholesky_step`); where it fails the minimum-norm solution
    (:func:`min_norm_solve`) is used and ``fallback`` is True. A step that is still
    not finite is rejected by the caller, which raises ``mu``.
    """
    matrix, delta, ok = cholesky_step(jtj, grad, mu, d2)
    delta = tf.cond(ok, lambda: delta, lambda: -min_norm_solve(matrix, grad))
    return delta, tf.logical_not(ok)


def damped_step_batch(jtj, grad, mu, d2, rows):
    """:func:`damped_step` for a batch: ``jtj`` ``(B, n, n)``, ``grad`` and ``d2``
    ``(B, n)``, ``mu`` ``(B,)``; returns ``(delta (B, n), fallback (B,))``.

    One batched Cholesky for all rows; the eigendecomposition fallback runs only on
    the rows where it failed and ``rows`` (a ``(B,)`` mask, the runs still going) is
    True, gathered into a smaller batch. Rows outside ``rows`` keep their Cholesky
    step, finite or not: the caller ignores them (``eigh`` would raise on their NaN).
    """
    matrix, delta, ok = cholesky_step(jtj, grad, mu, d2)
    redo = tf.where(rows & tf.logical_not(ok))
    fixed = -min_norm_solve(tf.gather_nd(matrix, redo), tf.gather_nd(grad, redo))
    return tf.tensor_scatter_nd_update(delta, redo, fixed), tf.logical_not(ok)
