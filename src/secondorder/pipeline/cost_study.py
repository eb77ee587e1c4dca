"""The cost of growing: one LM iteration and one Adam epoch as the hidden layer grows.

LM forms and factors ``J^T J`` (``n x n`` for ``n`` weights): memory ``O(n^2)`` and
time ``O(m n^2 + n^3)`` per iteration, against ``O(m n)`` for a gradient step; the
article's closing caveat. Each engine is measured in a fresh Python process, its sizes
one after the other (:func:`measure`; its libraries imported once: TensorFlow, except
for the closed-form LM, which needs none). ``peak_mem_mb`` is a size's own: the peak
resident memory during its measurement above the resident memory at its start.

The floor (:func:`floor_cost`): the least linear algebra one LM iteration of that size
must do, one dense Gram matrix of a Jacobian of the LM's shape and one Cholesky
factorisation of it, timed with scipy's BLAS/LAPACK in a fresh process run as the
engines' are (:func:`measure_floors`). With
``m`` residuals and ``n`` weights it is ``JᵀJ`` (``n x n``) when ``n <= m``, else
``JJᵀ`` (``m x m``, the sample-space form). :func:`within_floor` compares each size's
LM iteration with it (goal: at most :data:`FLOOR_FACTOR` times the floor). Our LM
solves in sample space when ``n > m`` (``step_space="auto"``), so it forms the same
Gram matrix as the floor at every size; on top of it an iteration evaluates the
residuals and, when the step is taken, the Jacobian.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: What is timed: an LM iteration with the TensorFlow Jacobian (the ``lm`` arm's) or the
#: closed-form numpy one, and an epoch of the compiled Adam loop.
ENGINES = ("lm_tf", "lm_closed_form", "adam_compiled")
LM_ENGINES = {"lm_tf": "tf", "lm_closed_form": "closed_form"}
#: Columns of the scaling table. ``floor_ms`` and ``floor_kind`` are the size's floor
#: (:func:`floor_cost`, the same on every engine's rows); ``lm_vs_floor`` is the LM's
#: ``ms_per_iter / floor_ms`` (on the LM rows; NaN on the Adam row).
COLUMNS = ("hidden", "n_params", "engine", "device", "ms_per_iter", "peak_mem_mb",
           "floor_ms", "floor_kind", "lm_vs_floor")

#: The goal on the cost of one LM iteration: at most this many times the floor.
FLOOR_FACTOR = 1.5


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def _peak_rss_mb() -> float:
    """The process's peak resident memory since the last :func:`_reset_peak_rss`
    (Linux ``VmHWM``), MB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _reset_peak_rss() -> float:
    """Reset the kernel's high-water mark of resident memory to the current RSS (Linux
    >= 4.0: ``echo 5 > /proc/self/clear_refs``) and return that RSS, MB: a later
    :func:`_peak_rss_mb` is then the peak of what follows."""
    import ctypes
    import gc

    gc.collect()
    try:  # hand freed heap memory back to the kernel, so that it is not reused unseen
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    return _rss_mb()


