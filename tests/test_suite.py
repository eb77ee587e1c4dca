"""The multi-dataset suite's protocol: scopes, phases and their seeds, jobs, grids,
budgets, splits, caps, records, your own data, the primary question, and the summary on
a hand-made table."""

import copy

import numpy as np
import pandas as pd
import pytest
import yaml

from secondorder import config as cfg
from secondorder.pipeline.suite import files, outcomes, runner, scopes, tables


@pytest.fixture(scope="module")
def settings(root):
    conf = yaml.safe_load((root / "config" / "config.yaml").read_text())
    return cfg.validate(cfg.with_suite(conf, root / "config" / "suite.yaml"))["suite"]


def test_jobs_per_arm_or_per_instance(settings):
    full = scopes.jobs(settings, "full")
    arms = set(settings["arms"])
    regression = {"diabetes", "friedman1"}
    expected = sum(len(arms) - (2 if p in regression else 0)
                   for p in settings["problems"]) * len(settings["sizes"])
    assert len(full) == len(set(full)) == expected  # one job per problem x size x arm
    # cross-entropy arms on classification problems only
    assert not [j for j in full if j[0] in regression and j[2].endswith("_ce")]
    part = scopes.jobs(settings, "slice")  # jobs: instance, one per problem x size
    scope = settings["scopes"]["slice"]
    assert part == [(p, s, "all") for p in scope["problems"] for s in scope["sizes"]]
    assert scopes.job_arms(settings, "slice", "diabetes", "all") == scope["arms"]
    assert scopes.job_arms(settings, "full", "diabetes", "all") == \
        ["lm", "adam", "rmsprop", "adam_minibatch", "lbfgs", "lm_br"]
    assert scopes.job_arms(settings, "full", "iris", "adam_ce") == ["adam_ce"]
    with pytest.raises(ValueError, match="scope must be one of"):
        scopes.jobs(settings, "medium")
    with pytest.raises(ValueError, match="not in scope 'slice'"):
        scopes.job_arms(settings, "slice", "iris", "adam_ce")


def test_scopes_budgets_splits_and_comparisons(settings):
    assert scopes.scopes(settings) == ["full", "slice", "answer", "crossover"]
    sl = scopes.scope_settings(settings, "slice")
    assert sl["cap_s"] == settings["scopes"]["slice"]["cap_s"]
    assert sl["jobs"] == "instance" and scopes.scope_settings(settings, "full")["jobs"] == "arm"
    # the verdict's budgets: those below the cap, and the cap
    assert scopes.budgets(settings, "full") == [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0]
    assert scopes.budgets(settings, "slice") == [0.01, 0.03, 0.1, 0.3, 0.5]
    assert scopes.budgets({**settings, "budgets_s": [0.1, 3.0, 20.0]}, "slice") == [0.1, 0.5]
    assert scopes.comparisons(settings) == {
        "ssq": ["adam", "rmsprop", "adam_minibatch", "lbfgs"],
        "crossentropy": ["adam_ce", "rmsprop_ce"]}


def test_the_phases_draw_disjoint_seeds_from_one_chain_each(settings):
    """The evaluation takes the even members of the split and init chains, the tuning
    the odd ones: never a shared split or initial weight draw, however many each takes;
    large problems are split once per phase."""
    assert scopes.split_seeds(settings, "full", "evaluate", 150) == [0, 2, 4]
    assert scopes.split_seeds(settings, "full", "tune", 150) == [1, 3]
    assert scopes.split_seeds(settings, "full", "evaluate", 1797) == [0]
    assert scopes.split_seeds(settings, "full", "tune", 1797) == [1]
    assert scopes.split_seeds(settings, "slice", "evaluate", 150) == [0, 2, 4, 6]
    assert scopes.init_seeds(settings, "slice", "evaluate") == [1000, 1002]
    assert scopes.init_seeds(settings, "slice", "tune") == [1001, 1003]
    for scope in scopes.scopes(settings):
        for chain in (lambda phase: scopes.init_seeds(settings, scope, phase),
                      lambda phase: scopes.split_seeds(settings, scope, phase, 150)):
            assert not set(chain("tune")) & set(chain("evaluate"))
    assert scopes.seed_chain(7, "tune", 200)[-1] == 7 + 2 * 199 + 1
    with pytest.raises(ValueError, match="phase must be one of"):
        scopes.seed_chain(0, "test", 1)


