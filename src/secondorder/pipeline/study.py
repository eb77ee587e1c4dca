"""The robustness study: many initial weights per arm, both kinds of inputs.

Each job trains one arm on one kind of inputs (``raw`` or ``scaled``) from a block of
initial-weight seeds (the article's recipe, ``np.random.seed(s)`` then U(low, high);
seed 1 is the article's), batched where the optimizer allows it, and scores every fit.
A fit that fails, or a batch that raises, becomes rows with their status: the study
goes on.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from secondorder.optim import arms
from secondorder.optim.arms import Arm
from secondorder.optim.fit_result import FitResult
from secondorder.pipeline.evaluate import metrics
from secondorder.problem.data import Problem
from secondorder.problem.model import Architecture, init_weights

log = logging.getLogger(__name__)

#: Columns of a study job's table (and of the study rows of ``fits.csv``).
COLUMNS = ("arm", "optimizer", "init_seed", "inputs", "accuracy_all", "accuracy_train",
           "accuracy_val", "ssq_train", "ssq_val", "iterations", "evaluations", "time_s",
           "batch_wall_s", "batch_size", "compile_s", "status", "message")


def seed_blocks(n_inits: int, per_job: int, first: int = 1) -> list[str]:
    """Names of the blocks of seeds ``first .. first + n_inits - 1``, ``per_job`` each:
    ``"1-25"``, ``"26-50"``, ..."""
    if n_inits < 1 or per_job < 1:
        raise ValueError(f"n_inits and per_job must be >= 1, got {n_inits}, {per_job}")
    last = first + n_inits - 1
    return [f"{a}-{min(a + per_job - 1, last)}" for a in range(first, last + 1, per_job)]


def block_seeds(block: str) -> list[int]:
    """The seeds of a block name from :func:`seed_blocks`."""
    match = re.fullmatch(r"(\d+)-(\d+)", block) if isinstance(block, str) else None
    if not match or int(match[1]) > int(match[2]):
        raise ValueError(f"a seed block looks like '1-25', got {block!r}")
    return list(range(int(match[1]), int(match[2]) + 1))


def study_arm(arm: Arm, study: dict | None) -> Arm:
    """The arm as the study trains it: itself, but for an LM arm the study's
    ``lm_jacobian`` when set (the same Jacobian computed another way: the numbers agree
    to rounding, the cost does not)."""
    jacobian = (study or {}).get("lm_jacobian")
    if arm.optimizer == "lm" and jacobian:
        return arm.replace(jacobian=jacobian)
    return arm


def train_block(arm: Arm, problem: Problem, seeds, arch: Architecture, *, low=-0.1,
                high=0.1, progress=None) -> list[FitResult | Exception]:
    """Train ``arm`` (an :class:`~secondorder.optim.arms.Arm`, or settings checked here,
    once) from each seed's initial weights; one result (or the exception that stopped
    that fit) per seed, in order. Fits train together where the optimizer allows it
    (:func:`secondorder.optim.arms.batches`); a batch that fails is retried fit by fit."""
    arm = arms.as_arm(arm)
    W0 = np.stack([init_weights(s, arch, low, high) for s in seeds])
    try:
        if arms.batches(arm):
            return arms.train(arm, problem, W0, arch, progress)
    except Exception as err:  # a failed batch: retry its fits one by one below
        log.exception("batched %s failed; training its fits one by one", arm.optimizer)
        if len(W0) == 1:
            return [err]
    results = []
    for seed, w0 in zip(seeds, W0):
        try:
            results.extend(arms.train(arm, problem, w0[None], arch, progress))
        except Exception as err:
            log.exception("fit from seed %s failed", seed)
            results.append(err)
        if progress:  # fits one after another: the job's progress counts fits
            progress({"fits_done": len(results), "fits": len(seeds)})
    return results


def rows(arm_name: str, arm: Arm, problem: Problem, seeds, results,
         arch: Architecture) -> pd.DataFrame:
    """One row per fit: its scores on ``problem`` and the optimizer's summary (times:
    ``time_s`` the fit's own compute, ``batch_wall_s`` and ``batch_size`` its batch's;
    :class:`~secondorder.optim.fit_result.FitResult`)."""
    out = []
    for seed, res in zip(seeds, results):
        row = {"arm": arm_name, "optimizer": arm["optimizer"], "init_seed": seed,
               "inputs": problem.inputs}
        if isinstance(res, Exception):
            row.update(status="error", message=f"{type(res).__name__}: {res}")
        else:
            scores, _ = metrics(problem, res.weights, arch)
            row.update({k: scores[k] for k in COLUMNS if k in scores})
            row.update(iterations=res.iterations, evaluations=res.evaluations,
                       time_s=res.time_s, batch_wall_s=res.batch_wall_s,
                       batch_size=res.batch_size, compile_s=res.compile_s,
                       status=res.status, message=res.message)
        out.append(row)
    frame = pd.DataFrame(out, columns=list(COLUMNS))
    for column in ("iterations", "evaluations", "batch_size"):
        frame[column] = frame[column].astype("Int64")
    return frame


def thin_history(history: pd.DataFrame, points: int) -> pd.DataFrame:
    """About ``points`` rows of a history, log-spaced in iteration (first and last kept),
    enough for median curves without storing every epoch of every fit."""
    if len(history) <= points:
        return history.reset_index(drop=True)
    idx = np.unique(np.geomspace(1, len(history), points).astype(int) - 1)
    return history.iloc[np.union1d(idx, [0, len(history) - 1])].reset_index(drop=True)


def histories(arm_name: str, problem: Problem, seeds, results, points: int) -> pd.DataFrame:
    """Thinned histories of a block in long form (arm, inputs, init_seed, iteration,
    ssq_train, ssq_val, time_s: the fit's own compute so far); loss columns other than
    SSQ are kept under their name."""
    frames = []
    for seed, res in zip(seeds, results):
        if isinstance(res, Exception) or res.history.empty:
            continue
        hist = thin_history(res.history.drop(columns=["mu"], errors="ignore"), points)
        frames.append(hist.assign(arm=arm_name, inputs=problem.inputs, init_seed=seed))
    if not frames:
        return pd.DataFrame(columns=["arm", "inputs", "init_seed", "iteration", "time_s"])
    frame = pd.concat(frames, ignore_index=True)
    first = ["arm", "inputs", "init_seed", "iteration"]
    return frame[first + [c for c in frame.columns if c not in first]]


# --- summaries ---------------------------------------------------------------------------

def robustness(fits: pd.DataFrame, success_accuracy: float = 0.95) -> pd.DataFrame:
    """One row per arm x inputs: fits, successes (accuracy on all points >=
    ``success_accuracy``; a failed fit counts as no success), rate with its 95% Wilson
    interval, median accuracy, the median of the fits' own compute (``time_s``, each
    fit's share of its batch) and of their batches' wall time (``batch_wall_s``)."""
    groups = fits.groupby(["arm", "inputs"], sort=False)
    table = groups.agg(n=("init_seed", "size"),
                       successes=("accuracy_all", lambda a: int((a >= success_accuracy).sum())),
                       median_accuracy=("accuracy_all", "median"),
                       median_time_s=("time_s", "median"),
                       median_batch_wall_s=("batch_wall_s", "median")).reset_index()
    table["rate"] = table["successes"] / table["n"]
    intervals = [binomtest(k, n).proportion_ci(method="wilson")  # Wilson (1927)
                 for k, n in zip(table["successes"], table["n"])]
    table["ci_low"] = [ci.low for ci in intervals]
    table["ci_high"] = [ci.high for ci in intervals]
    return table[["arm", "inputs", "n", "successes", "rate", "ci_low", "ci_high",
                  "median_accuracy", "median_time_s", "median_batch_wall_s"]]


def most_reliable(robust: pd.DataFrame) -> pd.Series:
    """The row of :func:`robustness` with the highest success rate, ties broken by the
    higher median accuracy (the first such row in the table's order)."""
    return robust.sort_values(["rate", "median_accuracy"], ascending=False,
                              kind="stable").iloc[0]


def rate_of(robust: pd.DataFrame, arm: str, inputs: str) -> pd.Series | None:
    """The row of :func:`robustness` of ``arm`` on ``inputs``; None when the study did
    not train that arm on those inputs."""
    row = robust[(robust["arm"] == arm) & (robust["inputs"] == inputs)]
    return None if row.empty else row.iloc[0]


def intervals_apart(a, b) -> int:
    """``+1`` when the 95% Wilson interval of ``a`` (a row of :func:`robustness`) lies
    wholly above that of ``b``, ``-1`` when wholly below, ``0`` when they overlap."""
    return 1 if a.ci_low > b.ci_high else -1 if b.ci_low > a.ci_high else 0


def median_iterations(fits: pd.DataFrame, arm: str, inputs: str) -> float:
    """Median iterations (epochs for a first-order arm) of the study's fits of ``arm`` on
    ``inputs`` (rows of ``fits.csv`` whose ``source`` is ``study``); NaN when none."""
    rows = fits[(fits["source"] == "study") & (fits["arm"] == arm)
                & (fits["inputs"] == inputs)]
    return float(rows["iterations"].median())


def rounding_sensitivity(fits: pd.DataFrame, success_accuracy: float = 0.95) -> pd.DataFrame:
    """How much rounding alone moves outcomes: for each arm trained on ``raw`` and on
    ``raw_reordered`` inputs (the same problem, training rows summed in another order,
    :func:`secondorder.problem.data.reorder_rows`), from the same seeds: fits paired by seed
    (``n``), successes in each order, fits whose success flipped, and the largest
    change of accuracy on all points."""
    columns = ["arm", "n", "successes_raw", "successes_reordered", "flipped",
               "max_accuracy_change"]
    out = []
    for arm, group in fits[fits["inputs"].isin(["raw", "raw_reordered"])].groupby("arm",
                                                                                  sort=False):
        pairs = group.pivot_table(index="init_seed", columns="inputs",
                                  values="accuracy_all", aggfunc="first")
        if "raw_reordered" not in pairs or "raw" not in pairs:
            continue
        pairs = pairs[["raw", "raw_reordered"]].dropna()
        won = pairs >= success_accuracy
        out.append({"arm": arm, "n": len(pairs), "successes_raw": int(won["raw"].sum()),
                    "successes_reordered": int(won["raw_reordered"].sum()),
                    "flipped": int((won["raw"] != won["raw_reordered"]).sum()),
                    "max_accuracy_change": float((pairs["raw"] - pairs["raw_reordered"])
                                                 .abs().max()) if len(pairs) else np.nan})
    return pd.DataFrame(out, columns=columns)


def median_curve(history: pd.DataFrame, x: str, y: str = "ssq_train",
                 points: int = 80) -> pd.DataFrame:
    """Median (and quartiles) over fits of ``y`` against ``x`` (``iteration`` or
    ``time_s``, the fit's own compute) on a common log-spaced grid. Each fit's curve is interpolated in
    ``log x``; past its last point it keeps its final value (a stopped fit stays where
    it stopped)."""
    fits = [g.sort_values(x) for _, g in history.groupby("init_seed") if len(g)]
    positive = history[x][history[x] > 0]
    if not fits or positive.empty:
        return pd.DataFrame(columns=[x, "median", "q25", "q75"])
    grid = np.geomspace(positive.min(), positive.max(), points)
    curves = []
    for g in fits:
        g = g[g[x] > 0]
        if len(g):
            curves.append(np.interp(np.log(grid), np.log(g[x].to_numpy()),
                                    g[y].to_numpy(dtype=float)))
    values = np.vstack(curves)
    return pd.DataFrame({x: grid, "median": np.nanmedian(values, axis=0),
                         "q25": np.nanpercentile(values, 25, axis=0),
                         "q75": np.nanpercentile(values, 75, axis=0)})


def median_curves(history_csvs, y: str = "ssq_train") -> dict:
    """Median curves of ``y`` (with quartiles, :func:`median_curve`) per ``(arm, inputs)``
    against iteration and against each fit's own compute (``time_s``), from the
    study's thinned histories ``history_csvs``: ``{(arm, inputs): {"iteration": frame,
    "time_s": frame}}``. Arms with no ``y`` (trained on another loss) are left out."""
    from secondorder import io

    frames = [io.read_csv(p) for p in history_csvs]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return {}
    history = pd.concat(frames, ignore_index=True)
    curves = {}
    for (arm, inputs), group in history.groupby(["arm", "inputs"], sort=False):
        if y in group and group[y].notna().any():
            group = group.dropna(subset=[y])
            curves[(arm, inputs)] = {x: median_curve(group, x, y)
                                     for x in ("iteration", "time_s")}
    return curves


def weights_of_seed(weights_npys, seed: int) -> dict[tuple[str, str], np.ndarray]:
    """``{(arm, inputs): weights}`` of one seed, from the study's
    ``results/study/<arm>/<inputs>/<block>/weights.npy`` files (rows in seed order)."""
    from pathlib import Path

    out = {}
    for path in map(Path, weights_npys):
        arm, inputs, block = path.parts[-4:-1]
        seeds = block_seeds(block)
        if seed in seeds:
            out[(arm, inputs)] = np.load(path)[seeds.index(seed)]
    return out


def decision_surface(weights, arch: Architecture, scaler: dict, inputs: str, extent=5.5,
                     resolution=120):
    """Probability of class 1 on a grid over the raw plane ``[-extent, extent]^2``; for an
    arm trained on scaled inputs the grid is scaled first. Returns ``((gx, gy), p1)``."""
    from secondorder.problem.data import apply_scaler
    from secondorder.problem.model import mlp_numpy

    axis = np.linspace(-extent, extent, resolution)
    gx, gy = np.meshgrid(axis, axis)
    plane = np.column_stack([gx.ravel(), gy.ravel()])
    if inputs == "scaled":
        plane = apply_scaler(plane, scaler)
    if not np.all(np.isfinite(weights)):
        return (gx, gy), np.full(gx.shape, np.nan)
    return (gx, gy), mlp_numpy(plane, weights, arch, stable=True)[:, 0].reshape(gx.shape)