def measure_here(hidden: int, engine: str, *, iterations: int, repeats: int) -> dict:
    """Time ``iterations`` LM iterations or Adam epochs of the article's problem with
    ``hidden`` units in this process: one run of ``repeats`` chunks of ``iterations``,
    compiled once (compilation apart), and the median time per iteration of the chunks
    (:func:`chunk_ms`). The LM runs the ``lm`` arm's default options with no
    convergence test, so every iteration runs; its ``device`` is its provider's.
    ``peak_mem_mb`` is the process's peak RSS during the measurement above its RSS at
    the start (the engine's libraries and the data loaded; :func:`_reset_peak_rss`)."""
    from secondorder.problem import data, model

    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of {ENGINES}")
    if engine != "lm_closed_form":  # imported before the baseline RSS is taken
        import keras  # noqa: F401
        import tensorflow as tf  # noqa: F401
    spiral = data.spiral_data(500)
    trn, val = data.split_indices(500)
    arch = model.Architecture(2, hidden, 2)
    w0 = model.init_weights(1, arch)
    base = _reset_peak_rss()
    total = iterations * repeats
    if engine in LM_ENGINES:
        from secondorder.optim.lm import least_squares_batch
        from secondorder.optim.lm_network import lm_provider
        from secondorder.pipeline.bench import lm_options

        problem = data.Problem(spiral[:, :2], spiral[:, 2:], trn, val, "raw")
        provider = lm_provider(problem, arch, LM_ENGINES[engine], validation=False)
        # an lm arm's default options (Nielsen's rule, D = I), not the package defaults; no
        # convergence test, so every chunk runs in full
        options = {k: v for k, v in lm_options(None).items() if k != "jacobian"}
        res = least_squares_batch(provider, w0[None], max_iter=total, **options,
                                  chunk=iterations, gtol=0.0, ftol=0.0, xtol=0.0,
                                  progress=lambda info: None)[0]
        ends = res.history["time_s"][iterations::iterations]  # [0]: after init
        start = res.history["time_s"][0]
        device = provider.device
    else:
        from secondorder import provenance
        from secondorder.optim.first_order import fit_first_order

        scaler = data.article_scaler(spiral[trn, :2])
        problem = data.Problem(data.apply_scaler(spiral[:, :2], scaler), spiral[:, 2:], trn,
                               val, "scaled")
        res = fit_first_order(problem, w0, arch=arch, epochs=total, patience=total + 1,
                              chunk=iterations)
        ends = res.history["time_s"].to_numpy()[iterations - 1::iterations]  # alone: wall
        start = 0.0
        device = provenance.device()["name"]
    peak = _peak_rss_mb()
    return {"hidden": hidden, "n_params": arch.n_params, "engine": engine,
            "device": device,
            "ms_per_iter": chunk_ms(start, ends, iterations),
            "peak_mem_mb": max(peak - base, 0.0)}


def chunk_ms(start: float, ends, iterations: int) -> float:
    """Median milliseconds per iteration over chunks of ``iterations``, from the time
    the chunks started (``start``) and the times each ended (``ends``, seconds on the
    same clock; a run's history times are exact at chunk ends). The median drops the
    first chunk's one-off costs (kernels set up on first use) when there are 3 or more."""
    ends = np.asarray(ends, dtype=float)
    if ends.size == 0:
        raise ValueError("no complete chunk was timed")
    durations = np.diff(np.concatenate([[start], ends]))
    return 1000 * float(np.median(durations)) / iterations


# --- the floor: one Gram matrix and one Cholesky -------------------------------------------

def lm_shape(hidden: int) -> tuple[int, int]:
    """``(m, n)``: residuals and weights of the LM that :func:`measure_here` times at
    ``hidden`` units. ``m`` counts the residuals the engine really uses: one per
    training sample when the two softmax outputs are paired
    (:func:`secondorder.optim.lm_network.paired_softmax`, the article's problem:
    ``m = 400``), else ``N * nout``; ``n = 5 * hidden + 2`` for a 2-h-2 perceptron."""
    from secondorder.optim.lm_network import paired_softmax
    from secondorder.problem import data, model

    spiral = data.spiral_data(500)
    trn, val = data.split_indices(500)
    arch = model.Architecture(2, hidden, 2)
    problem = data.Problem(spiral[:, :2], spiral[:, 2:], trn, val, "raw")
    per_sample = 1 if paired_softmax(problem, arch) else arch.nout
    return len(problem.x_train) * per_sample, arch.n_params


def floor_kind(m: int, n: int) -> str:
    """``"JtJ"`` (``n x n``) when ``n <= m``, ``"JJt"`` (``m x m``) when there are more
    weights than residuals: the smaller Gram matrix."""
    return "JJt" if n > m else "JtJ"


