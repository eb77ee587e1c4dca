"""The multi-dataset suite's protocol: scopes, jobs, grids, budgets, splits, caps, records,
your own data, and its summary on a hand-made table."""

import copy

import numpy as np
import pandas as pd
import pytest
import yaml

from secondorder import config as cfg
from secondorder.pipeline import suite


@pytest.fixture(scope="module")
def settings(root):
    conf = yaml.safe_load((root / "config" / "config.yaml").read_text())
    return cfg.validate(cfg.with_suite(conf, root / "config" / "suite.yaml"))["suite"]


def test_jobs_per_arm_or_per_instance(settings):
    full = suite.jobs(settings, "full")
    arms = set(settings["arms"])
    regression = {"diabetes", "friedman1"}
    expected = sum(len(arms) - (2 if p in regression else 0)
                   for p in settings["problems"]) * len(settings["sizes"])
    assert len(full) == len(set(full)) == expected  # one job per problem x size x arm
    # cross-entropy arms on classification problems only
    assert not [j for j in full if j[0] in regression and j[2].endswith("_ce")]
    part = suite.jobs(settings, "slice")  # jobs: instance, one per problem x size
    scope = settings["scopes"]["slice"]
    assert part == [(p, s, "all") for p in scope["problems"] for s in scope["sizes"]]
    assert suite.job_arms(settings, "slice", "diabetes", "all") == scope["arms"]
    assert suite.job_arms(settings, "full", "diabetes", "all") == \
        ["lm", "adam", "rmsprop", "adam_minibatch", "lbfgs", "lm_br"]
    assert suite.job_arms(settings, "full", "iris", "adam_ce") == ["adam_ce"]
    with pytest.raises(ValueError, match="scope must be one of"):
        suite.jobs(settings, "medium")
    with pytest.raises(ValueError, match="not in scope 'slice'"):
        suite.job_arms(settings, "slice", "iris", "adam_ce")


def test_scopes_budgets_splits_and_comparisons(settings):
    assert suite.scopes(settings) == ["full", "slice", "crossover"]
    sl = suite.scope_settings(settings, "slice")
    assert sl["cap_s"] == settings["scopes"]["slice"]["cap_s"]
    assert sl["jobs"] == "instance" and suite.scope_settings(settings, "full")["jobs"] == "arm"
    # the verdict's budgets: those below the cap, and the cap
    assert suite.budgets(settings, "full") == [0.1, 0.3, 1.0, 3.0, 10.0]
    assert suite.budgets({**settings, "budgets_s": [0.1, 3.0, 20.0]}, "slice") == [0.1, 0.5]
    # small problems get `splits` split seeds, large ones one
    assert suite.split_seeds(settings, "full", 150) == [0, 1, 2]
    assert suite.split_seeds(settings, "full", 1797) == [0]
    assert suite.split_seeds(settings, "slice", 150) == [0]
    assert suite.comparisons(settings) == {
        "ssq": ["adam", "rmsprop", "adam_minibatch", "lbfgs"],
        "crossentropy": ["adam_ce", "rmsprop_ce"]}


def test_every_arm_has_the_same_tuning_budget(settings):
    """Grid points x inits is the same for every arm, with distinct settings (LM's
    damping rule and mu0: settings whose runs differ from the first step, not a stop
    rule that leaves the records the same until the stop), every grid point runs on
    standardised inputs and passes its optimizer's schema; L-BFGS restores its
    best-validation iterate."""
    from secondorder.optim.arms import Arm

    for arm in settings["arms"]:
        points = suite.grid(settings, arm)
        assert len(points) == settings["grid_points"] == 6
        assert all(p["inputs"] == "standardised" for p in points)
        assert len({repr(sorted(p.items())) for p in points}) == len(points)  # distinct
        for point in points:
            Arm(point)
    for arm in ("lm", "lm_br"):
        points = suite.grid(settings, arm)
        assert {p["damping"] for p in points} == {"nielsen", "marquardt"}
        assert len({p["mu0"] for p in points}) == 3
        assert len({p.get("max_fail") for p in points}) == 1  # a stop rule is no setting
    assert all(p["restore_best"] for p in suite.grid(settings, "lbfgs"))
    unfair = copy.deepcopy(settings)
    unfair["arms"]["lm"]["grid"] = unfair["arms"]["lm"]["grid"][:2]
    with pytest.raises(ValueError, match="every arm must have grid_points = 6"):
        suite.grid(unfair, "lm")


