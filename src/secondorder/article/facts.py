"""What the article may state: the run's config values, its artifacts and the optimizer
registry, read into small objects; nothing here is typed from a result.

The article rule hands the notebook one mapping of paths (:class:`Artifacts`, its
named inputs, papermill's parameter ``artifacts``), among them a JSON file of the
config values the article reads (:data:`CONFIG_KEYS`, :func:`config_values`, written
by the rule). :class:`Facts` reads each file once, when a section first asks for it.

The article speaks of its arms by the part they play, not by their names in the
config: :data:`ROLES` names, for each part, the optimizer of the registry
(:data:`secondorder.optim.arms.REGISTRY`) whose arm in the config's ``run`` plays it
(:class:`Roles`). An arm renamed in the config keeps its part; a part no arm plays
leaves the paragraphs about it to say so (:class:`Unwritable`, :func:`paragraph`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable

import pandas as pd

from secondorder import io
from secondorder.optim.arms import REGISTRY
from secondorder.problem.model import Architecture

#: The config's keys the article reads; the article rule writes their values (and the
#: scope of the suite it shows, ``suite.in_article``) to a JSON file the notebook reads.
CONFIG_KEYS = ("data", "model", "init", "run", "arms", "study", "scaling", "bench")

#: The article's parts, each played by the arm of the config's ``run`` whose optimizer
#: (a name of the registry) is given here: Keras' Adam, our LM, and the article's scipy
#: call as it ran (scipy <= 1.15) and as the same line runs under the installed scipy.
ROLES = {"adam": "adam", "lm": "lm", "article_call": "scipy_lm_fd",
         "modern_call": "scipy_lm_fd_modern"}
assert set(ROLES.values()) <= set(REGISTRY), "every part is played by a registered optimizer"


class Unwritable(Exception):
    """A paragraph the run cannot support; the message says why (a clause such as
    "this run's config runs no arm with optimizer `adam`"), and :func:`paragraph`
    prints it where the paragraph would have been."""


def paragraph(about: str, write: Callable[[], str]) -> str:
    """``write()``, or where the run cannot support it (:class:`Unwritable`) one
    italic sentence in its place saying what the paragraph is ``about`` and why it is
    not there: "_This paragraph compares ...; this run's config ..._"."""
    try:
        return write()
    except Unwritable as why:
        return f"_{about}; {why}._"


def config_values(config: Mapping) -> dict:
    """The part of a validated config the article reads (:data:`CONFIG_KEYS`, and the
    suite's ``in_article``), as plain JSON-ready values."""
    values = {key: config[key] for key in CONFIG_KEYS if key in config}
    if "suite" in config:
        values["suite"] = {"in_article": config["suite"]["in_article"]}
    return values


@dataclass(frozen=True)
class Artifacts:
    """The files the article is built from: the ``article`` rule's inputs by name (lists
    for the rule's lists), the config values it reads (``config_json``) and where its
    figures go. The defaults are the paths of a run in this directory; the lists
    (one file per arm, study job, ...) have none."""

    config_json: str = "results/article/config.json"
    spirals_csv: str = "results/data/spirals.csv"
    scaled_csv: str = "results/data/inputs_scaled.csv"
    split_json: str = "results/data/split.json"
    scaler_json: str = "results/data/scaler.json"
    init_json: str = "results/init/shared_init.json"
    fits_csv: str = "results/summary/fits.csv"
    robustness_csv: str = "results/summary/robustness.csv"
    rounding_csv: str = "results/summary/rounding.csv"
    fit_jsons: tuple = ()
    history_csvs: tuple = ()
    predictions_csvs: tuple = ()
    study_history_csvs: tuple = ()
    study_weights_npys: tuple = ()
    scaling_csvs: tuple = ()
    bench_jsons: tuple = ()
    suite_jsons: tuple = ()
    portable_jsons: tuple = ()
    provenance_jsons: tuple = ()
    figures_dir: str = "results/article/figures"

    @classmethod
    def of(cls, paths: Mapping) -> Artifacts:
        """From a mapping of names to a path or a list of paths; unknown names raise
        ``TypeError`` naming them."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(paths) - set(known))
        if unknown:
            raise TypeError(f"unknown artifacts {unknown}; known are {sorted(known)}")
        return cls(**{name: (tuple(map(str, value)) if known[name].default == ()
                             else str(value)) for name, value in paths.items()})


@dataclass(frozen=True)
class Roles:
    """The arm (its name in the config) that plays each part of :data:`ROLES`; None
    where no arm of ``run`` has that part's optimizer (the first such arm of ``run``
    plays it when several do)."""

    adam: str | None
    lm: str | None
    article_call: str | None
    modern_call: str | None

    @classmethod
    def of(cls, config: Mapping) -> Roles:
        arms = config["arms"]
        return cls(**{role: next((name for name in config["run"]
                                  if arms[name]["optimizer"] == optimizer), None)
                      for role, optimizer in ROLES.items()})

    def arm(self, role: str) -> str:
        """The arm playing ``role``; :class:`Unwritable` when none does."""
        name = getattr(self, role)
        if name is None:
            raise Unwritable(f"this run's config runs no arm with optimizer "
                             f"`{ROLES[role]}` (`run`)")
        return name

    def of_optimizer(self, optimizer: str) -> str | None:
        """The part the arms of ``optimizer`` play, None for none."""
        return next((role for role, name in ROLES.items() if name == optimizer), None)


def _artifact(field: str, read=io.read_csv, how: str = "one") -> functools.cached_property:
    """A property of :class:`Facts` that reads the artifact ``field`` of its
    :class:`Artifacts` with ``read``, once, when first asked for. ``how``: ``"one"``
    (one path), ``"optional"`` (a list of at most one: None when empty), ``"per_arm"``
    (files under ``results/<stage>/<arm>/``: ``{arm: content}`` in order) or ``"all"``
    (a list of contents)."""

    def get(self):
        paths = getattr(self.artifacts, field)
        if how == "one":
            return read(paths)
        if how == "optional":
            return read(paths[0]) if paths else None
        if how == "per_arm":
            return {Path(p).parent.name: read(p) for p in paths}
        return [read(p) for p in paths]

    get.__doc__ = f"``{field}`` as read by ``{read.__name__}`` ({how})."
    return functools.cached_property(get)


class Facts:
    """The run as the article reads it: each property reads its file once, when first
    asked for."""

    def __init__(self, artifacts: Artifacts | Mapping = Artifacts()):
        self.artifacts = (artifacts if isinstance(artifacts, Artifacts)
                          else Artifacts.of(artifacts))

    # --- the config ---------------------------------------------------------------------

    @functools.cached_property
    def config(self) -> dict:
        """The config values the article reads (:func:`config_values`)."""
        return io.read_json(self.artifacts.config_json)

    @functools.cached_property
    def roles(self) -> Roles:
        return Roles.of(self.config)

    @property
    def study(self) -> dict:
        """The config's ``study``; :class:`Unwritable` when the run has none."""
        if "study" not in self.config:
            raise Unwritable("this run's config has no `study`")
        return self.config["study"]

    def arm_settings(self, name: str) -> dict:
        """The settings of the config's arm ``name`` (defaults filled in)."""
        return self.config["arms"][name]

    # --- the artifacts (each read once, when first asked for) ----------------------------

    points = _artifact("spirals_csv")
    scaled = _artifact("scaled_csv")
    split = _artifact("split_json", io.read_json)
    scaler = _artifact("scaler_json", io.read_json)
    init = _artifact("init_json", io.read_json)
    #: Every fit of the run (``fits.csv``: the article's and the study's).
    fits = _artifact("fits_csv")
    #: ``{arm: fit.json}``, ``{arm: predictions}``, ``{arm: history}`` of the article's
    #: arms, in ``run`` order.
    fit_info = _artifact("fit_jsons", io.read_json, "per_arm")
    predictions = _artifact("predictions_csvs", how="per_arm")
    histories = _artifact("history_csvs", how="per_arm")
    robustness = _artifact("robustness_csv")
    rounding = _artifact("rounding_csv")
    #: The cost study's table, the benchmark's summary, the summary of the suite scope
    #: the article shows; None where the run has none.
    scaling = _artifact("scaling_csvs", how="optional")
    bench = _artifact("bench_jsons", io.read_json, "optional")
    suite_summary = _artifact("suite_jsons", io.read_json, "optional")
    #: The run's portable artifacts against the published reference
    #: (``results/audit/portable.json``, :func:`secondorder.portable.write_comparison`).
    portable = _artifact("portable_jsons", io.read_json, "optional")
    #: The provenance records of every job the article is built from.
    records = _artifact("provenance_jsons", io.read_json, "all")

    @functools.cached_property
    def architecture(self) -> Architecture:
        """The shared initial weights' perceptron (its ``architecture``, ``2-25-2``)."""
        return Architecture(*map(int, self.init["architecture"].split("-")))

    @property
    def article_fits(self) -> pd.DataFrame:
        return self.fits[self.fits["source"] == "article"]

    @property
    def study_fits(self) -> pd.DataFrame:
        return self.fits[self.fits["source"] == "study"]

    @property
    def suite_folder(self) -> Path:
        """The folder of the suite scope the article shows (its tables, by name:
        :func:`secondorder.pipeline.suite.files.read_tables`)."""
        return Path(self.artifacts.suite_jsons[0]).parent
