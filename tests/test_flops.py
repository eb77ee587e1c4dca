"""FLOP counts of each optimizer against counts by hand on tiny perceptrons."""

import numpy as np
import pandas as pd
import pytest

from secondorder.optim import flops
from secondorder.optim.arms import Arm, work_counter
from secondorder.problem.model import Architecture

#: 2 inputs, 3 sigmoid units, 2 softmax outputs: 9 + 8 = 17 weights.
SOFTMAX = Architecture(2, 3, 2)
#: 2 inputs, 3 sigmoid units, 1 linear output: 9 + 4 = 13 weights.
LINEAR = Architecture(2, 3, 1, output="linear")


def test_one_sample_by_hand():
    # forward: (2*2*3 + 3) + 4*3 sigmoids + (2*3*2 + 2) + 4*2 softmax
    assert flops.forward(SOFTMAX) == 15 + 12 + 14 + 8 == 49
    assert flops.forward(LINEAR) == 15 + 12 + 7 == 34
    assert flops.loss(SOFTMAX) == 3 * 2
    # backward: 2*2 output cotangent + 4*2 through the softmax; layer 1: 2*2*3 + 3;
    # layer 2: 2*3*2 + 2, and to its inputs 2*3*2 + 3*3 (a (1 - a) g)
    assert flops.backward(SOFTMAX) == 4 + 8 + 15 + 14 + 12 + 9 == 62
    # LM's Jacobian of one residual of the linear net: layer 1's 2*3 entries, layer 2's
    # 3*1, back-propagation 2*3*1 and a (1 - a) for 3 units (2*3 + 1*3)
    assert flops.lm_jacobian(LINEAR, 1) == 6 + 3 + 6 + 9 == 24
    # two residuals through a softmax: 2*2*2 for d out / d z, then twice the entries
    assert flops.lm_jacobian(SOFTMAX, 2) == 8 + 2 * 6 + 2 * 6 + 2 * 2 * 6 + 4 * 3


def test_first_order_and_lbfgs_by_hand():
    # 4 training rows (forward, loss, backward), the update, 2 validation rows
    per_row = 49 + 6 + 62
    assert flops.first_order_epoch(SOFTMAX, 4, 2, "adam") == 4 * per_row + 12 * 17 + 2 * 55
    assert flops.first_order_epoch(SOFTMAX, 4, 2, "rmsprop", 0.9) == (
        4 * per_row + (9 + 2) * 17 + 2 * 55)
    assert flops.first_order_epoch(SOFTMAX, 4, 2, "sgd") == 4 * per_row + 2 * 17 + 2 * 55
    # mini-batches of 3 out of 4 rows: one step of 3 rows (one row sits the epoch out)
    assert flops.minibatch_epoch(SOFTMAX, 4, 2, 3) == 3 * per_row + 12 * 17 + 2 * 55
    assert flops.minibatch_epoch(SOFTMAX, 4, 2, 2) == 4 * per_row + 2 * 12 * 17 + 2 * 55
    adam = work_counter(Arm({"optimizer": "adam", "inputs": "standardised",
                             "learning_rate": 0.01, "epochs": 9, "patience": 9}),
                        SOFTMAX, 4, 2)
    assert adam({"nit": np.array([0, 3])}).tolist() == [0, 3 * 782]
    # L-BFGS, memory 2: iterations 1..4 use 0, 1, 2, 2 pairs, (8 pairs + 1) n each
    assert flops.lbfgs_directions(17, 2, [4]).tolist() == [17 * (8 * 5 + 4)]
    assert flops.lbfgs_directions(17, 2, [0, 1, 2]).tolist() == [0, 17, 17 * 10]
    lbfgs = work_counter(Arm({"optimizer": "lbfgs", "inputs": "standardised", "memory": 2,
                              "max_iter": 9}), SOFTMAX, 4, 2)
    assert lbfgs({"nit": np.array([4]), "nfev": np.array([5])}).tolist() == [
        5 * (4 * per_row + 2 * 55) + 17 * 44]


def test_lm_by_hand_in_sample_and_parameter_space():
    """LM's linear algebra is counted: ``J^T J`` and Cholesky in parameter space, the
    ``m x m`` system in sample space, the re-estimation with Bayesian regularisation."""
    n = 13
    # 4 training rows, one residual each: m = 4 < n = 13, so sample space
    small = flops.lm_costs(LINEAR, 4, 2, 1, bayesian=False)
    assert small["residuals"] == 4 * 34 + 3 * 4
    by_hand = (4 * 24 + 2 * 34 + 3 * 2          # Jacobian, validation pass
               + 4 * 4 * n                      # diag(J^T J) and J^T r
               + 4 * n + n + 4 * n * 5)         # J D^-1 and its Gram matrix (dsyrk)
    assert small["jacobian"] == by_hand
    assert small["iteration"] == pytest.approx(4 ** 3 / 3 + 2 * 16 + 2 * 4 * n + n + 10 * n)
    # 20 training rows: m = 20 > n, parameter space
    large = flops.lm_costs(LINEAR, 20, 2, 1, bayesian=False)
    assert large["jacobian"] == 20 * 24 + 2 * 34 + 6 + 20 * n * (n + 1) + 2 * 20 * n
    assert large["iteration"] == pytest.approx(n ** 3 / 3 + 2 * n ** 2 + 10 * n)
    # Bayesian regularisation: parameter space always, plus the re-estimation
    bayes = flops.lm_costs(LINEAR, 4, 2, 1, bayesian=True)
    assert bayes["jacobian"] == pytest.approx(
        4 * 24 + 2 * 34 + 6 + 4 * n * (n + 1) + 2 * 4 * n + 2 * n ** 2 + 2 * n ** 3 / 3)
    assert bayes["iteration"] == pytest.approx(n ** 3 / 3 + 3 * n ** 2 + 10 * n)
    lm = work_counter(Arm({"optimizer": "lm", "inputs": "standardised", "max_iter": 9}),
                      LINEAR, 20, 2, 1)
    got = lm({"nit": np.array([2]), "nfev": np.array([3]), "njev": np.array([2])})
    assert got == pytest.approx([3 * large["residuals"] + 2 * large["jacobian"]
                                 + 2 * large["iteration"]])


def test_lm_counts_its_linear_algebra_which_passes_left_out():
    """At the suite's medium size an LM iteration is dominated by ``J^T J`` and the
    solve: the forward pass and the Jacobian are a small part of it."""
    arch = Architecture(13, 32, 3, nhid2=32)  # wine, medium
    costs = flops.lm_costs(arch, 107, 36, 3, bayesian=True)
    passes = 107 * (flops.forward(arch) + flops.lm_jacobian(arch, 3))
    assert costs["jacobian"] + costs["iteration"] > 50 * passes
    with pytest.raises(ValueError, match="no FLOP count for optimizer 'scipy_lm_fd'"):
        work_counter({"optimizer": "scipy_lm_fd", "inputs": "raw", "max_nfev": 9}, arch, 1, 1)


def test_rates_per_arm():
    fits = pd.DataFrame({"arm": ["a", "a", "b", "b"], "size": "small",
                         "work": [2e9, 4e9, 1e6, np.nan], "time_s": [1.0, 1.0, 0.5, np.nan]})
    rates = flops.per_second(fits).set_index("arm")
    assert rates.loc["a", ["median", "low", "high", "fits"]].tolist() == [3e9, 2e9, 4e9, 2]
    assert rates.loc["b", "fits"] == 1