def gram_cholesky(J: np.ndarray) -> np.ndarray:
    """The floor's work on ``J`` ``(m, n)``: the smaller Gram matrix (``JᵀJ`` by BLAS
    ``dsyrk``, or ``JJᵀ`` when ``n > m``) plus the identity, then its Cholesky factor
    (LAPACK ``potrf``): upper-triangular ``R`` with ``RᵀR = G + I``. ``J`` in Fortran
    order avoids a copy."""
    import scipy.linalg
    from scipy.linalg.blas import dsyrk

    m, n = J.shape
    gram = dsyrk(1.0, J, trans=0 if floor_kind(m, n) == "JJt" else 1)  # upper triangle
    gram[np.diag_indices_from(gram)] += 1.0
    return scipy.linalg.cholesky(gram, lower=False, overwrite_a=True, check_finite=False)


def floor_cost(m: int, n: int, *, repeats: int = 5, min_time: float = 0.05,
               seed: int = 0) -> dict:
    """Milliseconds of the floor for ``m`` residuals and ``n`` weights: one
    :func:`gram_cholesky` of a random float64 ``J`` ``(m, n)`` (Fortran order, made once
    and not timed; one warm-up call). Each of ``repeats`` timings calls it back to back
    until ``min_time`` seconds have passed and keeps the time per call; ``floor_ms`` is
    the median over the repeats (the study's rule for the LM: median of repeats), so a
    stall of a shared machine moves one repeat, not the result. Returns ``m, n,
    floor_kind, floor_ms, calls`` (calls timed in all).

    BLAS runs with the threads of this process, like the engines' processes, which
    inherit its environment (Snakemake sets ``OPENBLAS_NUM_THREADS`` and
    ``OMP_NUM_THREADS`` to the rule's ``threads``: 1 for the scaling rule).
    Multithreaded OpenBLAS on an oversubscribed machine can be many times slower
    (measured: 24 ms instead of 0.46 ms at 25 hidden units on 2 busy cores)."""
    import time

    if m < 1 or n < 1:
        raise ValueError(f"m and n must be positive, got m={m}, n={n}")
    J = np.asfortranarray(np.random.default_rng(seed).standard_normal((m, n)))
    gram_cholesky(J)  # warm-up: first-call overheads (BLAS threads, workspace)
    times, total = [], 0
    for _ in range(max(int(repeats), 1)):
        calls, tic = 0, time.perf_counter()
        while True:
            gram_cholesky(J)
            calls += 1
            elapsed = time.perf_counter() - tic
            if elapsed >= min_time:
                break
        times.append(elapsed / calls)
        total += calls
    return {"m": m, "n": n, "floor_kind": floor_kind(m, n), "calls": total,
            "floor_ms": 1000 * statistics.median(times)}


def within_floor(table: pd.DataFrame, factor: float = FLOOR_FACTOR,
                 engine: str = "lm_tf") -> pd.DataFrame:
    """Per size, whether one LM iteration of ``engine`` costs at most ``factor`` times
    the floor: columns ``hidden, n_params, ms_per_iter, floor_ms, floor_kind,
    lm_vs_floor, met`` from that engine's rows of a scaling table, smallest first.
    ``lm_vs_floor`` is ``ms_per_iter / floor_ms``; ``met`` is ``None`` where either
    time is missing."""
    lm = table[table["engine"] == engine].sort_values("n_params")
    ratio = lm["ms_per_iter"].to_numpy(dtype=float) / lm["floor_ms"].to_numpy(dtype=float)
    met = [None if not np.isfinite(r) else bool(r <= factor) for r in ratio]
    return pd.DataFrame({"hidden": lm["hidden"].to_numpy(),
                         "n_params": lm["n_params"].to_numpy(),
                         "ms_per_iter": lm["ms_per_iter"].to_numpy(dtype=float),
                         "floor_ms": lm["floor_ms"].to_numpy(dtype=float),
                         "floor_kind": lm["floor_kind"].to_numpy(), "lm_vs_floor": ratio,
                         "met": pd.Series(met, dtype=object)})


