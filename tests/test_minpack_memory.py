"""scipy 1.17's MINPACK reads one double past its Jacobian (``qrfac`` recomputing the
last column's norm; :mod:`secondorder.optim.minpack_memory`). Checked on the tiny
config's article fit, where that branch is taken (near evaluation 230 of 300): 20 fits
in one fresh process, separated by what a job does between fits (arrays of every size
allocated and freed), with and without the remedy."""

import subprocess
import sys

import pytest

from secondorder.optim import minpack_memory

SCRIPT = r"""
import hashlib, sys
import numpy as np
from secondorder.optim import minpack_memory
from secondorder.optim.article_lm import least_squares_lm_115
from secondorder.problem import data, model

if sys.argv[1] == "without":
    minpack_memory._MALLOPT = None                    # the remedy switched off
arch = model.Architecture(2, 5, 2)                     # config/test.yaml: 100 spirals, 2-5-2
spiral = data.spiral_data(100)
train, _ = data.split_indices(100, 0.8, 0)
x, y = spiral[train, :2], spiral[train, 2:]
ws0 = model.init_weights(1, arch)
fun = lambda w: (model.mlp_numpy(x, w, arch) - y).ravel()
rng = np.random.default_rng(0)
size, kept, weights = y.size * arch.n_params, [], set()
for _ in range(20):
    weights.add(hashlib.sha256(least_squares_lm_115(fun, ws0, max_nfev=300).x.tobytes()).digest())
    for _ in range(20):
        kept.append(rng.normal(size=int(rng.integers(1, 2 * size))))
        if len(kept) > 8:
            kept.pop(int(rng.integers(len(kept))))
print(len(weights))
"""


def distinct_fits(remedy: str) -> int:
    env = {"PATH": "/usr/bin:/bin"}  # no MALLOC_* settings inherited from a workflow
    out = subprocess.run([sys.executable, "-c", SCRIPT, remedy], env=env, check=True,
                         capture_output=True, text=True, timeout=300).stdout
    return int(out.strip().splitlines()[-1])


pytestmark = pytest.mark.skipif(minpack_memory._MALLOPT is None, reason="needs glibc")


def test_without_the_remedy_the_heap_decides_the_fit():
    """The upstream bug itself. When scipy's ``qrfac`` is fixed this fails, and the
    remedy (and this file) can go."""
    assert distinct_fits("without") > 1


def test_with_freed_blocks_scrubbed_every_fit_is_the_same():
    assert distinct_fits("with") == 1
