"""The cost of growing: one LM iteration and one Adam epoch as the hidden layer grows.

LM forms and factors ``J^T J`` (``n x n`` for ``n`` weights): memory ``O(n^2)`` and
time ``O(m n^2 + n^3)`` per iteration, against ``O(m n)`` for a gradient step; the
article's closing caveat. Each (size, engine) is measured in a fresh Python process,
so its peak resident memory is its own: ``peak_mem_mb`` is the peak RSS above the
process's RSS once TensorFlow is imported and the data are loaded.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys

import numpy as np
import pandas as pd

ENGINES = ("lm_tf", "adam_compiled")
COLUMNS = ("hidden", "n_params", "engine", "device", "ms_per_iter", "peak_mem_mb")


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def measure_here(hidden: int, engine: str, *, iterations: int, repeats: int) -> dict:
    """Time ``iterations`` LM iterations or Adam epochs of the article's problem with
    ``hidden`` units (median of ``repeats``, compilation excluded) in this process."""
    import keras  # noqa: F401  (imported before the baseline RSS is taken)
    import tensorflow as tf  # noqa: F401

    from secondorder import provenance
    from secondorder.problem import data, model

    spiral = data.spiral_data(500)
    trn, val = data.split_indices(500)
    arch = model.Architecture(2, hidden, 2)
    w0 = model.init_weights(1, arch)
    base = _rss_mb()
    times = []
    if engine == "lm_tf":
        from secondorder.optim.lm import least_squares
        from secondorder.optim.lm_network import mlp_residuals

        problem = data.Problem(spiral[:, :2], spiral[:, 2:], trn, val, "raw")
        residuals, jacobian, _ = mlp_residuals(problem, arch)
        for _ in range(repeats):
            # the pipeline's lm arm's rules (trainlm's), not the package defaults
            res = least_squares(residuals, w0, jacobian=jacobian, max_iter=iterations,
                                damping="marquardt", scaling="identity", mu0=1e-3,
                                chunk=iterations, gtol=0.0, ftol=0.0, xtol=0.0,
                                progress=lambda info: None)
            times.append(res.wall_s / max(res.nit, 1))
    elif engine == "adam_compiled":
        from secondorder.optim.first_order import fit_first_order

        scaler = data.article_scaler(spiral[trn, :2])
        problem = data.Problem(data.apply_scaler(spiral[:, :2], scaler), spiral[:, 2:], trn,
                               val, "scaled")
        for _ in range(repeats):
            res = fit_first_order(problem, w0, arch=arch, epochs=iterations,
                                  patience=iterations + 1, chunk=iterations)
            times.append(res.wall_s / res.iterations)
    else:
        raise ValueError(f"unknown engine {engine!r}; expected one of {ENGINES}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"hidden": hidden, "n_params": arch.n_params, "engine": engine,
            "device": provenance.device()["name"], "ms_per_iter": 1000 * statistics.median(times),
            "peak_mem_mb": max(peak - base, 0.0)}


def measure(hidden: int, engine: str, *, iterations: int, repeats: int,
            timeout: float = 900) -> dict:
    """:func:`measure_here` in a fresh process (for its own peak memory)."""
    cmd = [sys.executable, "-m", "secondorder.pipeline.cost_study", "--hidden", str(hidden),
           "--engine", engine, "--iterations", str(iterations), "--repeats", str(repeats)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"measuring {engine} at {hidden} hidden units failed:\n"
                           f"{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def scaling_table(hidden_sizes, *, lm_iterations: int, adam_epochs: int, repeats: int,
                  progress=None) -> pd.DataFrame:
    """Every size with both engines, smallest first."""
    rows = []
    for hidden in sorted(hidden_sizes):
        for engine, iterations in (("lm_tf", lm_iterations), ("adam_compiled", adam_epochs)):
            rows.append(measure(hidden, engine, iterations=iterations, repeats=repeats))
            if progress:
                progress(rows[-1])
    return pd.DataFrame(rows, columns=list(COLUMNS))


def growth_exponents(table: pd.DataFrame, min_params: int = 200) -> dict[str, float]:
    """Least-squares slope of ``log(ms_per_iter)`` against ``log(n_params)`` per engine,
    over the sizes with at least ``min_params`` weights (where fixed overheads no longer
    dominate): time grows like ``n_params ** slope``."""
    out = {}
    for engine, part in table.groupby("engine"):
        part = part[part["n_params"] >= min_params]
        if len(part) >= 2:
            out[engine] = float(np.polyfit(np.log(part["n_params"]),
                                           np.log(part["ms_per_iter"]), 1)[0])
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="measure one (size, engine) point")
    parser.add_argument("--hidden", type=int, required=True)
    parser.add_argument("--engine", choices=ENGINES, required=True)
    parser.add_argument("--iterations", type=int, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    result = measure_here(args.hidden, args.engine, iterations=args.iterations,
                          repeats=args.repeats)
    print(json.dumps(result))


if __name__ == "__main__":
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()


def fit_costs(table: pd.DataFrame, lm_iterations: float, adam_epochs: float) -> pd.DataFrame:
    """Estimated seconds of a whole fit per size: LM at ``lm_iterations`` iterations,
    Adam at ``adam_epochs`` epochs (typical counts, e.g. the study's medians)."""
    wide = table.pivot_table(index="n_params", columns="engine", values="ms_per_iter")
    return pd.DataFrame({"n_params": wide.index,
                         "lm_fit_s": wide["lm_tf"].to_numpy() * lm_iterations / 1000,
                         "adam_fit_s": wide["adam_compiled"].to_numpy() * adam_epochs / 1000})


def crossover(costs: pd.DataFrame) -> float | None:
    """Number of weights at which an LM fit stops being cheaper than an Adam fit
    (log-log interpolation between the measured sizes); ``None`` when LM is cheaper at
    every size measured, ``0`` when it is never cheaper."""
    ratio = np.log(costs["lm_fit_s"].to_numpy() / costs["adam_fit_s"].to_numpy())
    n = np.log(costs["n_params"].to_numpy())
    if ratio[0] >= 0:
        return 0.0
    above = np.nonzero(ratio >= 0)[0]
    if not len(above):
        return None
    i = above[0]
    return float(np.exp(n[i - 1] + (n[i] - n[i - 1]) * -ratio[i - 1] / (ratio[i] - ratio[i - 1])))