def test_every_arm_keeps_a_record_at_every_epoch_or_iteration(settings):
    """The records' resolution is one step for every arm: LM reports every iteration
    (chunk 1), L-BFGS every iteration, the compiled first-order loop lists every
    improvement of its chunks."""
    from secondorder.optim.arms import Arm

    every = {a: Arm(suite.grid(settings, a)[0]).record_every for a in settings["arms"]}
    assert set(every.values()) == {"1 epoch", "1 iteration"}, every
    assert all(spec["base"]["chunk"] == 1 for spec in settings["arms"].values()
               if spec["base"]["optimizer"] == "lm")


def test_architectures_span_the_sizes(settings):
    info = {"n_inputs": 4, "n_outputs": 3, "task": "classification"}
    small = suite.architecture(info, settings["sizes"]["small"])
    large = suite.architecture(info, settings["sizes"]["large"])
    assert small.nhid2 == 0 and large.nhid2 > 0 and small.output == "softmax"
    assert 50 <= small.n_params <= 1000 and 3000 <= large.n_params <= 20000
    regression = suite.architecture({**info, "n_outputs": 1, "task": "regression"}, [5])
    assert regression.output == "linear" and regression.n_params == 5 * 5 + 6 * 1
    with pytest.raises(ValueError, match="one or two hidden layers"):
        suite.architecture(info, [4, 4, 4])


def test_lm_memory_and_step_space_estimates():
    # parameter space: 2 m n + 4 n^2 doubles; sample space (n > m): 4 m n + 2 m^2
    from secondorder.optim.lm_network import row_bytes

    assert row_bytes(100, 10) == 8 * (2 * 100 * 10 + 4 * 100)
    assert row_bytes(10, 100) == 8 * (4 * 10 * 100 + 2 * 100)


def _tiny(settings, **scope):
    quick = copy.deepcopy(settings)
    quick["scopes"]["slice"].update({"inits": 2, "splits": 1, **scope})
    return quick


def test_a_memory_cap_is_recorded_not_run(settings):
    """An LM row that would need more than lm_memory_gb is not run: every fit of the
    job is a ``memory_cap`` row with the reason, no time, no errors and no records."""
    tight = {**_tiny(settings), "lm_memory_gb": 1e-6}
    fits, records, record = suite.run_job(tight, scope="slice", problem_name="iris",
                                          size="small", part="lm")
    assert len(fits) == settings["grid_points"] * 2 and records.empty
    assert (fits["status"] == "memory_cap").all()
    assert fits["message"].str.contains("lm_memory_gb").all()
    assert fits["time_s"].isna().all() and fits["test_error"].isna().all()
    assert record["seeds"] == [settings["first_seed"], settings["first_seed"] + 1]
    rivals = _hand_fits().query("arm != 'lm'").assign(problem="iris")
    summary = suite.summarise(pd.concat([fits, rivals, _hand_fits()]), _hand_records(),
                              suite=tight, scope="slice")
    assert summary["not_run"][["problem", "not_run"]].values.tolist() == [["iris", "lm"]]
    assert set(summary["hits"]["problem"]) == {"p"}  # iris left out for every arm


def test_a_comparison_covers_the_instances_its_rivals_apply_to():
    """The cross-entropy comparison: classification instances only (its arms do not
    apply to regression, which is not 'not run'); a memory-capped LM is not run."""
    rows = [{"problem": p, "size": "small", "arm": a, "status": "converged"}
            for p, arms_ in (("p", ("lm", "adam_ce", "rmsprop_ce", "adam")),
                             ("q", ("lm", "adam"))) for a in arms_]
    fits = pd.DataFrame(rows)
    ce = (["lm", "adam_ce", "rmsprop_ce"], ["adam_ce", "rmsprop_ce"])
    instances, missing = suite._instances_run(fits, *ce)
    assert instances.values.tolist() == [["p", "small"]] and missing.empty
    capped = fits.assign(status=np.where((fits["problem"] == "p") & (fits["arm"] == "lm"),
                                         "memory_cap", "converged"))
    instances, missing = suite._instances_run(capped, *ce)
    assert instances.empty and missing["not_run"].tolist() == [["lm"]]


