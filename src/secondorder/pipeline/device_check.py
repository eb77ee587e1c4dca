"""Where the GPU paths run, and how long they take: ``.ci/gpu-check``.

On a machine with a GPU (TensorFlow's ``tensorflow[and-cuda]``), :func:`check`

* trains the article's Adam arm (``arms.adam`` of the config, the compiled loop, on
  the scaled inputs) from the shared init for ``epochs`` epochs, and reports
  TensorFlow's default device (where the compiled loop runs) and the milliseconds per
  epoch;
* builds the LM provider of a large perceptron (``hidden`` units, parameter space) with
  the TensorFlow Jacobian, times ``repeats`` linearisations with the products formed
  on the device (``J^T J``, ``diag(J^T J)``, ``J^T r`` in the Jacobian's compiled call;
  only ``n x n`` crosses to the host) and one LM iteration of the loop with them, and
  reports the device of each product tensor.

Without a GPU it says so and returns 1 (the GPU paths were not run); numbers are
printed, never compared with goals (a benchmark's job, not a check's).
"""

from __future__ import annotations

import json
import sys
import time


def check(hidden: int = 400, epochs: int = 500, repeats: int = 5,
          config: str = "config/config.yaml", cpu: bool = False) -> dict:
    """Run the checks (see the module docstring) and return what they found; the Adam
    arm is read from ``config``. ``cpu`` runs the same code on the CPU when there is no
    GPU (to check the script itself; nothing is then said about a GPU)."""
    import numpy as np
    import tensorflow as tf

    import yaml

    from secondorder import provenance
    from secondorder.optim import arms
    from secondorder.optim.lm import TFProvider, least_squares_batch
    from secondorder.optim.lm_network import mlp_residuals_batch, paired_softmax
    from secondorder.problem import data, model

    gpus = tf.config.list_physical_devices("GPU")
    out = {"gpus": [gpu.name for gpu in gpus], "device": provenance.device(),
           "tensorflow": tf.__version__}
    if not gpus and not cpu:
        return out
    spirals = data.spiral_data(500)
    trn, val = data.split_indices(500)
    scaler = data.article_scaler(spirals[trn, :2])
    scaled = data.Problem(data.apply_scaler(spirals[:, :2], scaler), spirals[:, 2:], trn, val,
                          "scaled")
    raw = data.Problem(spirals[:, :2], spirals[:, 2:], trn, val, "raw")

    with open(config, encoding="utf-8") as fh:
        adam = yaml.safe_load(fh)["arms"]["adam"]
    adam = arms.Arm({**adam, "epochs": epochs, "patience": epochs})
    fit = arms.fit_arm(adam, scaled, model.init_weights(1), model.ARTICLE)
    out["adam"] = {"epochs": fit.iterations, "compile_s": fit.compile_s,
                   "ms_per_epoch": 1e3 * fit.time_s / max(fit.iterations, 1),
                   "default_device": tf.constant(1.0).device}

    arch = model.Architecture(2, hidden, 2)
    residuals, jacobian, _ = mlp_residuals_batch(raw, arch)
    m = len(raw.x_train) * (1 if paired_softmax(raw, arch) else arch.nout)
    provider = TFProvider(residuals, arch.n_params, m, jacobian=jacobian,
                          device_products=True)
    w0 = model.init_weights(1, arch)
    provider.prepare(w0)
    products = provider.device_products(w0)
    tic = time.perf_counter()
    for _ in range(repeats):
        provider.linearize(w0, provider.residuals(w0), sample_space=False)
    lin_ms = 1e3 * (time.perf_counter() - tic) / repeats
    res = least_squares_batch(provider, w0[None], max_iter=1, step_space="parameters",
                              damping="marquardt", scaling="identity", gtol=0.0, ftol=0.0,
                              xtol=0.0, progress=lambda info: False)[0]
    out["lm"] = {"hidden": hidden, "n_params": arch.n_params, "m": provider.m,
                 "provider": provider.device,
                 "product_devices": sorted({t.device for t in products}),
                 "linearize_ms": lin_ms, "iteration_ms": 1e3 * res.time_s,
                 "compile_s": provider.compile_s, "status": res.status.name,
                 "ssq": [float(res.history["ssq"][0]), float(res.ssq)],
                 "finite": bool(np.isfinite(res.x).all())}
    return out


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cpu", action="store_true",
                        help="without a GPU, run the same code on the CPU (checks the script)")
    args = parser.parse_args(argv)
    found = check(args.hidden, args.epochs, args.repeats, cpu=args.cpu)
    print(json.dumps(found, indent=2, default=str))
    if not found["gpus"]:
        print("no GPU visible to TensorFlow: the GPU paths were NOT run"
              + (" (ran on the CPU, --cpu)" if args.cpu else ""), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
