# Config validation and the helpers the rules share.

import sys

from secondorder.config import ConfigError, validate

try:
    validate(config)
except ConfigError as err:
    sys.exit(f"Error: {err}")


ARMS = config["run"]


def arms_with(*optimizers):
    """Names of the arms to run whose optimizer is one of ``optimizers``."""
    return [a for a in ARMS if config["arms"][a]["optimizer"] in optimizers]


def arm_regex(*optimizers):
    """A wildcard constraint matching exactly those arms (never-matching if none)."""
    names = arms_with(*optimizers)
    return "|".join(names) if names else "(?!)"


FIRST_ORDER = ("adam", "sgd", "rmsprop")


def fit_files(arm):
    return expand("results/fits/{arm}/{f}", arm=arm, f=["weights.npy", "history.csv", "fit.json"])


def all_outputs():
    return [
        "results/summary/fits.csv",
        "results/article/article.html",
    ]