def test_the_cap_binds_and_records_past_it_are_not_scored(settings):
    """An arm whose fits could run for ever stops at its cap; every fit runs alone (a
    batch of one: its own compute is its wall time) and the compiled loop is compiled
    once for the job (the next inits and the other learning rate reuse it); each fit's
    own compute is at least the cap, and its errors are those of its record in force
    at the cap."""
    quick = _tiny(settings, cap_s=0.05)
    quick["arms"]["adam"]["base"].update(epochs=10**7, patience=10**6, chunk=20)
    quick["grid_points"] = 2  # one compilation per grid point: keep the test short
    quick["arms"]["adam"]["grid"] = [{"learning_rate": 0.01}, {"learning_rate": 0.1}]
    fits, records, _ = suite.run_job(quick, scope="slice", problem_name="iris",
                                     size="small", part="adam")
    assert len(fits) == 2 * 2
    assert (fits["status"] == "max_time").all() and (fits["batch_size"] == 1).all()
    assert (fits["time_s"] >= 0.05 - 1e-9).all() and fits["past_cap"].any()
    assert (fits["batch_wall_s"] < 0.05 + 5.0).all()  # at most one chunk over
    assert fits["time_s"].tolist() == fits["batch_wall_s"].tolist()  # alone: its wall time
    assert (fits["compile_s"].iloc[1:] < 0.2 * fits["compile_s"].iloc[0]).all()
    for fit in fits.itertuples():
        own = records[(records["grid_point"] == fit.grid_point) & (records["init"] == fit.init)]
        assert own["time_s"].iloc[0] == 0.0 and own["final"].iloc[-1]
        in_force = own[own["time_s"] <= 0.05].iloc[-1]
        assert (fit.val_error, fit.test_error) == (in_force.val_error, in_force.test_error)
        assert own["work"].iloc[-1] == fit.work > 0
    assert (fits["work"] / fits["iterations"]).nunique() == 1  # FLOPs of one epoch
    assert fits[["val_error", "test_error"]].apply(lambda c: c.between(0, 1)).all().all()


def test_splits_and_your_own_data_run_through_the_same_suite(settings, tmp_path):
    """A CSV problem (your own data) runs like a built-in one, on every split; it joins
    the full suite unlisted, and the job's record counts the rows it dropped."""
    rows = "".join(f"{np.sin(i)},{np.cos(3 * i)},{'a' if np.sin(i) > 0 else 'b'}\n"
                   for i in range(60))
    path = tmp_path / "own.csv"
    path.write_text("x1,x2,cls\n" + rows + "0.5,,a\n")
    mine = _tiny(settings, splits=2, cap_s=0.2)
    mine["csv_problems"] = {"own": {"path": str(path), "features": ["x1", "x2"],
                                    "target": "cls", "task": "classification",
                                    "missing": "drop"}}
    assert "own" in suite.scope_settings(mine, "full")["problems"]
    mine["scopes"]["slice"]["problems"] = ["own"]
    mine["arms"]["lbfgs"]["base"]["max_iter"] = 5
    assert suite.jobs(mine, "slice") == [("own", "small", "all")]
    fits, records, record = suite.run_job(mine, scope="slice", problem_name="own",
                                          size="small", part="lbfgs")
    assert sorted(fits["split"].unique()) == [0, 1] and set(record["splits"]) == {"0", "1"}
    assert len(fits) == 2 * 6 * 2 and (fits["family"] == "own").all()
    assert record["classes"] == ["a", "b"] and (fits["n_test"] == 12).all()
    assert record["csv"]["rows_read"] == 61 and record["csv"]["rows_dropped"] == 1
    assert set(map(tuple, records[["split", "grid_point", "init"]].drop_duplicates()
                   .to_numpy())) == set(map(tuple, fits[["split", "grid_point", "init"]]
                                            .to_numpy()))
    assert (fits["work"] >= fits["iterations"]).all()  # a gradient per evaluation