def measure(hidden_sizes, engine: str, *, iterations: int, repeats: int,
            timeout: float = 1800) -> list[dict]:
    """:func:`measure_here` of every size, smallest first, in one fresh process per
    engine (TensorFlow imported once). Each size's ``peak_mem_mb`` is its own: the peak
    resident memory during its measurement above the resident memory at its start (the
    kernel's high-water mark is reset there, :func:`_reset_peak_rss`); the first size's
    also holds first-use allocations, as a fresh process's would."""
    sizes = sorted(hidden_sizes)
    return _child(["--engine", engine, "--iterations", str(iterations),
                   "--repeats", str(repeats), "--hidden", *map(str, sizes)],
                  f"measuring {engine} at {sizes} hidden units", len(sizes), timeout)


def measure_floors(hidden_sizes, *, repeats: int, timeout: float = 1800) -> dict:
    """:func:`floor_cost` of every size's LM shape (:func:`lm_shape`), in a fresh
    process run as the engines' are: ``{hidden: floor}``."""
    sizes = sorted(hidden_sizes)
    rows = _child(["--floor", "--repeats", str(repeats), "--hidden", *map(str, sizes)],
                  f"timing the floor at {sizes} hidden units", len(sizes), timeout)
    return dict(zip(sizes, rows))


