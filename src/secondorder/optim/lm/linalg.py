"""The damped Gauss-Newton step: scaling ``D``, the linear solve, the Gauss-Newton check.

Each iteration solves the Levenberg-Marquardt equations (Levenberg 1944; Marquardt
1963; Moré 1978, eq. 2.2)

    (J^T J + mu D^T D) delta = -J^T r,

equivalently the linear least-squares problem ``[J; sqrt(mu) D] delta ~ [-r; 0]``.
``D`` is diagonal and given by its squared diagonal ``d2``. Every function acts on the
last axes and takes a leading batch axis ``B`` (one row per run).

The normal equations are fast (one ``J^T J`` and one Cholesky of ``n x n``) but square
the condition number of ``J``. With more parameters than residuals (``n > m``) the same
step comes cheaper in sample space (:func:`sample_space_step`): one ``m x m`` system
``(J D^-2 J^T + mu I) y = r``, then ``delta = -D^-2 J^T y``. When Cholesky is unreliable, :func:`damped_step` solves
the augmented system by a QR factorisation instead, whose condition number is that of
``[J; sqrt(mu) D]`` itself (Golub & Van Loan, *Matrix Computations*, 4th ed., 5.3.7;
MINPACK ``lmpar`` works with the QR factors of ``J`` for the same reason).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def identity_scaling(colsq, d2_previous):
    """``D = I``: Levenberg's damping, ``mu`` added to every diagonal entry
    (MATLAB ``trainlm``). ``colsq`` is ``diag(J^T J)``, the squared column norms."""
    return tf.ones_like(colsq)


def jtj_diag_scaling(colsq, d2_previous):
    """``D^T D = diag(J^T J)`` with Moré's running maximum (Moré 1978, eq. 6.3;
    MINPACK ``lmder`` ``mode = 1``; scipy's ``x_scale='jac'``):
    ``d_j <- max(d_j, ||J_j||)`` over the iterations, so the scaling never shrinks.

    ``d2_previous`` is 0 before the first iteration. A column that has always been
    zero (a parameter that does not affect the residuals) gets 1, as in MINPACK.
    """
    d2 = tf.maximum(d2_previous, colsq)
    return tf.where(d2 > 0, d2, tf.ones_like(d2))


SCALINGS = {"identity": identity_scaling, "jtj_diag": jtj_diag_scaling}


def cholesky_step(jtj, grad, mu, d2):
    """Cholesky attempt at ``(J^T J + mu diag(d2)) delta = -J^T r``: ``(delta, ok)``.

    ``M = L L^T`` is taken as failed (``ok`` False) when ``delta`` is not finite (an
    exactly singular or indefinite matrix: TensorFlow's kernel then fills that
    matrix's factor with NaN) or when ``M`` is numerically singular,
    ``min(diag L)^2 <= n * eps * max(diag L)^2``: the normal equations have then
    lost the small singular values of ``J`` to rounding.
    """
    matrix = jtj + tf.linalg.diag(mu[..., None] * d2)
    chol = tf.linalg.cholesky(matrix)
    delta = -tf.linalg.cholesky_solve(chol, grad[..., None])[..., 0]
    return delta, _reliable(chol, delta)


def _reliable(chol, delta):
    """The Cholesky factorisation ``L`` of a damped matrix is trusted when the step is
    finite and ``min(diag L)^2 > k * eps * max(diag L)^2`` (``k`` its order)."""
    pivots = tf.square(tf.linalg.diag_part(chol))
    k = tf.cast(tf.shape(chol)[-1], chol.dtype)
    eps = np.finfo(chol.dtype.as_numpy_dtype).eps
    return (tf.reduce_all(tf.math.is_finite(delta), axis=-1)
            & (tf.reduce_min(pivots, axis=-1) > k * eps * tf.reduce_max(pivots, axis=-1)))


def sample_space_step(jac, r, mu, d2):
    """The same step as :func:`cholesky_step` through an ``m x m`` system, for
    ``n > m``: ``(delta, ok)``.

    With ``delta = -D^-2 J^T y``, ``(J^T J + mu D^2) delta = -J^T (J D^-2 J^T + mu I) y``,
    which is ``-J^T r`` when ``(J D^-2 J^T + mu I) y = r`` (the push-through identity;
    Nocedal & Wright, *Numerical Optimization*, 2nd ed., sec. 10.3 for the
    minimum-norm form). The matrix is symmetric positive definite for ``mu > 0``, so
    one Cholesky of order ``m`` replaces one of order ``n``, and ``J D^-2 J^T`` costs
    ``m^2 n`` instead of ``m n^2``. ``ok`` as for :func:`cholesky_step`.
    """
    scaled = jac / d2[..., None, :]                       # J D^-2
    gram = tf.matmul(scaled, jac, transpose_b=True)       # J D^-2 J^T  (m x m)
    m = tf.shape(gram)[-1]
    matrix = gram + mu[..., None, None] * tf.eye(m, batch_shape=[1], dtype=gram.dtype)
    chol = tf.linalg.cholesky(matrix)
    y = tf.linalg.cholesky_solve(chol, r[..., None])[..., 0]
    delta = -tf.linalg.matvec(scaled, y, transpose_a=True)
    return delta, _reliable(chol, delta)


def qr_step(jac, r, mu, d2):
    """Solve ``[J; sqrt(mu) D] delta ~ [-r; 0]`` by Householder QR: ``delta = -R^-1
    Q^T [r; 0]``. ``jac`` ``(B, m, n)``, ``r`` ``(B, m)``; ``mu > 0`` and ``d2 > 0``
    make the stacked matrix of full column rank."""
    damping = tf.linalg.diag(tf.sqrt(mu[..., None] * d2))
    stacked = tf.concat([jac, damping], axis=-2)
    rhs = tf.concat([r, tf.zeros_like(d2)], axis=-1)
    q, rfac = tf.linalg.qr(stacked)
    qtr = tf.linalg.matvec(q, rhs, transpose_a=True)
    return -tf.linalg.triangular_solve(rfac, qtr[..., None], lower=False)[..., 0]


def damped_step(curvature, grad, r, mu, d2, rows, jacobian_and_residuals,
                sample_space: bool = False):
    """Solve ``(J^T J + mu diag(d2)) delta = -J^T r`` for every row; return
    ``(delta (B, n), fallback (B,))``.

    One batched Cholesky for all rows: of ``J^T J + mu D^2`` (:func:`cholesky_step`,
    ``curvature`` is ``J^T J``) or, with ``sample_space``, of ``J D^-2 J^T + mu I``
    (:func:`sample_space_step`, ``curvature`` is ``J`` itself). On the rows where it
    fails and ``rows`` (the runs still going) is True, the step is recomputed by QR of
    the augmented system (:func:`qr_step`), from ``jacobian_and_residuals()`` (called
    only then; it returns ``J`` and ``r`` at the current points of all rows). Rows
    outside ``rows`` keep their Cholesky step, finite or not: the caller ignores them.
    """
    if sample_space:
        delta, ok = sample_space_step(curvature, r, mu, d2)
    else:
        delta, ok = cholesky_step(curvature, grad, mu, d2)
    redo = rows & tf.logical_not(ok)

    def refactor():
        jac, r = jacobian_and_residuals()
        idx = tf.where(redo)
        fixed = qr_step(tf.gather_nd(jac, idx), tf.gather_nd(r, idx), tf.gather_nd(mu, idx),
                        tf.gather_nd(d2, idx))
        return tf.tensor_scatter_nd_update(delta, idx, fixed)

    delta = tf.cond(tf.reduce_any(redo), refactor, lambda: delta)
    return delta, redo


def gauss_newton_step(jac, r, d2):
    """The undamped model's best step, for the convergence check: ``(delta, predicted)``.

    ``delta`` is the minimum-norm least-squares solution of ``J delta ~ -r`` in the
    scaled variables ``D delta`` (singular value decomposition of ``J D^-1``, singular
    values below ``max(m, n) * eps * sigma_max`` dropped, as numpy's ``lstsq``), and
    ``predicted = ||r||^2 - ||r + J delta||^2 = ||U_k^T r||^2`` the largest reduction
    of the SSQ that the Gauss-Newton model promises from here. Both are exact
    functions of ``J`` and ``r`` (no normal equations).
    """
    scale = tf.sqrt(d2)
    sigma, u, v = tf.linalg.svd(jac / scale[..., None, :])
    shape = tf.shape(jac)
    eps = np.finfo(jac.dtype.as_numpy_dtype).eps
    cutoff = (tf.cast(tf.maximum(shape[-2], shape[-1]), jac.dtype) * eps
              * tf.reduce_max(sigma, axis=-1, keepdims=True))
    kept = sigma > cutoff
    utr = tf.where(kept, tf.linalg.matvec(u, r, transpose_a=True), tf.zeros_like(sigma))
    inv = tf.where(kept, 1.0 / tf.where(kept, sigma, tf.ones_like(sigma)), tf.zeros_like(sigma))
    delta = -tf.linalg.matvec(v, inv * utr) / scale
    return delta, tf.reduce_sum(tf.square(utr), axis=-1)
