"""Floating-point operations each optimizer computes: the suite's measure of work.

A fit's work is counted in floating-point operations (FLOPs) from closed forms of
what its optimizer computes per step (its registry entry's ``work``,
:data:`secondorder.optim.arms.REGISTRY`, names the count here), and from the counters
its progress reports carry (epochs; L-BFGS's iterations and loss-and-gradient
evaluations; LM's iterations, residual and Jacobian evaluations). Counting passes over
the training rows instead would leave out LM's linear algebra: per counted pass LM
took 5-16x (moons) and 6-30x (wine) the wall time of Adam's (issue 24), nearly all of
it in ``J^T J`` and the solve.

Conventions (Golub & Van Loan, *Matrix Computations*, 4th ed., 1.1.15): a multiply-add
is 2 FLOPs, every other arithmetic operation 1, an ``exp``, ``log``, ``sqrt`` or
division 1 as well; copies and comparisons 0. Per sample of a perceptron with layers
``(fan_in, fan_out)`` and ``k`` outputs (:func:`forward`, :func:`backward`):

* forward: per layer ``2 fan_in fan_out + fan_out`` (product and bias), 4 per
  sigmoid unit (negate, ``exp``, add, divide), ``4 k`` for a softmax (shift, ``exp``,
  sum, divide), nothing for linear outputs;
* loss: ``3 k`` (SSQ: subtract, square, add; cross-entropy: ``log``, multiply, add);
* backward (the gradient of the loss): ``2 k`` for the output cotangent, ``4 k``
  through a softmax, per layer ``2 fan_in fan_out + fan_out`` for the weights' and
  bias' gradient and, below the top layer, ``2 fan_in fan_out`` for the inputs'
  cotangent and 3 per sigmoid unit (``a (1 - a) g``).

Per optimizer:

* first-order (Adam, RMSprop, SGD), per epoch: forward, loss and backward on every
  training row, the update (:data:`UPDATE`, per weight) and the validation pass
  (forward and loss on every validation row: early stopping's);
* mini-batch Adam (:mod:`secondorder.optim.minibatch`), per epoch: forward, loss and
  backward on the ``steps x b`` rows its steps use, one update per step, the
  validation pass;
* L-BFGS, per loss-and-gradient evaluation: forward, loss and backward on the
  training rows and the validation pass (the same compiled call computes it); per
  iteration the two-loop recursion (Nocedal & Wright, *Numerical Optimization*, 2nd
  ed., Alg. 7.4): ``8 n`` per stored pair (two dot products, two updates) and ``n``
  for the scaling, with ``min(iteration - 1, memory)`` pairs (scipy's L-BFGS-B forms
  the same direction from its compact representation at a cost of the same order);
* LM (:mod:`secondorder.optim.lm`), with ``m`` residuals (``r`` per training row),
  ``n`` weights and ``p`` validation residuals: per residual evaluation the forward
  pass on the training rows and ``3 m`` for the residuals and their SSQ; per
  Jacobian evaluation the closed-form Jacobian (:func:`lm_jacobian`), its normal
  products and the validation pass of the accepted point (``3 p`` besides the
  forward pass); per iteration the damped solve. In parameter space the products
  are ``J^T J`` (``dsyrk``: ``m n (n + 1)``) and ``J^T r`` (``2 m n``), the solve a
  Cholesky factorisation (``n^3 / 3``) and two triangular solves (``2 n^2``); in
  sample space (``n > m``, no regularisation) the products are ``diag(J^T J)`` and
  ``J^T r`` (``4 m n``) and ``J D^-1`` and its Gram matrix (``m n + n + m n (m +
  1)``), the solve ``m^3 / 3 + 2 m^2`` and ``delta = -D^-2 J^T y`` (``2 m n + n``).
  Bayesian regularisation (``lm_br``) re-estimates ``alpha`` and ``beta`` at every
  accepted point: the scaled matrix (``n^2``), its Cholesky factor (``n^3 / 3``),
  the inverse of the factor (``dtrtri``, ``n^3 / 3``) and the trace (``n^2``); its
  damped matrix is scaled too (``n^2`` per iteration). Every iteration also costs
  ``10 n`` of vector work (the damped diagonal, the trial point, the predicted
  reduction, the step norms).

What is not counted: the LM Jacobians evaluated for the rare QR fallback and the
Gauss-Newton convergence check are counted as ordinary Jacobian evaluations (their
QR or SVD costs 2-10x the ``J^T J`` counted in their place); geodesic acceleration's
second solve (not in the suite); the early-stopping bookkeeping and every operation
on fewer than ``n`` numbers per step. The counts are of the arithmetic, not of its
speed: BLAS-3 products run near the machine's peak, small TensorFlow kernels far from
it, so work and time disagree where the problem is small (measured with
:func:`per_second` in two runs on a loaded 2-core CPU, moons and wine, every fit
alone, medians: at the small size LM ran 2-13x as many FLOPs per second as Adam, at
the medium size 1-4x; L-BFGS, driven from the host, 3-4x fewer than Adam; mini-batch
Adam, many small steps, 1-2x fewer). The suite's ``time_s`` is what a fit costs on
the machine that ran it; its work is what it computes on any machine.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from secondorder.problem.model import Architecture

#: FLOPs per weight of one update of each first-order optimizer (Keras' rules):
#: Adam ``m`` (3), ``v`` (4), ``lr m / (sqrt(v) + eps)`` (4) and the subtraction;
#: RMSprop ``v`` (4), the scaled gradient (4) and the subtraction, with momentum 2 more;
#: SGD ``lr g`` and the subtraction, with momentum 2 more.
UPDATE = {"adam": (12, 0), "rmsprop": (9, 2), "sgd": (2, 2)}


def forward(arch: Architecture) -> int:
    """FLOPs of one sample's forward pass (module docstring)."""
    total = 0
    for k, (fan_in, fan_out) in enumerate(arch.layers):
        total += 2 * fan_in * fan_out + fan_out
        if k < len(arch.layers) - 1:
            total += 4 * fan_out
    return total + (4 * arch.nout if arch.output == "softmax" else 0)


