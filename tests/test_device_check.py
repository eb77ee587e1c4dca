"""The GPU paths' code, run on the CPU: the products formed in the Jacobian's compiled
call equal the host's, and .ci/gpu-check's report has what it promises. (On a GPU the
same code runs on the device: `.ci/gpu-check`.)"""

from pathlib import Path

import numpy as np

from secondorder.optim.lm import TFProvider
from secondorder.optim.lm_network import lm_provider, mlp_residuals_batch
from secondorder.pipeline import device_check
from secondorder.problem import data, model

ROOT = Path(__file__).resolve().parents[1]


def test_device_products_equal_the_host_products():
    spirals = data.spiral_data(500)
    trn, val = data.split_indices(500)
    problem = data.Problem(spirals[:, :2], spirals[:, 2:], trn, val, "raw")
    residuals, jacobian, _ = mlp_residuals_batch(problem, model.ARTICLE)
    device = TFProvider(residuals, 127, 400, jacobian=jacobian, device_products=True)
    host = lm_provider(problem, model.ARTICLE, "tf", validation=False)
    w = model.init_weights(3)
    r = host.residuals(w)
    on_device, on_host = device.linearize(w, r, False), host.linearize(w, r, False)
    assert on_host.curvature is not None and on_device.jac is None  # J stayed there
    np.testing.assert_allclose(np.triu(on_device.curvature), np.triu(on_host.curvature),
                               rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(on_device.colsq, on_host.colsq, rtol=1e-12)
    np.testing.assert_allclose(on_device.grad, on_host.grad, rtol=1e-10, atol=1e-13)
    assert on_device.finite


def test_gpu_check_reports_where_and_how_long():
    found = device_check.check(hidden=4, epochs=3, repeats=1, cpu=True,
                               config=str(ROOT / "config" / "config.yaml"))
    assert found["adam"]["epochs"] == 3 and found["adam"]["ms_per_epoch"] > 0
    lm = found["lm"]
    assert lm["n_params"] == 5 * 4 + 2 and lm["m"] == 400
    assert lm["product_devices"] and all("device:" in d for d in lm["product_devices"])
    assert lm["linearize_ms"] > 0 and lm["iteration_ms"] > 0 and lm["finite"]
