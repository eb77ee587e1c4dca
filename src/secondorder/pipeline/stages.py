"""One function per pipeline stage, from input files to output files.

Snakemake scripts (``workflow/scripts/``) only unpack ``snakemake.input``/``output``/
``params`` and call these; the numerics they use live in the other modules.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from secondorder import io, provenance
from secondorder.pipeline import evaluate
from secondorder.problem import data, model
from secondorder.optim.fit_result import FitResult

log = logging.getLogger(__name__)


# --- data ------------------------------------------------------------------------------

def make_spirals(out_csv, n_samples: int) -> None:
    """``spirals.csv``: x, y and class (1 or 2) of the article's generator."""
    spiral = data.spiral_data(n_samples)
    frame = pd.DataFrame({"x": spiral[:, 0], "y": spiral[:, 1],
                          "class": data.class_labels(spiral[:, 2:])})
    io.write_csv(out_csv, frame)
    log.info("wrote %d points to %s", len(frame), out_csv)


def read_spirals(path):
    """Inputs ``(n, 2)`` and one-hot targets ``(n, 2)`` from ``spirals.csv``."""
    frame = io.read_csv(path)
    return frame[["x", "y"]].to_numpy(), data.one_hot(frame["class"].to_numpy())


def split_scale(spirals_csv, split_json, scaler_json, scaled_csv, *, train_fraction,
                split_seed, scale_min, scale_max, swap_min_max) -> None:
    """The article's split, then its scaling fitted on the training rows."""
    x, y = read_spirals(spirals_csv)
    trn, val = data.split_indices(len(x), train_fraction, split_seed)
    io.write_json(split_json, {"seed": split_seed, "train_fraction": train_fraction,
                               "n_train": len(trn), "n_validation": len(val),
                               "train": trn, "validation": val,
                               "note": "train in the order np.random.choice drew it"})
    scaler = data.article_scaler(x[trn], scale_min, scale_max, swap_min_max)
    scaler["fitted_on"] = "training rows"
    io.write_json(scaler_json, scaler)
    scaled = data.apply_scaler(x, scaler)
    subset = np.full(len(x), "train", dtype=object)
    subset[val] = "validation"
    io.write_csv(scaled_csv, pd.DataFrame({"x": scaled[:, 0], "y": scaled[:, 1],
                                           "class": data.class_labels(y), "set": subset}))


def make_shared_init(out_npy, out_json, *, seed, low, high, hidden) -> None:
    """``shared_init.npy`` (the flat weight vector every arm starts from) and its JSON."""
    arch = model.Architecture(2, hidden, 2)
    ws = model.init_weights(seed, arch, low, high)
    io.write_npy(out_npy, ws)
    io.write_json(out_json, {
        "sha256": io.sha256(out_npy), "seed": seed, "low": low, "high": high,
        "n_params": arch.n_params, "architecture": arch.name,
        "packing": ("one Fortran-order (fan_in+1) x fan_out block per layer, input to "
                    "output; the last row of each block is the bias")})


def load_problem(spirals_csv, scaled_csv, split_json, inputs: str) -> data.Problem:
    """The training problem an arm sees: raw, scaled or standardised inputs with the
    shared split (``raw_reordered``: raw inputs, training rows in another order,
    :func:`secondorder.problem.data.reorder_rows`; ``standardised``: zero mean and unit
    variance on the training rows, :func:`secondorder.problem.datasets.standardise`)."""
    x, y = read_spirals(spirals_csv)
    if inputs == "scaled":
        x = io.read_csv(scaled_csv)[["x", "y"]].to_numpy()
    split = io.read_json(split_json)
    train = np.asarray(split["train"])
    if inputs == "standardised":
        from secondorder.problem.datasets import standardise

        x = standardise(x, train)[0]
    if inputs == "raw_reordered":
        train = data.reorder_rows(train)
    return data.Problem(x, y, train, np.asarray(split["validation"]), inputs)


def load_init(init_npy, arch: model.Architecture) -> np.ndarray:
    return model.check_flat(io.read_npy(init_npy), arch)


# --- training ----------------------------------------------------------------------------