# --- the summary on a hand-made table ---------------------------------------------------


def _hand_fits():
    rows = []
    for arm in ("lm", "adam", "rmsprop", "lbfgs"):
        for g in (0, 1):
            for init in (0, 1):
                rows.append({"problem": "p", "family": "generated", "task": "classification",
                             "size": "small", "arm": arm, "grid_point": g, "split": 0,
                             "init": init, "n_test": 10, "n_params": 50, "n_residuals": 100,
                             "status": "converged", "time_s": 1.0, "iterations": 10,
                             "ms_per_iteration": 100.0, "peak_rss_mb": 500.0,
                             "past_cap": False, "batch_size": 1})
    return pd.DataFrame(rows)


def _hand_records():
    """On p/small/split 0, every fit starts at test error 0.5 (val 0.5). LM's grid point
    1 is its best on validation (0.1 by 0.2 s); grid point 0 stalls at val 0.4. Adam's
    grid point 0 reaches val 0.2 / test 0.3 at 0.5 s; the others stay at 0.5."""
    rows = []

    def fit(arm, g, init, steps):
        rows.append((arm, g, init, 0.0, 0.0, 0.5, 0.5, False))
        for t, val, test in steps:
            rows.append((arm, g, init, t, 10 * t, val, test, False))
        rows.append((arm, g, init, 1.0, 10.0, *(steps[-1][1:] if steps else (0.5, 0.5)),
                     True))

    for init in (0, 1):
        fit("lm", 0, init, [(0.1, 0.4, 0.4)])
        fit("lm", 1, init, [(0.2, 0.1, 0.1)])
        fit("adam", 0, init, [(0.5, 0.2, 0.3)])
        fit("adam", 1, init, [])
        for arm in ("rmsprop", "lbfgs"):
            fit(arm, 0, init, [])
            fit(arm, 1, init, [])
    frame = pd.DataFrame(rows, columns=["arm", "grid_point", "init", "time_s", "work",
                                        "val_error", "test_error", "final"])
    return frame.assign(problem="p", size="small", split=0)


def test_summarise_tunes_sets_targets_and_times_the_first_hits(settings):
    """Budgets 0.1 and 1 s (the cap). At the cap LM's grid point 1 (val 0.1) and Adam's
    0 are tuned; the reference is LM's median test error, 0.1; targets 0.1 (+0 rows),
    0.2 (+1 row of 10) and 0.3 (+2 rows). LM meets all three at 0.2 s; Adam only +2
    rows, at 0.5 s. At 0.1 s no fit has met any target yet."""
    mine = copy.deepcopy(settings)
    mine["budgets_s"] = [0.1]
    mine["scopes"]["slice"]["cap_s"] = 1.0
    mine["bootstrap"] = {"resamples": 200, "seed": 0, "level": 0.95}
    out = suite.summarise(_hand_fits(), _hand_records(), suite=mine, scope="slice")
    sel = out["selected"].set_index(["budget_s", "arm"])["grid_point"]
    assert (sel[(1.0, "lm")], sel[(1.0, "adam")]) == (1, 0)
    assert sel[(0.1, "lm")] == 0  # at 0.1 s grid point 0 leads on validation (0.4 vs 0.5)
    targets = out["targets"]
    assert targets["reference_arm"].unique().tolist() == ["lm"]
    assert targets["target_error"].tolist() == pytest.approx([0.1, 0.2, 0.3])
    hits = out["hits"].set_index(["arm", "tolerance", "init"])
    assert hits.loc[("lm", "+0 rows / +2%", 0), "hit_time_s"] == 0.2
    assert hits.loc[("adam", "+2 rows / +10%", 1), ["hit_time_s", "hit_work"]].tolist() == \
        [0.5, 5.0]
    assert np.isinf(hits.loc[("adam", "+1 row / +5%", 0), "hit_time_s"])
    success = out["success"].set_index(["tolerance", "arm"])
    assert success.loc[("+0 rows / +2%", "lm"), "successes"] == 2
    assert success.loc[("+0 rows / +2%", "adam"), "successes"] == 0
    verdict = out["verdict"].set_index(["budget_s", "tolerance"])
    # at the cap LM solves both pairs and the best rival none: the interval is [1, 1]
    assert verdict.loc[(1.0, "+0 rows / +2%"), "verdict"] == "holds"
    # at +2 rows Adam also solves both pairs: a tie, which cannot tell
    row = verdict.loc[(1.0, "+2 rows / +10%")]
    assert (row.best_rival, row.difference, row.verdict) == ("adam", 0.0, "cannot tell")
    assert verdict.loc[(0.1, "+0 rows / +2%"), "verdict"] == "cannot tell"
    changes = out["verdict_changes"].set_index("tolerance")
    assert changes.loc["+0 rows / +2%", "path"] == "cannot tell (0.1 s) -> holds (1 s)"
    assert changes.loc["+0 rows / +2%", "changes_at_s"] == 1.0
    profiles = out["profiles"]
    data = profiles[(profiles["profile"] == "data") & (profiles["measure"] == "time_s")
                    & (profiles["tolerance"] == "+0 rows / +2%")]
    assert data.groupby("arm")["value"].max().to_dict() == \
        {"adam": 0.0, "lbfgs": 0.0, "lm": 1.0, "rmsprop": 0.0}
    assert out["not_run"].empty and out["lm_cost"]["ms_per_iteration"].tolist() == [100.0]