def loss(arch: Architecture) -> int:
    """FLOPs of one sample's loss (SSQ or cross-entropy): ``3 k``."""
    return 3 * arch.nout


def backward(arch: Architecture) -> int:
    """FLOPs of one sample's gradient of the loss with respect to the weights, from
    the forward pass's values (module docstring)."""
    total = 2 * arch.nout + (4 * arch.nout if arch.output == "softmax" else 0)
    for k, (fan_in, fan_out) in enumerate(arch.layers):
        total += 2 * fan_in * fan_out + fan_out
        if k > 0:
            total += 2 * fan_in * fan_out + 3 * fan_in
    return total


def first_order_epoch(arch: Architecture, n_train: int, n_val: int, optimizer: str,
                      momentum: float = 0.0) -> int:
    """FLOPs of one full-batch epoch of a first-order optimizer: forward, loss and
    backward on the training rows, the update, the validation pass."""
    per_weight, with_momentum = UPDATE[optimizer]
    update = (per_weight + (with_momentum if momentum else 0)) * arch.n_params
    return (n_train * (forward(arch) + loss(arch) + backward(arch)) + update
            + n_val * (forward(arch) + loss(arch)))


def minibatch_epoch(arch: Architecture, n_train: int, n_val: int, batch_size: int) -> int:
    """FLOPs of one epoch of mini-batch Adam: ``floor(N / b)`` steps of ``b`` rows
    (``b = min(batch_size, N)``), each with its update, and the validation pass."""
    size = min(batch_size, n_train)
    steps = n_train // size
    return (steps * (size * (forward(arch) + loss(arch) + backward(arch))
                     + UPDATE["adam"][0] * arch.n_params)
            + n_val * (forward(arch) + loss(arch)))


def lbfgs_evaluation(arch: Architecture, n_train: int, n_val: int) -> int:
    """FLOPs of one L-BFGS loss-and-gradient evaluation (with its validation SSQ)."""
    return (n_train * (forward(arch) + loss(arch) + backward(arch))
            + n_val * (forward(arch) + loss(arch)))


def lbfgs_directions(n: int, memory: int, iterations) -> np.ndarray:
    """FLOPs of the two-loop recursion over ``iterations`` iterations (an array):
    ``sum_i (8 min(i - 1, memory) + 1) n`` for ``i = 1 .. iterations``."""
    it = np.asarray(iterations, dtype=float)
    full = np.maximum(it - memory - 1, 0)  # iterations with all ``memory`` pairs
    growing = it - full  # iterations 1 .. min(it, memory + 1): 0, 1, .. pairs
    pairs = growing * (growing - 1) / 2 + full * memory
    return n * (8 * pairs + it)