def train(arm_name: str, arm, *, problem: data.Problem, ws0, arch, init_seed,
          init_sha256, out_weights, out_history, out_fit) -> FitResult:
    """Run one arm (an :class:`secondorder.optim.arms.Arm`, as the config holds them)
    from ``ws0`` and write weights, history and ``fit.json``."""
    from secondorder.optim.arms import fit_arm

    started = provenance.now()
    result = fit_arm(arm, problem, ws0, arch)
    io.write_npy(out_weights, result.weights)
    io.write_csv(out_history, result.history)
    io.write_json(out_fit, {"arm": arm_name, "settings": arm, "inputs": problem.inputs,
                            "init_seed": init_seed, "init_sha256": init_sha256,
                            "started": started, "finished": provenance.now(),
                            **result.summary(), **provenance.environment(with_device=True)})
    log.info("%s: %s after %s iterations, %.2f s of its own compute (%s)", arm_name,
             result.status, result.iterations, result.time_s, result.message)
    return result


# --- evaluation --------------------------------------------------------------------------

def evaluate_fits(fit_jsons, weights_npys, *, spirals_csv, scaled_csv, split_json, arch,
                  out_metrics, out_predictions) -> None:
    """:func:`evaluate_fit` for every fit of the article, each on the inputs its arm was
    trained on (its ``fit.json`` says which); the lists run in parallel, one entry per
    arm."""
    lists = (fit_jsons, weights_npys, out_metrics, out_predictions)
    if len({len(x) for x in lists}) != 1:
        raise ValueError("fit_jsons, weights_npys, out_metrics and out_predictions must "
                         f"name one file per arm each, got {[len(x) for x in lists]}")
    for fit_json, weights_npy, metrics_json, predictions_csv in zip(*lists):
        problem = load_problem(spirals_csv, scaled_csv, split_json,
                               io.read_json(fit_json)["inputs"])
        evaluate_fit(fit_json, weights_npy, problem=problem, arch=arch,
                     out_metrics=metrics_json, out_predictions=predictions_csv)


def evaluate_fit(fit_json, weights_npy, *, problem: data.Problem, arch, out_metrics,
                 out_predictions) -> None:
    """``metrics.json`` (accuracies, SSQs, confusion matrices) and ``predictions.csv`` of
    one fit on ``problem``."""
    fit = io.read_json(fit_json)
    scores, pred = evaluate.metrics(problem, io.read_npy(weights_npy), arch)
    io.write_json(out_metrics, {"arm": fit["arm"], "inputs": fit["inputs"],
                                "init_seed": fit["init_seed"], **scores})
    io.write_csv(out_predictions, pred)
    log.info("%s: accuracy all %.3f, train %.3f, val %.3f", fit["arm"],
             scores["accuracy_all"], scores["accuracy_train"], scores["accuracy_val"])


#: Columns of ``fits.csv``, in order: every fit, the article's and the study's. Times
#: (:class:`~secondorder.optim.fit_result.FitResult`): ``time_s`` the fit's own compute
#: (its share of its batch), ``batch_wall_s`` and ``batch_size`` its batch's wall time
#: and number of fits, ``compile_s`` the batch's compilation.
FITS_COLUMNS = ("source", "arm", "optimizer", "init_seed", "inputs", "accuracy_all",
                "accuracy_train", "accuracy_val", "ssq_train", "ssq_val", "iterations",
                "evaluations", "time_s", "batch_wall_s", "batch_size", "compile_s",
                "status", "message", "device")