def test_write_summary_and_the_articles_text(settings, tmp_path):
    """The summary's files, figures and JSON from the hand-made table, and the article's
    findings from them: every number it states comes from those tables."""
    from types import SimpleNamespace

    from secondorder import io
    from secondorder.article import suite as section

    mine = copy.deepcopy(settings)
    mine["budgets_s"] = [0.1]
    mine["scopes"]["slice"]["cap_s"] = 1.0
    mine["bootstrap"] = {"resamples": 200, "seed": 0, "level": 0.95}
    io.write_csv(tmp_path / "in.csv", _hand_fits())
    io.write_csv(tmp_path / "in.records.csv", _hand_records())
    out = SimpleNamespace(fits=tmp_path / "fits.csv", records=tmp_path / "records.csv",
                          summary=tmp_path / "summary.json")
    io.write_json(tmp_path / "job.json", {"fractions": [0.6, 0.2, 0.2]})
    summary = suite.write_summary([tmp_path / "in.csv"], [tmp_path / "in.records.csv"],
                                  out=out, suite=mine, scope="slice",
                                  job_jsons=[tmp_path / "job.json"])
    assert summary["comparisons"] == {"ssq": ["lm", "adam", "lbfgs", "rmsprop"]}
    assert summary["settings"]["budgets_s"] == [0.1, 1.0] and summary["fits"] == 16
    for name in ("fig_suite_profiles", "fig_suite_verdict", "fig_suite_lm_cost"):
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
    # every table by name, at its path of suite.TABLES
    assert sorted(p.name for p in tmp_path.glob("*.csv")) == sorted(
        ["fits.csv", "records.csv", "in.csv", "in.records.csv", *suite.TABLES.values()])
    tables = suite.read_tables(tmp_path, section.TABLES)
    assert list(tables) == list(section.TABLES)
    assert tables["not_run"].empty  # an empty table reads back as an empty frame
    with pytest.raises(KeyError, match="no suite table"):
        suite.read_tables(tmp_path, ["verdicts"])
    text = section.findings(summary, tables, pd.read_csv(tmp_path / "fits.csv"))
    assert "16 fits (slice scope)" in text and "a cap of 1 s of own compute" in text
    assert "split 60/20/20 into training" in text  # the jobs' fractions
    assert "every fit trained alone" in text  # the fits' batch sizes
    assert "`lm` 2/2 (100.0%" in text  # LM met the tightest target on both pairs
    assert "at 0.1 s 1 cannot tell; at 1 s 1 holds" in text
    assert "cannot tell (0.1 s) -> holds (1 s)" in text
    table = section.verdict_table(tables["verdict"])
    assert table.loc[("generated", "small"), ("ssq", "+0 rows / +2%", 1.0)] == "holds"