def test_the_primary_question_resolves_per_scope(settings):
    """The declared question as the verdict's cells: every problem pooled (family all)
    at the scope's cap and the middle tolerance; confirmatory only in its own scope."""
    answer = scopes.primary(settings, "answer")
    assert answer["confirmatory"] and answer["outcome"] == "time_to_target"
    assert answer["cells"] == [{"family": "all", "size": "small", "budget": 2.0,
                                "tolerance": "+1 row / +5%"}]
    sl = scopes.primary(settings, "slice")
    assert not sl["confirmatory"] and sl["cells"][0]["budget"] == 0.5
    own = copy.deepcopy(settings)
    own["scopes"]["slice"]["primary"] = {"outcome": "test_error", "budget": 0.3}
    test_error = scopes.primary(own, "slice")
    assert test_error["cells"][0]["tolerance"] == "none"
    assert test_error["budget"] == 0.3 and test_error["comparison"] == "ssq"


def test_every_arm_has_the_same_tuning_budget(settings):
    """Grid points x inits is the same for every arm, with distinct settings (LM's
    damping rule and mu0: settings whose runs differ from the first step, not a stop
    rule that leaves the records the same until the stop), every grid point runs on
    standardised inputs and passes its optimizer's schema; L-BFGS restores its
    best-validation iterate."""
    from secondorder.optim.arms import Arm

    for arm in settings["arms"]:
        points = scopes.grid(settings, arm)
        assert len(points) == settings["grid_points"] == 6
        assert all(p["inputs"] == "standardised" for p in points)
        assert len({repr(sorted(p.items())) for p in points}) == len(points)  # distinct
        for point in points:
            Arm(point)
    for arm in ("lm", "lm_br"):
        points = scopes.grid(settings, arm)
        assert {p["damping"] for p in points} == {"nielsen", "marquardt"}
        assert len({p["mu0"] for p in points}) == 3
        assert len({p.get("max_fail") for p in points}) == 1  # a stop rule is no setting
    assert all(p["restore_best"] for p in scopes.grid(settings, "lbfgs"))
    unfair = copy.deepcopy(settings)
    unfair["arms"]["lm"]["grid"] = unfair["arms"]["lm"]["grid"][:2]
    with pytest.raises(ValueError, match="every arm must have grid_points = 6"):
        scopes.grid(unfair, "lm")


def test_every_arm_keeps_a_record_at_every_epoch_or_iteration(settings):
    """The records' resolution is one step for every arm: LM reports every iteration
    (chunk 1), L-BFGS every iteration, the compiled first-order loop lists every
    improvement of its chunks."""
    from secondorder.optim.arms import Arm

    every = {a: Arm(scopes.grid(settings, a)[0]).record_every for a in settings["arms"]}
    assert set(every.values()) == {"1 epoch", "1 iteration"}, every
    assert all(spec["base"]["chunk"] == 1 for spec in settings["arms"].values()
               if spec["base"]["optimizer"] == "lm")