def summarize(fit_jsons, metrics_jsons, out_csv, *, study_csvs=(), out_robustness=None,
              out_rounding=None, success_accuracy=0.95) -> pd.DataFrame:
    """``fits.csv``: one row per fit of the article (``source`` = article) and of the
    study (``source`` = study); with ``out_robustness``, the study's success rates; with
    ``out_rounding``, how far reordering the training rows moved them."""
    from secondorder.pipeline.study import robustness, rounding_sensitivity

    rows = []
    for fit_path, metrics_path in zip(fit_jsons, metrics_jsons):
        fit, scores = io.read_json(fit_path), io.read_json(metrics_path)
        rows.append({**{k: fit.get(k) for k in FITS_COLUMNS},
                     **{k: scores[k] for k in FITS_COLUMNS if k in scores},
                     "source": "article", "optimizer": fit["settings"]["optimizer"],
                     "device": fit["device"]["type"]})
    frames = [pd.DataFrame(rows, columns=list(FITS_COLUMNS))]
    frames += [io.read_csv(p).assign(source="study") for p in study_csvs]
    frame = pd.concat([f for f in frames if not f.empty], ignore_index=True)
    frame = frame.reindex(columns=list(FITS_COLUMNS))
    for column in ("iterations", "evaluations", "init_seed", "batch_size"):
        frame[column] = frame[column].astype("Int64")  # empty where not counted
    io.write_csv(out_csv, frame)
    if out_robustness is not None:
        io.write_csv(out_robustness,
                     robustness(frame[frame["source"] == "study"], success_accuracy))
    if out_rounding is not None:
        io.write_csv(out_rounding, rounding_sensitivity(frame[frame["source"] == "study"],
                                                        success_accuracy))
    return frame


# --- study ------------------------------------------------------------------------------

def study_block(arm_name: str, arm, *, inputs: str, block: str, spirals_csv,
                scaled_csv, split_json, hidden: int, init: dict, history_points: int,
                out_csv, out_history, out_weights) -> None:
    """Train one arm (an :class:`secondorder.optim.arms.Arm`) on ``inputs`` from every
    seed of ``block`` (e.g. ``"1-50"``) and write its rows, thinned histories and final
    weights (one row per seed)."""
    from secondorder.optim import arms
    from secondorder.pipeline import study
    from secondorder.progress import study_callback

    arch = model.Architecture(2, hidden, 2)
    problem = load_problem(spirals_csv, scaled_csv, split_json, inputs)
    seeds = study.block_seeds(block)
    log.info("%s on %s inputs, seeds %s (%d fits)", arm_name, inputs, block, len(seeds))
    progress = study_callback(arm.budget, len(seeds), batched=arms.batches(arm))
    results = study.train_block(arm, problem, seeds, arch, low=init["low"],
                                high=init["high"], progress=progress)
    table = study.rows(arm_name, arm, problem, seeds, results, arch)
    io.write_csv(out_csv, table)
    io.write_csv(out_history, study.histories(arm_name, problem, seeds, results,
                                              history_points))
    nan = np.full(arch.n_params, np.nan)
    io.write_npy(out_weights, np.stack([nan if isinstance(r, Exception) else r.weights
                                        for r in results]))
    for row in table.itertuples():
        log.info("seed %s: accuracy %.3f, %s", row.init_seed, row.accuracy_all, row.status)


def scaling(out_csv, *, hidden, lm_iterations, adam_epochs, repeats) -> None:
    """``scaling.csv``: ms per LM iteration / Adam epoch and peak memory per size."""
    from secondorder.pipeline.cost_study import scaling_table
    from secondorder.optim.arms import log_progress

    io.write_csv(out_csv, scaling_table(hidden, lm_iterations=lm_iterations,
                                        adam_epochs=adam_epochs, repeats=repeats,
                                        progress=log_progress))


# --- script set-up -------------------------------------------------------------------------

def start(log_path, threads: int | None = None) -> dict:
    """Log to ``log_path`` (and stderr); for TensorFlow jobs, pin its thread pools to the
    job's ``threads`` so parallel jobs do not oversubscribe the cores; in a portable job
    run each OpenBLAS on one thread (:func:`secondorder.numerics.pin_blas_threads`);
    then check the numerics the job computes with (:func:`secondorder.numerics.check`: fails the job,
    naming the setting, when one the workflow needs is not in effect) and return the
    record every provenance record and ``fit.json`` of the job carries."""
    import os

    from secondorder import numerics

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.INFO, force=True,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        handlers=[logging.FileHandler(log_path, mode="w"),
                                  logging.StreamHandler()])
    if threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    numerics.pin_blas_threads()
    try:
        record = numerics.job_record(threads=threads, tensorflow=bool(threads), refresh=True)
    except numerics.NumericsError as err:
        log.error("%s", err)
        raise
    log.info("numerics: %s, %s", record["mode"],
             "portable" if record["portable"] else "not portable: " + "; ".join(record["why"]))
    return record