def _child(args, what: str, lines: int, timeout: float) -> list[dict]:
    """Run this module in a fresh process and read its last ``lines`` JSON lines.

    The process runs with glibc's defaults: the pipeline fixes the mmap threshold
    (``MALLOC_MMAP_THRESHOLD_``, for bit-repeatable jobs), which makes every large
    array a fresh ``mmap`` with its page faults (measured: up to 2x the time of an LM
    iteration at 250-1000 weights), and fills freed blocks (``MALLOC_PERTURB_``, for
    MINPACK: :mod:`secondorder.optim.minpack_memory`); the cost study times what a
    user's process pays."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_PERTURB_")}
    cmd = [sys.executable, "-m", "secondorder.pipeline.cost_study", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{proc.stderr[-3000:]}")
    return [json.loads(line) for line in proc.stdout.strip().splitlines()[-lines:]]


def scaling_table(hidden_sizes, *, lm_iterations: int, adam_epochs: int, repeats: int,
                  progress=None) -> pd.DataFrame:
    """Every size with both engines, smallest first, and the size's floor
    (:func:`floor_cost` of the LM's shape, :func:`lm_shape`, timed in this process
    with ``repeats`` repeats; columns in :data:`COLUMNS`)."""
    sizes = sorted(hidden_sizes)
    floors = measure_floors(sizes, repeats=repeats)
    measured = {}
    for engine in ENGINES:
        iterations = lm_iterations if engine in LM_ENGINES else adam_epochs
        for row in measure(sizes, engine, iterations=iterations, repeats=repeats):
            floor = floors[row["hidden"]]
            row.update(floor_ms=floor["floor_ms"], floor_kind=floor["floor_kind"],
                       lm_vs_floor=(row["ms_per_iter"] / floor["floor_ms"]
                                    if engine in LM_ENGINES else float("nan")))
            measured[(row["hidden"], engine)] = row
            if progress:
                progress(row)
    rows = [measured[(hidden, engine)] for hidden in sizes for engine in ENGINES]
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


# --- a whole fit, and what the measurements say on paper ------------------------------------

#: The engines whose cost per iteration stands for a fit's (:func:`fit_costs`): LM with
#: the ``lm`` arm's TensorFlow Jacobian, and the compiled Adam loop.
FIT_ENGINES = {"lm": "lm_tf", "adam": "adam_compiled"}


def fit_costs(table: pd.DataFrame, lm_iterations: float, adam_epochs: float) -> pd.DataFrame:
    """Estimated seconds of a whole fit per size: LM (:data:`FIT_ENGINES`) at
    ``lm_iterations`` iterations, Adam at ``adam_epochs`` epochs (typical counts, e.g.
    the study's medians)."""
    wide = table.pivot_table(index="n_params", columns="engine", values="ms_per_iter")
    return pd.DataFrame({
        "n_params": wide.index,
        "lm_fit_s": wide[FIT_ENGINES["lm"]].to_numpy() * lm_iterations / 1000,
        "adam_fit_s": wide[FIT_ENGINES["adam"]].to_numpy() * adam_epochs / 1000})


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


@dataclass(frozen=True)
class FitCostEstimate:
    """What the scaling table says about whole fits: the table itself, the growth
    exponents (:func:`growth_exponents`), the estimated seconds per fit at each size
    (:func:`fit_costs`) with the fit lengths assumed (``lm_iterations``,
    ``adam_epochs``) and the crossover (:func:`crossover`)."""

    table: pd.DataFrame
    exponents: dict
    costs: pd.DataFrame
    crossover: float | None
    lm_iterations: float
    adam_epochs: float


def estimate_fits(table: pd.DataFrame, lm_iterations: float,
                  adam_epochs: float) -> FitCostEstimate:
    """:class:`FitCostEstimate` of a scaling table for fits of ``lm_iterations`` LM
    iterations and ``adam_epochs`` Adam epochs."""
    costs = fit_costs(table, lm_iterations, adam_epochs)
    return FitCostEstimate(table, growth_exponents(table), costs, crossover(costs),
                           float(lm_iterations), float(adam_epochs))


def lm_flops(m, n):
    """Floating-point operations of one LM iteration's products with ``m`` residuals and
    ``n`` weights: ``2 m n min(m, n)``, the Gram matrix of the smaller side (``JᵀJ``,
    or ``J D⁻² Jᵀ`` in sample space when ``n > m``; its Cholesky and the other
    products are of lower order while ``min(m, n)`` is small beside the other)."""
    m, n = np.asarray(m, dtype=float), np.asarray(n, dtype=float)
    return 2.0 * m * n * np.minimum(m, n)


@dataclass(frozen=True)
class Datasheet:
    """A GPU's figures as its maker publishes them, for estimates on paper; never a
    measurement."""

    name: str
    fp64_flops: float
    memory_bytes: float
    source: str

    def largest_gram(self, matrices: int = 4) -> int:
        """The most weights ``n`` for which ``matrices`` float64 ``n x n`` matrices fit
        in its memory (one LM row in parameter space holds four: ``JᵀJ`` at the state
        and at the trial point, the damped matrix and its Cholesky factor; the
        Jacobian aside)."""
        return int(np.sqrt(self.memory_bytes / (8 * matrices)))


#: The one GPU the article estimates on paper (the suite's LM cost): 67 TFLOP/s of FP64
#: on the tensor cores and 80 GB of memory.
H100 = Datasheet("NVIDIA H100 SXM", fp64_flops=67e12, memory_bytes=80e9,
                 source="NVIDIA H100 Tensor Core GPU datasheet (SXM5: FP64 Tensor Core "
                        "67 teraFLOPS, 80 GB HBM3)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="measure one engine at some sizes")
    parser.add_argument("--hidden", type=int, nargs="+", required=True)
    parser.add_argument("--engine", choices=ENGINES)
    parser.add_argument("--floor", action="store_true", help="time the floor instead")
    parser.add_argument("--iterations", type=int)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.floor:
        for hidden in sorted(args.hidden):
            print(json.dumps(floor_cost(*lm_shape(hidden), repeats=args.repeats)),
                  flush=True)
        return
    for hidden in sorted(args.hidden):  # one JSON line per size, in order
        result = measure_here(hidden, args.engine, iterations=args.iterations,
                              repeats=args.repeats)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()