def lm_jacobian(arch: Architecture, columns: int) -> int:
    """FLOPs of one sample's closed-form Jacobian of ``columns`` residuals
    (:func:`secondorder.problem.model.mlp_jacobian`, from the forward pass's values):
    the outputs' derivatives (``2 r k`` through a softmax), per layer ``r fan_in
    fan_out`` products for the weights' entries and, below the top layer, ``2 r fan_in
    fan_out`` to back-propagate and ``(2 + r) fan_in`` for ``a (1 - a)``."""
    total = 2 * columns * arch.nout if arch.output == "softmax" else 0
    for k, (fan_in, fan_out) in enumerate(arch.layers):
        total += columns * fan_in * fan_out
        if k > 0:
            total += 2 * columns * fan_in * fan_out + (2 + columns) * fan_in
    return total


def lm_costs(arch: Architecture, n_train: int, n_val: int, columns: int, *,
             bayesian: bool) -> dict:
    """FLOPs of LM's pieces (module docstring): ``residuals`` (one evaluation),
    ``jacobian`` (one Jacobian evaluation: the Jacobian, its products, the validation
    pass and, with ``bayesian``, the re-estimation), ``iteration`` (the damped solve
    and vector work)."""
    n, m, p = arch.n_params, n_train * columns, n_val * columns
    sample_space = not bayesian and n > m
    residuals = n_train * forward(arch) + 3 * m
    jacobian = n_train * lm_jacobian(arch, columns) + n_val * forward(arch) + 3 * p
    if sample_space:
        jacobian += 4 * m * n + m * n + n + m * n * (m + 1)
        iteration = m ** 3 / 3 + 2 * m ** 2 + 2 * m * n + n
    else:
        jacobian += m * n * (n + 1) + 2 * m * n
        iteration = n ** 3 / 3 + 2 * n ** 2
    if bayesian:
        jacobian += 2 * n ** 2 + 2 * n ** 3 / 3
        iteration += n ** 2
    return {"residuals": residuals, "jacobian": jacobian, "iteration": iteration + 10 * n}


def _counts(info, name) -> np.ndarray:
    return np.asarray(info[name], dtype=float)


def first_order_work(arm, arch: Architecture, n_train: int, n_val: int,
                     columns: int = 1) -> Callable[[dict], np.ndarray]:
    """``counters -> FLOPs`` of fits of a full-batch first-order ``arm``: an epoch's
    FLOPs (:func:`first_order_epoch`) per epoch (``nit``)."""
    epoch = first_order_epoch(arch, n_train, n_val, arm["optimizer"], arm["momentum"])
    return lambda info: epoch * _counts(info, "nit")


def minibatch_work(arm, arch: Architecture, n_train: int, n_val: int,
                   columns: int = 1) -> Callable[[dict], np.ndarray]:
    """``counters -> FLOPs`` of mini-batch Adam fits: :func:`minibatch_epoch` per
    epoch (``nit``)."""
    epoch = minibatch_epoch(arch, n_train, n_val, arm["batch_size"])
    return lambda info: epoch * _counts(info, "nit")


def lbfgs_work(arm, arch: Architecture, n_train: int, n_val: int,
               columns: int = 1) -> Callable[[dict], np.ndarray]:
    """``counters -> FLOPs`` of L-BFGS fits: its evaluations (``nfev``) and the
    two-loop recursion of its iterations (``nit``)."""
    evaluation = lbfgs_evaluation(arch, n_train, n_val)
    return lambda info: (evaluation * _counts(info, "nfev")
                         + lbfgs_directions(arch.n_params, arm["memory"], info["nit"]))


def lm_work(arm, arch: Architecture, n_train: int, n_val: int,
            columns: int = 1) -> Callable[[dict], np.ndarray]:
    """``counters -> FLOPs`` of LM fits with ``columns`` residuals per training row:
    :func:`lm_costs` per residual evaluation (``nfev``), Jacobian evaluation
    (``njev``) and iteration (``nit``)."""
    costs = lm_costs(arch, n_train, n_val, columns,
                     bayesian=arm["regularization"] == "bayesian")
    return lambda info: (costs["residuals"] * _counts(info, "nfev")
                         + costs["jacobian"] * _counts(info, "njev")
                         + costs["iteration"] * _counts(info, "nit"))


def per_second(fits, by=("arm", "size")):
    """FLOPs per second of own compute (``work / time_s``) of a suite's fits (its
    ``fits.csv``; fits not run left out): the median and the range over the fits of
    each group. How far apart the arms' rates are says how far work and time disagree
    (BLAS-3 products run near the machine's peak, small kernels far from it)."""
    ran = fits[fits["time_s"] > 0].assign(rate=lambda t: t["work"] / t["time_s"])
    return (ran.groupby(list(by))["rate"]
            .agg(median="median", low="min", high="max", fits="size").reset_index())
