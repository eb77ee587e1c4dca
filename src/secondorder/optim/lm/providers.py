"""Where the residuals and the Jacobian come from: the problem object of the LM loop.

The loop (:mod:`.engine`) runs on the host in numpy and asks a *provider* for the
model's numbers, one run (one row of parameters) at a time:

* ``residuals(x) -> r`` ``(m,)`` at a trial point,
* ``linearize(x, r, sample_space) -> Linearization`` at an accepted point: ``J^T r``,
  ``diag(J^T J)`` and ``J^T J`` (or, in sample space, ``J`` itself), and whether
  ``J`` is finite,
* ``jacobian(x) -> J`` ``(m, n)`` where the loop needs ``J`` itself (the QR
  fallback, the Gauss-Newton check),
* ``validation(x) -> r_val`` ``(p,)`` when there are validation residuals.

The products are computed where they are fastest: on a CPU the Jacobian comes from
its provider and ``J^T J`` from BLAS ``dsyrk`` on the host (:func:`.linalg.gram`);
:class:`TFProvider` on a GPU forms ``J^T J`` and ``J^T r`` on the device in the same
compiled call as ``J``, so only the ``n x n`` matrix crosses.

Two providers:

* :class:`NumpyProvider`: numpy functions, scipy's convention (``fun(x)``,
  ``jac(x)``), or batched ones (``W (k, n) -> (k, m)``), called as they are;
* :class:`TFProvider`: TensorFlow functions of a ``(B, n)`` matrix of parameter rows,
  compiled once (XLA by default) for one row, so that no shape ever retraces; the
  Jacobian is TensorFlow autodiff unless given.

Every output is checked when it comes back (shape, finite values are the loop's
business): a function whose shapes disagree raises ``ValueError`` naming it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .linalg import normal_products


@dataclass
class Linearization:
    """The model linearised at an accepted point of one run."""

    curvature: np.ndarray | None  # J^T J (upper triangle), None in sample space
    colsq: np.ndarray             # diag(J^T J), the squared column norms of J
    grad: np.ndarray              # J^T r
    jac: np.ndarray | None        # J, when the loop keeps it (else None)
    finite: bool                  # J has no NaN or Inf


def _checked(value, shape, name: str) -> np.ndarray:
    out = np.asarray(value, dtype=np.float64)
    if out.shape != shape:
        raise ValueError(f"{name} returned shape {out.shape}, expected {shape}")
    return out


class Provider:
    """The base of the providers: ``m`` residuals, ``n`` parameters, ``p`` validation
    residuals (``None`` without validation); subclasses give ``_residuals``,
    ``_jacobian`` and ``_validation`` of one row, and may override
    :meth:`linearize`. ``compile_s`` is the time :meth:`prepare` took."""

    device = "CPU (numpy)"

    def __init__(self, m: int, n: int, p: int | None):
        self.m, self.n, self.p = int(m), int(n), None if p is None else int(p)
        self.compile_s = 0.0
        self._prepared = False

    @property
    def has_validation(self) -> bool:
        return self.p is not None

    def prepare(self, x0: np.ndarray) -> None:
        """Compile and warm up (first calls) at ``x0``, once; the time goes to
        ``compile_s``."""
        if self._prepared:
            return
        tic = time.perf_counter()
        self.linearize(x0, self.residuals(x0), sample_space=False)
        if self.has_validation:
            self.validation(x0)
        self.compile_s = time.perf_counter() - tic
        self._prepared = True

    def residuals(self, x) -> np.ndarray:
        return _checked(self._residuals(x), (self.m,), "residuals")

    def jacobian(self, x) -> np.ndarray:
        return _checked(self._jacobian(x), (self.m, self.n),
                        "jacobian (rows x residuals x parameters: one (m, n) block per row)")

    def validation(self, x) -> np.ndarray:
        return _checked(self._validation(x), (self.p,), "validation")

    def linearize(self, x, r, sample_space: bool, keep_jacobian: bool = False) -> Linearization:
        """:class:`Linearization` at ``x`` (residuals ``r`` there): ``J`` from
        :meth:`jacobian`, the products by host BLAS (:func:`.linalg.normal_products`);
        ``J`` itself is kept in sample space or when ``keep_jacobian``."""
        jac = self.jacobian(x)
        finite = bool(np.isfinite(jac).all())
        curvature, colsq, grad = normal_products(jac, r, sample_space)
        keep = sample_space or keep_jacobian
        return Linearization(curvature, colsq, grad, jac if keep else None, finite)


class NumpyProvider(Provider):
    """numpy functions of one parameter vector, scipy's convention: ``fun(x) -> (m,)``,
    ``jac(x) -> (m, n)``, optional ``validation(x) -> (p,)``; or, with ``batched``,
    functions of a ``(k, n)`` matrix of rows returning ``(k, m)``, ``(k, m, n)``,
    ``(k, p)`` (called with one row at a time)."""

    def __init__(self, fun: Callable, jac: Callable, n: int, *, validation=None,
                 batched: bool = False, m: int | None = None, p: int | None = None):
        self._fun, self._jac, self._val, self._batched = fun, jac, validation, batched
        super().__init__(m, n, p)

    def _call(self, fn, x):
        if self._batched:
            return np.asarray(fn(np.asarray(x)[None]))[0]
        return fn(np.array(x))

    def _residuals(self, x):
        return self._call(self._fun, x)

    def _jacobian(self, x):
        return self._call(self._jac, x)

    def _validation(self, x):
        return self._call(self._val, x)


class TFProvider(Provider):
    """TensorFlow functions of a ``(B, n)`` float64 matrix of parameter rows (row ``b``
    of each output depending on row ``b`` only): ``residuals -> (B, m)``, optional
    ``jacobian -> (B, m, n)`` (default: autodiff of each row,
    :func:`.jacobian.autodiff_jacobian`), optional ``validation -> (B, p)``.

    On a CPU the three are one ``tf.function`` for a single row, shape ``(1, n)``, with
    XLA (``jit_compile``) by default: one compilation, never a retrace, and one call
    per point returning ``r``, ``J`` and the validation residuals together. A call costs
    ~0.17 ms before any arithmetic (measured at the article's size: residuals alone
    0.30 ms, Jacobian alone 0.45, all three at once 0.43), so the loop's trial point
    gets its Jacobian with its residuals, kept for the linearisation that follows when
    the step is taken. On a GPU the Jacobian's call also forms ``J^T J``,
    ``diag(J^T J)`` and ``J^T r`` there (:meth:`linearize`), so ``J`` stays on the
    device in parameter space (``device_products``: None decides by whether a GPU is
    visible; True forces that path, on whatever device TensorFlow uses).
    """

    def __init__(self, residuals: Callable, n: int, m: int, *, jacobian=None,
                 validation=None, p: int | None = None, jit_compile: bool = True,
                 device_products: bool | None = None):
        import tensorflow as tf

        from .jacobian import rowwise_autodiff_jacobian

        super().__init__(m, n, p)
        if jacobian is None:
            jacobian = rowwise_autodiff_jacobian(residuals, m, n)
        spec = [tf.TensorSpec((1, n), tf.float64)]
        self._tf = tf
        gpus = tf.config.list_physical_devices("GPU")
        self.device = f"GPU ({gpus[0].name}, TensorFlow)" if gpus else "CPU (TensorFlow)"
        self._on_device = bool(gpus) if device_products is None else bool(device_products)

        def compiled(fn):
            return tf.function(fn, input_signature=spec, jit_compile=jit_compile)

        def products(W):
            jac = jacobian(W)[0]
            r = residuals(W)[0]
            return (tf.matmul(jac, jac, transpose_a=True),
                    tf.reduce_sum(tf.square(jac), axis=0), tf.linalg.matvec(jac, r,
                                                                            transpose_a=True),
                    tf.reduce_all(tf.math.is_finite(jac)))

        def joint(W):
            return (residuals(W), jacobian(W)) + (() if validation is None
                                                 else (validation(W),))

        self._joint = compiled(joint)
        self._products = compiled(products) if self._on_device else None
        self._last = (None, ())  # the point of the last joint call and its outputs

    def _row(self, x):
        return self._tf.constant(np.asarray(x, dtype=np.float64)[None])

    def _at(self, x) -> tuple:
        """``(r, J[, r_val])`` at ``x``: from the last call when it was at ``x``, else
        from one new call."""
        point, values = self._last
        if point is None or not np.array_equal(point, x):
            values = tuple(t.numpy()[0] for t in self._joint(self._row(x)))
            self._last = (np.array(x, dtype=np.float64), values)
        return values

    def _residuals(self, x):
        return self._at(x)[0]

    def _jacobian(self, x):
        return self._at(x)[1]

    def _validation(self, x):
        return self._at(x)[2]

    def device_products(self, x):
        """``J^T J``, ``diag(J^T J)``, ``J^T r`` and whether ``J`` is finite, computed in
        one compiled call on the GPU (tensors still there); ``None`` without a GPU."""
        return None if self._products is None else self._products(self._row(x))

    def linearize(self, x, r, sample_space: bool, keep_jacobian: bool = False) -> Linearization:
        if sample_space or keep_jacobian or self._products is None:
            return super().linearize(x, r, sample_space, keep_jacobian)
        jtj, colsq, grad, finite = (t.numpy() for t in self.device_products(x))
        return Linearization(jtj, colsq, grad, None, bool(finite))
