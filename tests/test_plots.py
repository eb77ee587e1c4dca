"""The article's figures: one colour per engine everywhere, PNG at >= 150 dpi beside
the SVG, the predicted classes side by side (synthetic inputs, no workflow run)."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from PIL import Image

from secondorder.pipeline import plots
from secondorder.problem.data import spiral_data


@pytest.fixture(scope="module")
def points():
    a = spiral_data(100)
    return pd.DataFrame({"x": a[:, 0], "y": a[:, 1], "class": np.where(a[:, 2] == 1, 1, 2)})


def _line_colors(ax):
    return {line.get_label(): to_hex(line.get_color()) for line in ax.get_lines()}


def test_one_colour_per_engine_in_the_scaling_figure():
    table = pd.DataFrame({"hidden": [3, 3, 3, 6, 6, 6], "n_params": [17] * 3 + [32] * 3,
                          "engine": ["lm_tf", "lm_closed_form", "adam_compiled"] * 2,
                          "ms_per_iter": [0.2, 0.1, 0.05, 0.3, 0.15, 0.06]})
    costs = pd.DataFrame({"n_params": [17, 32], "lm_fit_s": [0.1, 0.3],
                          "adam_fit_s": [0.5, 0.6]})
    fig = plots.scaling(table, costs, 25, "assumptions")
    left, right = _line_colors(fig.axes[0]), _line_colors(fig.axes[1])
    assert (left["LM iteration (TensorFlow Jacobian)"] == right["LM fit"]
            == to_hex(plots.color("lm")))
    assert left["LM iteration (closed-form Jacobian)"] == to_hex(plots.color("lm_closed_form"))
    assert left["Adam epoch"] == right["Adam fit"] == to_hex(plots.color("adam"))
    assert len({plots.color(e) for e in ("lm", "lm_closed_form", "adam")}) == 3
    plots.plt.close(fig)


def test_training_curves_use_the_engine_colours():
    hist = pd.DataFrame({"iteration": [1, 2, 3], "ssq_train": [3.0, 2.0, 1.0],
                         "ssq_val": [3.0, 2.5, 2.0], "time_s": [0.1, 0.2, 0.3]})
    fig = plots.training_curves({"lm_fd": hist, "adam": hist, "lm": hist})
    colors = _line_colors(fig.axes[0])
    for arm in ("adam", "lm", "lm_fd"):
        assert colors[f"{arm} train"] == to_hex(plots.color(arm)), arm
    # the time axis says what it measures: the fit's own compute
    assert fig.axes[1].get_xlabel() == plots.TIME_LABEL
    assert "own compute" in plots.TIME_LABEL
    plots.plt.close(fig)


def test_colours_are_stable_and_distinct():
    named = [c for k, c in plots.ENGINE_COLORS.items() if k not in ("lm_tf", "adam_compiled")]
    assert len(set(named)) == len(named)
    assert plots.color("some_new_arm") == plots.color("some_new_arm")


def test_predicted_classes_side_by_side(points, tmp_path):
    preds = {arm: pd.DataFrame({"predicted": points["class"]}) for arm in ("adam", "lm", "lm_fd")}
    fig = plots.predicted_panels(points, preds, {"adam": "Adam"})
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert len(axes) == 3
    assert len({round(ax.get_position().y0, 3) for ax in axes}) == 1  # one row
    assert axes[0].get_title().startswith("Adam\n")
    png, svg = plots.save(fig, tmp_path, "fig_predicted")
    with Image.open(png) as im:
        assert min(im.info["dpi"]) >= 149.9 and im.size[0] > im.size[1] * 2
    assert svg.read_text().lstrip().startswith("<?xml")
