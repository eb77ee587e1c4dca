"""Record the compiled TensorFlow LM engine's iterates as reference values.

Run once, at main 55f5e5c (the last commit with the compiled while-loop engine,
``secondorder.optim.lm.engine``), before that engine was replaced by the host loop:

    python tests/reference/record_lm_reference.py tests/reference/lm_reference.json.gz

It cannot be rerun against later commits (the engine it calls is gone); the file it
wrote is what ``tests/test_lm_reference.py`` compares the host loop with. Recorded:

* the article's problem (two spirals, 2-25-2, raw inputs, the shared init, seed 1):
  1000 iterations of the ``lm`` arm's options (Marquardt, ``D = I``, ``mu0 = 1e-3``)
  and of the package defaults (Nielsen, ``jtj_diag``), convergence tests as the arm
  runs them, validation SSQ recorded: the SSQ, validation SSQ, ``mu`` and acceptance of
  every iteration, the final weights, the status and counts;
* every Moré-Garbow-Hillstrom problem from ``x0``, ``10 x0``, ``100 x0`` (one batch)
  with each damping x scaling and MINPACK's budget ``100 (n + 1)``, as
  ``snakemake lm_robustness`` runs them: status, counts, the final point and the SSQ of
  every iteration.
"""

import gzip
import json
import sys
import time

import numpy as np


def article_runs():
    from secondorder.optim.lm import least_squares_batch
    from secondorder.optim.lm_network import mlp_residuals_batch
    from secondorder.problem import data, model

    spiral = data.spiral_data(500)
    trn, val = data.split_indices(500)
    problem = data.Problem(spiral[:, :2], spiral[:, 2:], trn, val, "raw")
    w0 = model.init_weights(1, model.ARTICLE)
    residuals, jacobian, validation = mlp_residuals_batch(problem, model.ARTICLE)
    out = {}
    for label, options in {"marquardt/identity": dict(damping="marquardt", scaling="identity"),
                           "nielsen/jtj_diag": dict(damping="nielsen", scaling="jtj_diag")}.items():
        res = least_squares_batch(residuals, w0[None], jacobian=jacobian,
                                  validation=validation, max_iter=1000, mu0=1e-3,
                                  progress=lambda info: False, **options)[0]
        h = res.history
        out[label] = {"status": res.status.name, "nit": res.nit, "nfev": res.nfev,
                      "njev": res.njev, "x": res.x.tolist(),
                      "ssq": h["ssq"].tolist(), "val_ssq": h["val_ssq"].tolist(),
                      "mu": h["mu"].tolist(), "accepted": h["accepted"].astype(int).tolist()}
        print(label, res.status.name, res.nit, res.ssq, flush=True)
    return out


def mgh_runs():
    from secondorder.pipeline import lm_robustness as bench
    from secondorder.problem.mgh import PROBLEMS

    out = {}
    for name, problem in PROBLEMS.items():
        X0 = np.stack([s * problem.x0 for s in bench.STARTS])
        for label, options in bench.LM_OPTIONS.items():
            tic = time.perf_counter()
            results = bench.run_lm(problem, X0, options, max_iter=bench.budget(problem.n),
                                   jit_compile=True)
            for start, res in zip(bench.STARTS, results):
                out[f"{name}|{start}|{label}"] = {
                    "status": res.status.name, "nit": res.nit, "nfev": res.nfev,
                    "njev": res.njev, "x": res.x.tolist(), "ssq": res.history["ssq"].tolist()}
            print(name, label, [r.status.name for r in results],
                  f"{time.perf_counter() - tic:.1f} s", flush=True)
    return out


if __name__ == "__main__":
    import subprocess

    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    record = {"commit": commit, "engine": "compiled TensorFlow while-loop (optim/lm/engine.py)",
              "article": article_runs(), "mgh": mgh_runs()}
    with gzip.open(sys.argv[1], "wt") as fh:
        json.dump(record, fh)