def test_architectures_span_the_sizes(settings):
    info = {"n_inputs": 4, "n_outputs": 3, "task": "classification"}
    small = runner.architecture(info, settings["sizes"]["small"])
    large = runner.architecture(info, settings["sizes"]["large"])
    assert small.nhid2 == 0 and large.nhid2 > 0 and small.output == "softmax"
    assert 50 <= small.n_params <= 1000 and 3000 <= large.n_params <= 20000
    regression = runner.architecture({**info, "n_outputs": 1, "task": "regression"}, [5])
    assert regression.output == "linear" and regression.n_params == 5 * 5 + 6 * 1
    with pytest.raises(ValueError, match="one or two hidden layers"):
        runner.architecture(info, [4, 4, 4])


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
    job is a ``memory_cap`` row with the reason, no time, no errors and no records; the
    summary reports the instance as not run and leaves it out for every arm."""
    tight = {**_tiny(settings), "lm_memory_gb": 1e-6}
    fits, records, record = runner.run_job(tight, scope="slice", phase="tune",
                                           problem_name="iris", size="small", part="lm")
    assert len(fits) == settings["grid_points"] * 2 and records.empty
    assert (fits["status"] == "memory_cap").all()
    assert fits["message"].str.contains("lm_memory_gb").all()
    assert fits["time_s"].isna().all() and fits["test_error"].isna().all()
    assert record["seeds"] == [settings["first_seed"] + 1, settings["first_seed"] + 3]
    # the evaluation of an arm the tuning could not run: its first grid point, not run
    fits, _, record = runner.run_job(tight, scope="slice", phase="evaluate",
                                     problem_name="iris", size="small", part="lm",
                                     points={})
    assert record["points"] == {"lm": [0]} and (fits["status"] == "memory_cap").all()
    rivals = _hand_fits().query("arm != 'lm'").assign(problem="iris")
    out = tables.summarise(pd.concat([fits.assign(split=0, init=0), rivals, _hand_fits()]),
                           _hand_records(), _hand_selected(), _hand_targets(),
                           suite=_hand_suite(settings), scope="slice", design=DESIGN)
    assert out["not_run"][["problem", "not_run"]].values.tolist() == [["iris", "lm"]]
    assert set(out["outcomes"]["problem"]) == {"p"}  # iris left out for every arm


def test_a_comparison_covers_the_instances_its_rivals_apply_to():
    """The cross-entropy comparison: classification instances only (its arms do not
    apply to regression, which is not 'not run'); a memory-capped LM is not run."""
    rows = [{"problem": p, "size": "small", "arm": a, "status": "converged"}
            for p, arms_ in (("p", ("lm", "adam_ce", "rmsprop_ce", "adam")),
                             ("q", ("lm", "adam"))) for a in arms_]
    fits = pd.DataFrame(rows)
    ce = (["lm", "adam_ce", "rmsprop_ce"], ["adam_ce", "rmsprop_ce"])
    instances, missing = outcomes.instances(fits, *ce)
    assert instances.values.tolist() == [["p", "small"]] and missing.empty
    capped = fits.assign(status=np.where((fits["problem"] == "p") & (fits["arm"] == "lm"),
                                         "memory_cap", "converged"))
    instances, missing = outcomes.instances(capped, *ce)
    assert instances.empty and missing["not_run"].tolist() == [["lm"]]


def test_the_cap_binds_and_records_past_it_are_not_scored(settings):
    """An arm whose fits could run for ever stops at its cap; every fit runs alone (a
    batch of one: its own compute is its wall time) and the compiled loop is compiled
    once for the job (the next inits and the other learning rate reuse it); each fit's
    own compute is at least the cap, and its errors are those of its record in force
    at the cap."""
    quick = _tiny(settings, cap_s=0.05, tune_splits=1)
    quick["arms"]["adam"]["base"].update(epochs=10**7, patience=10**6, chunk=20)
    quick["grid_points"] = 2  # one compilation per grid point: keep the test short
    quick["arms"]["adam"]["grid"] = [{"learning_rate": 0.01}, {"learning_rate": 0.1}]
    fits, records, _ = runner.run_job(quick, scope="slice", phase="tune",
                                      problem_name="iris", size="small", part="adam")
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
    """A CSV problem (your own data) runs like a built-in one, on every split of the
    evaluation at the grid points it is given; it joins the full suite unlisted, and
    the job's record counts the rows it dropped."""
    rows = "".join(f"{np.sin(i)},{np.cos(3 * i)},{'a' if np.sin(i) > 0 else 'b'}\n"
                   for i in range(60))
    path = tmp_path / "own.csv"
    path.write_text("x1,x2,cls\n" + rows + "0.5,,a\n")
    mine = _tiny(settings, splits=2, cap_s=0.2)
    mine["csv_problems"] = {"own": {"path": str(path), "features": ["x1", "x2"],
                                    "target": "cls", "task": "classification",
                                    "missing": "drop"}}
    assert "own" in scopes.scope_settings(mine, "full")["problems"]
    mine["scopes"]["slice"]["problems"] = ["own"]
    mine["arms"]["lbfgs"]["base"]["max_iter"] = 5
    assert scopes.jobs(mine, "slice") == [("own", "small", "all")]
    fits, records, record = runner.run_job(mine, scope="slice", phase="evaluate",
                                           problem_name="own", size="small", part="lbfgs",
                                           points={"lbfgs": [1, 4]})
    assert sorted(fits["split"].unique()) == [0, 2] and set(record["splits"]) == {"0", "2"}
    assert sorted(fits["grid_point"].unique()) == [1, 4] and record["phase"] == "evaluate"
    assert len(fits) == 2 * 2 * 2 and (fits["family"] == "own").all()
    assert sorted(fits["seed"].unique()) == [1000, 1002]
    assert record["classes"] == ["a", "b"] and (fits["n_test"] == 12).all()
    assert record["csv"]["rows_read"] == 61 and record["csv"]["rows_dropped"] == 1
    assert set(map(tuple, records[["split", "grid_point", "init"]].drop_duplicates()
                   .to_numpy())) == set(map(tuple, fits[["split", "grid_point", "init"]]
                                            .to_numpy()))
    assert (fits["work"] >= fits["iterations"]).all()  # a gradient per evaluation


