"""A scope's files: what each of its jobs reads and writes in ``results/suite/<scope>/``,
and every table by name.

* ``design.json`` (:func:`write_design`, before any fit): the primary question's
  planned power (:func:`secondorder.pipeline.suite.design.planned`);
* ``tune/<problem>/<size>/<part>.csv``, ``.records.csv``, ``.json`` and the same under
  ``evaluate/``: one job's fits, their anytime records and the job's record
  (:func:`write_job`);
* ``selected.csv`` and ``targets.csv`` (:func:`write_selection`): from the tuning fits
  alone;
* ``fits.csv``, ``records.csv`` (the evaluation's), the tables of
  :func:`secondorder.pipeline.suite.tables.summarise`, ``primary.json``, the figures
  and ``summary.json`` (:func:`write_summary`).

:data:`TABLES` names every table and document of a scope's folder; the workflow's
outputs, these writers and the article address them through it (:func:`table_paths`,
:func:`read_tables`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from secondorder import io
from secondorder.pipeline.suite import scopes

#: Every table (CSV) and document (JSON) of a scope's folder by name: its file.
TABLES: dict[str, str] = {
    "design": "design.json",
    "selected": "selected.csv", "targets": "targets.csv",
    "outcomes": "outcomes.csv", "verdict": "verdict.csv", "cells": "cells.csv",
    "primary": "primary.json", "success": "success.csv", "profiles": "profiles.csv",
    "not_run": "not_run.csv", "lm_cost": "lm_cost.csv",
}

#: The tables the select job writes.
SELECTION = ("selected", "targets")

#: The tables the summary writes (beside ``fits.csv``, ``records.csv``, ``summary.json``).
SUMMARY = ("outcomes", "verdict", "cells", "primary", "success", "profiles", "not_run",
           "lm_cost")

#: The summary's figures (PNG and SVG), each with its report caption
#: (``report/<name>.rst``).
FIGURES = ("fig_suite_profiles", "fig_suite_verdict", "fig_suite_lm_cost")


def table_paths(folder, names=None) -> dict[str, Path]:
    """``{name: path}`` of the tables ``names`` (default: all of :data:`TABLES`) in a
    scope's ``folder``."""
    unknown = sorted(set(names or ()) - set(TABLES))
    if unknown:
        raise KeyError(f"no suite table {unknown}; the tables are {sorted(TABLES)}")
    return {name: Path(folder) / TABLES[name] for name in (names or TABLES)}


def read_tables(folder, names=None) -> dict:
    """The tables ``names`` (default: all) of a scope's ``folder`` by name: a DataFrame
    per CSV (a table written with no rows reads back as an empty DataFrame), a dict per
    JSON document. An unknown name raises ``KeyError`` naming the known ones."""
    out = {}
    for name, path in table_paths(folder, names).items():
        if path.suffix == ".json":
            out[name] = io.read_json(path)
            continue
        try:
            out[name] = io.read_csv(path)
        except pd.errors.EmptyDataError:
            out[name] = pd.DataFrame()
    return out


def _write(folder, tables: dict) -> None:
    for name, path in table_paths(folder, list(tables)).items():
        if path.suffix == ".json":
            io.write_json(path, tables[name])
        else:
            io.write_csv(path, tables[name])


