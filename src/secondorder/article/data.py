"""The data: the generator's spirals, the split and the scaling."""

from __future__ import annotations

from secondorder.article.page import Figure
from secondorder.pipeline import plots
from secondorder.problem import data

HEADING = "The data"


def render(facts):
    points, split, scaler = facts.points, facts.split, facts.scaler
    per_class = points["class"].value_counts().sort_index()
    each = (f"{per_class.iloc[0]} per spiral" if per_class.nunique() == 1 else
            ", ".join(f"{n} in class {k}" for k, n in per_class.items()))
    yield (f"The generator (translated by the article from TensorFlow Playground) draws "
           f"{len(points)} points, {each}, each spiral turning {data.TURNS:g} times with "
           f"a radius growing to {data.RADIUS:g}.")
    yield Figure("fig1_spirals", lambda: plots.spirals(points),
                 f"The two spirals: {len(points)} points from the article's generator, raw "
                 "coordinates.")
    swapped = scaler["min_max_swapped"]
    yield (f"`np.random.seed({split['seed']})` then draws {split['n_train']} training rows; "
           f"the other {split['n_validation']} validate. Inputs are scaled linearly to "
           f"[{scaler['scale_min'][0]}, {scaler['scale_max'][0]}] from the training rows"
           + (", keeping the article's swapped minimum and maximum (each axis ends up "
              "flipped)." if swapped else
              " (the article swapped their minimum and maximum; this run does not)."))
    yield Figure("fig2_split", lambda: plots.split(facts.scaled),
                 "Scaled inputs" + (" (the article's swapped minimum and maximum)"
                                    if swapped else "")
                 + ": training points as circles, validation points as triangles.")