# --- the summary on a hand-made table ---------------------------------------------------

ARMS = ("lm", "adam", "rmsprop", "lbfgs")

#: A planned design as design.json holds it (the summary copies it into primary.json).
DESIGN = {"power": {"target": 0.8, "planned_mde": 0.3, "reps": 400},
          "assumptions": {"sd_difference": 0.3, "icc": 0.3},
          "design": {"problems": 1, "splits": 8, "inits": 2, "clusters": 8}}


def _hand_suite(settings):
    mine = copy.deepcopy(settings)
    mine["budgets_s"] = [0.1]
    mine["scopes"]["slice"].update(cap_s=1.0, arms=list(ARMS))
    mine["inference"]["resamples"] = 500
    return mine


def _hand_fits():
    rows = []
    for arm in ARMS:
        for split in range(8):
            for init in (0, 1):
                rows.append({"problem": "p", "family": "generated", "task": "classification",
                             "size": "small", "arm": arm, "grid_point": 0, "split": split,
                             "init": init, "n_test": 10, "n_params": 50, "n_residuals": 100,
                             "status": "converged", "time_s": 1.0, "iterations": 10,
                             "ms_per_iteration": 100.0, "peak_rss_mb": 500.0,
                             "past_cap": False, "batch_size": 1})
    return pd.DataFrame(rows)


def _hand_records():
    """On p/small, 8 splits x 2 inits, every fit starts at test error 0.5. LM reaches
    test error 0.1 at 0.05 s on every pair; Adam 0.2 at 0.5 s; RMSprop and L-BFGS stay
    at 0.5."""
    rows = []
    for split in range(8):
        for init in (0, 1):
            for arm, steps in (("lm", [(0.05, 0.1)]), ("adam", [(0.5, 0.2)]),
                               ("rmsprop", []), ("lbfgs", [])):
                key = ("p", "small", arm, 0, split, init)
                rows.append((*key, 0.0, 0.0, 0.5, 0.5, False))
                for t, test in steps:
                    rows.append((*key, t, 10 * t, test, test, False))
                last = steps[-1][1] if steps else 0.5
                rows.append((*key, 1.0, 10.0, last, last, True))
    return pd.DataFrame(rows, columns=["problem", "size", "arm", "grid_point", "split",
                                       "init", "time_s", "work", "val_error", "test_error",
                                       "final"])


def _hand_selected():
    return pd.DataFrame([("p", "small", a, b, 0) for a in ARMS for b in (0.1, 1.0)],
                        columns=["problem", "size", "arm", "budget", "grid_point"])


def _hand_targets():
    """The reference 0.1 (from tuning fits, not these): targets 0.1, 0.2, 0.3."""
    return pd.DataFrame([{"comparison": "ssq", "problem": "p", "family": "generated",
                          "size": "small", "task": "classification", "n_test": 10,
                          "reference_arm": "lm", "reference_error": 0.1, "tolerance": t,
                          "target_error": 0.1 + k / 10}
                         for k, t in enumerate(("+0 rows / +2%", "+1 row / +5%",
                                                "+2 rows / +10%"))])


def test_summarise_scores_outcomes_and_words_the_verdict(settings):
    """LM meets every target from 0.05 s on every pair, Adam only +1 row and +2 rows
    from 0.5 s, RMSprop and L-BFGS never: at the cap LM's time to target beats every
    rival on all 8 clusters (8 splits, 2 inits each), so the primary cell (the pooled small
    size at the cap, +1 row) holds; at 0.1 s LM's success beats Adam's too."""
    mine = _hand_suite(settings)
    out = tables.summarise(_hand_fits(), _hand_records(), _hand_selected(), _hand_targets(),
                           suite=mine, scope="slice", design=DESIGN)
    table = out["outcomes"].set_index(["arm", "budget", "tolerance", "split", "init"])
    assert table.loc[("lm", 1.0, "+0 rows / +2%", 0, 0), "solved"] == 1.0
    assert table.loc[("adam", 1.0, "+1 row / +5%", 0, 0), "solved"] == 1.0
    assert table.loc[("adam", 0.1, "+1 row / +5%", 0, 0), "solved"] == 0.0
    verdict = out["verdict"]
    primary = verdict[verdict["hypotheses"] == "primary"]
    assert sorted(primary["rival"]) == ["adam", "lbfgs", "rmsprop"]
    assert (primary["word"] == "better").all() and (primary["clusters"] == 8).all()
    assert (primary["ci_low"] > 0).all() and (primary["p_adjusted"] < 0.05).all()
    cells = out["cells"]
    assert cells.loc[cells["hypotheses"] == "primary", "word"].tolist() == ["holds"]
    assert set(verdict["outcome"]) == set(outcomes.OUTCOMES)
    assert set(verdict.loc[verdict["outcome"] == "test_error", "tolerance"]) == {"none"}
    assert out["primary"]["word"] == "holds" and out["primary"]["cannot_tell"] == []
    assert out["primary"]["planned"] == DESIGN
    success = out["success"].set_index(["arm", "budget", "tolerance"])
    assert success.loc[("lm", 1.0, "+0 rows / +2%"), "rate"] == 1.0
    assert success.loc[("rmsprop", 1.0, "+2 rows / +10%"), "rate"] == 0.0
    assert set(out["profiles"]["measure"]) == {"time_s", "work"}
    assert out["not_run"].empty and out["lm_cost"]["ms_per_iteration"].tolist() == [100.0]


def test_write_summary_writes_every_table_by_name_and_the_article_reads_them(settings,
                                                                           tmp_path):
    """The summary's files, figures and JSON from the hand-made tables, each table at
    its name's path (files.TABLES) and read back by name; the article's section states
    their numbers: the primary verdict, its power, the map's words."""
    from types import SimpleNamespace

    from secondorder import io
    from secondorder.article import suite as section

    mine = _hand_suite(settings)
    io.write_csv(tmp_path / "in.csv", _hand_fits())
    io.write_csv(tmp_path / "in.records.csv", _hand_records())
    io.write_csv(tmp_path / "selected.csv", _hand_selected())
    io.write_csv(tmp_path / "targets.csv", _hand_targets())
    io.write_json(tmp_path / "design.json", DESIGN)
    io.write_json(tmp_path / "job.json", {"fractions": [0.6, 0.2, 0.2]})
    out = SimpleNamespace(fits=tmp_path / "fits.csv", records=tmp_path / "records.csv",
                          summary=tmp_path / "summary.json")
    summary = files.write_summary([tmp_path / "in.csv"], [tmp_path / "in.records.csv"],
                                  out=out, suite=mine, scope="slice",
                                  job_jsons=[tmp_path / "job.json"])
    assert summary["comparisons"] == {"ssq": ["lm", "adam", "lbfgs", "rmsprop"]}
    assert summary["settings"]["budgets_s"] == [0.1, 1.0] and summary["fits"] == 64
    assert summary["primary"] == {"confirmatory": False, "word": "holds"}
    assert summary["fractions"] == [(0.6, 0.2, 0.2)]  # a list of lists once in JSON
    for name in files.FIGURES:
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
    written = files.read_tables(tmp_path)
    assert set(written) == set(files.TABLES)
    assert written["not_run"].empty  # an empty table reads back as an empty frame
    assert written["primary"]["word"] == "holds"
    with pytest.raises(KeyError, match="no suite table"):
        files.read_tables(tmp_path, ["verdicts"])
    tables = files.read_tables(tmp_path, section.TABLES)
    text = section.findings(summary, tables, pd.read_csv(tmp_path / "fits.csv"))
    assert "The slice scope" in text and "splits 60/20/20 into training" in text
    assert "every fit trained alone" in text  # the fits' batch sizes
    assert "**Its verdict: holds.**" in text
    assert "It was declared for the `answer` scope" in text
    assert "detect 0.3 with 80% power" in text  # the planned MDE of design.json
    primary = tables["primary"]["comparisons"]
    assert f"difference {primary[0]['theta']:.3g}" in text
    assert "Benjamini-Hochberg at q = 0.05" in text
    assert "What changed from the suite's earlier verdict" in text
    table = section.verdict_table(tables["cells"])
    assert table.loc[("lm", "ssq", "time_to_target", "+1 row / +5%", "all",
                      "small"), 1.0] == "holds"
    assert list(section.primary_table(tables["primary"]).index) == \
        [c["rival"] for c in primary]