def _concat(paths) -> pd.DataFrame:
    frames = [io.read_csv(p) for p in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


# --- the jobs -------------------------------------------------------------------------------


def write_design(path, *, suite: dict, scope: str) -> dict:
    """``design.json`` of ``scope`` (:func:`secondorder.pipeline.suite.design.planned`)."""
    from secondorder.pipeline.suite.design import planned

    document = planned(suite, scope)
    io.write_json(path, document)
    return document


def write_job(out, *, suite: dict, scope: str, phase: str, problem: str, size: str,
              part: str, selected_csv=None) -> None:
    """One job of ``phase``: its fits, records and record in ``out.fits``,
    ``out.records`` and ``out.record``; the evaluation trains the grid points of
    ``selected_csv`` (:func:`secondorder.pipeline.suite.selection.evaluation_points`)."""
    from secondorder.pipeline.suite import runner
    from secondorder.pipeline.suite.selection import evaluation_points

    points = None
    if phase == "evaluate":
        points = evaluation_points(io.read_csv(selected_csv), problem, size)
    fits, records, record = runner.run_job(suite, scope=scope, phase=phase,
                                           problem_name=problem, size=size, part=part,
                                           points=points)
    io.write_csv(out.fits, fits)
    io.write_csv(out.records, records)
    io.write_json(out.record, record)


def write_selection(fit_csvs, record_csvs, folder, *, suite: dict, scope: str) -> dict:
    """``selected.csv`` and ``targets.csv`` of a scope from its tuning jobs' files
    (:func:`secondorder.pipeline.suite.selection.select`)."""
    from secondorder.pipeline.suite.selection import select

    selected, targets = select(_concat(fit_csvs), _concat(record_csvs), suite=suite,
                               scope=scope)
    tables = {"selected": selected, "targets": targets}
    _write(folder, tables)
    return tables


def write_summary(fit_csvs, record_csvs, *, out, suite: dict, scope: str,
                  job_jsons=()) -> dict:
    """All evaluation fits and records of a scope in ``out.fits`` and ``out.records``,
    the tables of :func:`secondorder.pipeline.suite.tables.summarise` (reading
    ``selected``, ``targets`` and ``design`` from the same folder), the figures and
    ``out.summary`` (JSON: the settings, the train/validation/test ``fractions`` the
    jobs split with, read from their records ``job_jsons``, how often each arm records,
    counts, statuses, what was not run, the primary word and the verdict's words
    counted)."""
    from secondorder.optim.arms import Arm
    from secondorder.pipeline import plots
    from secondorder.pipeline.suite.tables import counts, summarise

    folder = Path(out.summary).parent
    fits, records = _concat(fit_csvs), _concat(record_csvs)
    io.write_csv(out.fits, fits)
    io.write_csv(out.records, records)
    given = read_tables(folder, ["selected", "targets", "design"])
    tables = summarise(fits, records, given["selected"], given["targets"], suite=suite,
                       scope=scope, design=given["design"])
    _write(folder, tables)
    plots.save(plots.suite_profiles(tables["profiles"]), folder, "fig_suite_profiles")
    plots.save(plots.suite_verdict_map(tables["cells"]), folder, "fig_suite_verdict")
    plots.save(plots.suite_lm_cost(tables["lm_cost"]), folder, "fig_suite_lm_cost")
    settings = scopes.scope_settings(suite, scope)
    summary = {
        "scope": scope,
        "settings": {**{k: suite[k] for k in ("grid_points", "lm_memory_gb", "first_seed",
                                              "split_seed", "single_split_rows",
                                              "tolerances", "inference", "threads",
                                              "second_order")},
                     **{k: settings[k] for k in ("inits", "splits", "tune_inits",
                                                 "tune_splits", "cap_s", "jobs")},
                     "budgets_s": scopes.budgets(suite, scope)},
        "fractions": sorted({tuple(io.read_json(p)["fractions"]) for p in job_jsons}),
        "record_every": {a: Arm(scopes.grid(suite, a)[0]).record_every
                         for a in sorted(fits["arm"].unique())},
        "comparisons": {c: sorted(g.unique(), key=lambda a: (a not in suite["second_order"], a))
                        for c, g in tables["outcomes"].groupby("comparison")["arm"]},
        "fits": int(len(fits)), "records": int(len(records)),
        "problems": sorted(fits["problem"].unique()), "sizes": sorted(fits["size"].unique()),
        "arms": sorted(fits["arm"].unique()),
        "splits": {p: sorted(map(int, g.unique()))
                   for p, g in fits.groupby("problem")["split"]},
        "statuses": fits["status"].value_counts().to_dict(),
        "not_run": tables["not_run"].to_dict(orient="records"),
        "fit_time_s": float(np.nansum(fits["time_s"])),
        "past_cap": int(fits["past_cap"].sum()),
        "primary": {k: tables["primary"][k] for k in ("confirmatory", "word")},
        "words": counts(tables),
    }
    io.write_json(out.summary, summary)
    return summary
