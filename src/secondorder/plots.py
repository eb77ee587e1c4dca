"""Figures of the article, each a function of pipeline artifacts returning a Figure."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from . import io  # noqa: E402

COLORS = {1: "tab:blue", 2: "tab:orange"}


def save(fig, figures_dir, name: str) -> list[Path]:
    """Write ``name.png`` and ``name.svg`` atomically; return the paths."""
    paths = []
    for ext in ("png", "svg"):
        path = Path(figures_dir) / f"{name}.{ext}"
        with io.atomic_path(path) as tmp:
            # metadata without dates keeps the files identical between runs
            meta = {"Date": None} if ext == "svg" else {"Software": None}
            fig.savefig(tmp, format=ext, dpi=110, bbox_inches="tight", metadata=meta)
        paths.append(path)
    return paths


def _square(ax, title):
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=8,
              frameon=False)


def spirals(points: pd.DataFrame):
    """The article's first figure: both spirals in raw coordinates."""
    fig, ax = plt.subplots(figsize=(5, 5))
    for k in (1, 2):
        rows = points["class"] == k
        ax.scatter(points.x[rows], points.y[rows], s=12, color=COLORS[k], label=f"Class {k}")
    _square(ax, f"Two spirals ({len(points)} points)")
    return fig


def split(scaled: pd.DataFrame):
    """The article's second figure: scaled inputs, training and validation by class."""
    fig, ax = plt.subplots(figsize=(5, 5))
    for subset, marker in (("train", "o"), ("validation", "^")):
        for k in (1, 2):
            rows = (scaled["class"] == k) & (scaled["set"] == subset)
            ax.scatter(scaled.x[rows], scaled.y[rows], s=14, marker=marker,
                       color=COLORS[k], alpha=1.0 if subset == "train" else 0.55,
                       edgecolors="black" if subset == "validation" else "none",
                       linewidths=0.5, label=f"Class {k} {subset} ({rows.sum()})")
    _square(ax, "Scaled inputs: training and validation")
    ax.set_xlabel("scaled x (flipped: max → 0.1)")
    ax.set_ylabel("scaled y (flipped: max → 0.1)")
    return fig


def predicted_classes(points: pd.DataFrame, predictions: pd.DataFrame, label: str):
    """The article's third and fourth figures: predicted class of every point, drawn at
    its raw coordinates; misclassified points are ringed."""
    fig, ax = plt.subplots(figsize=(5, 5))
    guess = predictions["predicted"].to_numpy()
    for k in (1, 2):
        rows = guess == k
        ax.scatter(points.x[rows], points.y[rows], s=12, color=COLORS[k],
                   label=f"{label} predicted class {k}")
    wrong = guess != points["class"].to_numpy()
    ax.scatter(points.x[wrong], points.y[wrong], s=40, facecolors="none", edgecolors="red",
               linewidths=0.8, label=f"misclassified ({wrong.sum()})")
    _square(ax, f"{label}: {np.mean(~wrong):.1%} of {len(points)} points correct")
    return fig


def training_curves(histories: dict[str, pd.DataFrame]):
    """Training and validation SSQ per arm, against iteration and against seconds."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for (arm, hist), color in zip(histories.items(), plt.cm.tab10.colors):
        for ax, xcol in zip(axes, ("iteration", "wall_s")):
            ax.plot(hist[xcol], hist["ssq_train"], color=color, label=f"{arm} train")
            ax.plot(hist[xcol], hist["ssq_val"], color=color, ls="--", label=f"{arm} validation")
    axes[0].set_xlabel("iteration (epoch; residual evaluations for lm_fd)")
    axes[1].set_xlabel("wall time (s)")
    for ax in axes:
        ax.set_xscale("symlog", linthresh=1)
        ax.set_yscale("log")
        ax.set_ylabel("SSQ")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig
