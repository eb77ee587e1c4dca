"""Training curves of the article's arms."""

from __future__ import annotations

from secondorder.article.page import Figure
from secondorder.article.results import alone
from secondorder.pipeline import plots

HEADING = "Training curves"


def render(facts):
    yield Figure("fig_training_curves", lambda: plots.training_curves(facts.histories),
                 "Training (solid) and validation (dashed) SSQ of each arm, against "
                 "iterations (left) and against the fit's own compute, compilation "
                 "excluded (right" + ("; each arm ran alone: its wall time)."
                                      if alone(facts.article_fits) else ")."))
