"""Scoring a fit: predictions, accuracy, SSQ and confusion matrices.

Every arm is scored the same way: the article's numpy ``mlp`` in float64 (with a
max-shifted softmax, so diverged weights still give finite probabilities) on the inputs
the arm was trained on, predicted class = the larger softmax output (the article's
``np.round`` of two probabilities, except at an exact tie).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from secondorder.problem.data import Problem, class_labels
from secondorder.problem.model import Architecture, mlp_numpy


def confusion(true_labels, predicted_labels, nclass: int = 2) -> list[list[int]]:
    """``C[i][j]`` counts points of class ``i + 1`` predicted as class ``j + 1``."""
    matrix = np.zeros((nclass, nclass), dtype=int)
    np.add.at(matrix, (np.asarray(true_labels) - 1, np.asarray(predicted_labels) - 1), 1)
    return matrix.tolist()


def predictions(problem: Problem, weights, arch: Architecture) -> pd.DataFrame:
    """One row per point: inputs seen, true class, probabilities, predicted class, set."""
    proba = mlp_numpy(problem.x_all, weights, arch, stable=True)
    subset = np.full(len(problem.x_all), "train", dtype=object)
    subset[problem.validation] = "validation"
    frame = pd.DataFrame({"x": problem.x_all[:, 0], "y": problem.x_all[:, 1],
                          "class": class_labels(problem.y_all), "set": subset})
    for k in range(proba.shape[1]):
        frame[f"p{k + 1}"] = proba[:, k]
    frame["predicted"] = np.argmax(proba, axis=1) + 1
    return frame


def metrics(problem: Problem, weights, arch: Architecture) -> tuple[dict, pd.DataFrame]:
    """Accuracy and SSQ on train, validation and all points, plus confusion matrices."""
    pred = predictions(problem, weights, arch)
    proba = pred[[f"p{k + 1}" for k in range(problem.y_all.shape[1])]].to_numpy()
    out = {"weights_finite": bool(np.all(np.isfinite(weights)))}
    for name, rows in (("all", np.arange(len(pred))), ("train", problem.train),
                       ("val", problem.validation)):
        true, guess = pred["class"].to_numpy()[rows], pred["predicted"].to_numpy()[rows]
        # non-finite weights classify nothing: NaN, not the 50% an argmax over NaN gives
        out[f"accuracy_{name}"] = (float(np.mean(true == guess)) if out["weights_finite"]
                                   else float("nan"))
        out[f"ssq_{name}"] = float(np.sum((proba[rows] - problem.y_all[rows]) ** 2))
        out[f"confusion_{name}"] = confusion(true, guess, problem.y_all.shape[1])
        out[f"n_{name}"] = int(len(rows))
    return out, pred
