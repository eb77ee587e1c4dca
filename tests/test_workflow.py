"""The real workflow: planned on the default config, run end to end on the tiny one."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from conftest import configs, run_snakemake

RULES = {"spirals", "split_scale", "shared_init", "train", "evaluate", "summary", "article",
         "audit", "portable_hashes", "all", "study", "scaling", "suite_design", "suite_fit",
         "suite_select", "suite_summary"}
#: The article's arms (config ``run``): lm_fd is the scipy call as the article ran it
#: (scipy <= 1.15), lm_fd_modern the same line under the installed scipy.
ARMS = ("adam", "lm", "lm_fd", "lm_fd_modern")


def test_dry_run_plans_every_rule(root, tmp_path):
    proc = run_snakemake(tmp_path, "-n", "--cores", "2", *configs())
    planned = set(re.findall(r"^(?:local)?rule (\w+):", proc.stdout, re.M))
    assert planned == RULES


def test_every_optimizer_named_in_run_is_trained(tmp_path):
    """``run: [lbfgs]`` (or any arm the schema accepts) gets a training job."""
    extra = tmp_path / "lbfgs.yaml"
    extra.write_text("run: [lbfgs, rmsprop]\n")
    proc = run_snakemake(tmp_path, "-n", "--cores", "2", *configs(extra))
    for arm in ("lbfgs", "rmsprop"):
        assert f"results/fits/{arm}/fit.json" in proc.stdout, arm


@pytest.fixture(scope="module")
def results(tiny_run):
    return tiny_run / "results"


@pytest.fixture(scope="module")
def tiny_config(root):
    """The tiny run's config as the workflow validates it (config.yaml, test.yaml, the
    suite's settings under them)."""
    import yaml

    from secondorder import config as cfg

    conf = cfg.deep_update(yaml.safe_load((root / "config" / "config.yaml").read_text()),
                           yaml.safe_load((root / "config" / "test.yaml").read_text()))
    return cfg.validate(cfg.with_suite(conf, root / "config" / "suite.yaml"))


def test_tiny_run_writes_every_artifact(results):
    for path in ["data/spirals.csv", "data/split.json", "data/scaler.json",
                 "data/inputs_scaled.csv", "init/shared_init.npy", "init/shared_init.json",
                 "summary/fits.csv", "article/article.ipynb", "article/article.html"]:
        assert (results / path).is_file(), path
    for arm in ARMS:
        for name in ("fits/{}/weights.npy", "fits/{}/history.csv", "fits/{}/fit.json",
                     "eval/{}/metrics.json", "eval/{}/predictions.csv"):
            assert (results / name.format(arm)).is_file(), name.format(arm)


def test_tiny_run_summary_table(results):
    every = pd.read_csv(results / "summary" / "fits.csv")
    assert set(every["source"]) == {"article", "study"}
    fits = every[every["source"] == "article"]
    assert set(fits["arm"]) == set(ARMS)
    required = ["arm", "init_seed", "inputs", "accuracy_all", "accuracy_train", "accuracy_val",
                "ssq_train", "ssq_val", "iterations", "time_s", "batch_wall_s",
                "batch_size", "status"]
    assert set(required) <= set(fits.columns)
    assert fits.set_index("arm").loc[list(ARMS), "inputs"].tolist() == \
        ["scaled", "raw", "raw", "raw"]
    assert fits["accuracy_all"].between(0, 1).all() and (fits["init_seed"] == 1).all()
    # 200 LM iterations on the tiny problem (100 points, 2-5-2) must beat chance (50%)
    # by a margin (0.8 on our machines); a broken step or Jacobian stays near 50%
    assert fits.set_index("arm").loc["lm", "accuracy_all"] >= 0.7
    fit = json.loads((results / "fits" / "lm" / "fit.json").read_text())
    for key in ("status", "message", "iterations", "evaluations", "time_s", "batch_wall_s",
                "batch_size", "versions", "device"):
        assert key in fit
    # the article's arms run alone: a fit's own compute is its batch's wall time
    assert (fits["batch_size"] == 1).all()
    assert (fits["time_s"] == fits["batch_wall_s"]).all() and (fits["time_s"] > 0).all()
    assert fit["versions"]["tensorflow"] and fit["device"]["type"] in ("CPU", "GPU")
    semantics = {arm: json.loads((results / "fits" / arm / "fit.json").read_text())
                 ["scipy_semantics"] for arm in ("lm_fd", "lm_fd_modern")}
    assert semantics["lm_fd"].startswith("scipy<=1.15")
    assert semantics["lm_fd_modern"].startswith("scipy ")


def test_tiny_run_study_tables(results):
    """The tiny study: 3 arms x 2 inputs x 2 seeds, the FD LM at seed 1 on both, and
    the LM again on reordered raw rows (2 seeds)."""
    every = pd.read_csv(results / "summary" / "fits.csv")
    study = every[every["source"] == "study"]
    assert len(study) == 3 * 2 * 2 + 2 + 2
    assert set(study["inputs"]) == {"raw", "scaled", "raw_reordered"}
    assert set(study["init_seed"]) == {1, 2}
    assert set(study[study["inputs"] == "raw_reordered"]["arm"]) == {"lm"}
    robust = pd.read_csv(results / "summary" / "robustness.csv")
    assert list(robust.columns) == ["arm", "inputs", "n", "successes", "rate", "ci_low",
                                    "ci_high", "median_accuracy", "median_time_s",
                                    "median_batch_wall_s"]
    assert len(robust) == 4 * 2 + 1 and (robust["ci_low"] <= robust["rate"]).all()
    # a study block trains its fits as one batch (L-BFGS and the FD LM one at a time):
    # each fit is charged its share, and the shares of a batch add up to its wall time
    batched = study[study["arm"].isin(["adam", "lm"])]
    assert (batched["batch_size"] == 2).all()
    for _, batch in batched.groupby(["arm", "inputs"]):
        assert batch["time_s"].sum() == pytest.approx(batch["batch_wall_s"].iloc[0])
    alone = study[study["arm"].isin(["lbfgs", "lm_fd"])]
    assert (alone["batch_size"] == 1).all() and (alone["time_s"] == alone["batch_wall_s"]).all()
    rounding = pd.read_csv(results / "summary" / "rounding.csv")
    assert rounding["arm"].tolist() == ["lm"] and rounding["n"].tolist() == [2]
    scaling = pd.read_csv(results / "summary" / "scaling.csv")
    assert list(scaling.columns) == ["hidden", "n_params", "engine", "device", "ms_per_iter",
                                     "peak_mem_mb", "floor_ms", "floor_kind", "lm_vs_floor"]
    lm = scaling[scaling["engine"].isin(["lm_tf", "lm_closed_form"])]
    assert (lm["floor_ms"] > 0).all() and (lm["lm_vs_floor"] > 0).all()
    # both LM Jacobians and the compiled Adam step, at each of the tiny config's 2 sizes
    assert set(scaling["engine"]) == {"lm_tf", "lm_closed_form", "adam_compiled"}
    assert len(scaling) == 3 * 2


def test_tiny_run_article_has_its_figures(results):
    html = (results / "article" / "article.html").read_text()
    assert html.count("<img") >= 4
    assert "def " not in html  # code hidden
    figures = results / "article" / "figures"
    for name in ("fig1_spirals", "fig2_split", "fig_predicted", "fig_training_curves"):
        assert (figures / f"{name}.png").stat().st_size > 1000, name
        assert (figures / f"{name}.svg").is_file(), name
        with Image.open(figures / f"{name}.png") as png:  # PNGs at >= 150 dpi
            assert min(png.info["dpi"]) >= 149.9, (name, png.info.get("dpi"))
    notebook = json.loads((results / "article" / "article.ipynb").read_text())
    tags = [c["metadata"].get("tags", []) for c in notebook["cells"]]
    assert ["injected-parameters"] in tags  # papermill ran it with our parameters


def test_tiny_run_suite_slice(results):
    """The suite's rules end to end on the tiny slice (iris and diabetes, one size, the
    six SSQ arms: LM, trainbr, Adam, RMSprop, mini-batch Adam, L-BFGS): the design, one
    tuning and one evaluation job per problem x size, every fit alone with its anytime
    record, the tuning at every grid point on its own seeds, the evaluation at the
    selected points on others, and the tables by name."""
    from secondorder.pipeline.suite import files

    suite = results / "suite" / "slice"
    fits = pd.read_csv(suite / "fits.csv")
    records = pd.read_csv(suite / "records.csv")
    arms = {"lm", "lm_br", "adam", "rmsprop", "lbfgs", "adam_minibatch"}
    tuning = pd.concat([pd.read_csv(suite / "tune" / p / "small" / "all.csv")
                        for p in ("iris", "diabetes")])
    for problem in ("iris", "diabetes"):
        assert set(fits.loc[fits["problem"] == problem, "arm"]) == arms
        for phase in ("tune", "evaluate"):
            for ext in ("csv", "records.csv", "json"):
                assert (suite / phase / problem / "small" / f"all.{ext}").is_file()
    # the tuning: 6 grid points x 1 init x 1 split for every arm, the odd seeds
    budget = tuning.groupby(["problem", "size", "arm"]).agg(
        points=("grid_point", "nunique"), fits=("init", "size"))
    assert (budget["points"] == 6).all() and (budget["fits"] == 6).all()
    assert set(tuning["seed"]) == {1001} and set(tuning["split"]) == {1}
    # the evaluation: the selected points, 2 inits x 4 splits, the even seeds
    selected = pd.read_csv(suite / "selected.csv")
    points = selected.groupby(["problem", "arm"])["grid_point"].apply(set)
    trained = fits.groupby(["problem", "arm"])["grid_point"].apply(set)
    assert (points == trained).all()
    assert set(fits["seed"]) == {1000, 1002} and set(fits["split"]) == {0, 2, 4, 6}
    assert (fits["batch_size"] == 1).all()  # every fit alone
    assert fits["status"].notna().all() and (fits["time_s"] > 0).all()
    # every fit has a record at 0 and a final one, in time order
    keys = ["problem", "size", "arm", "grid_point", "split", "init"]
    per_fit = records.groupby(keys)
    assert len(per_fit) == len(fits)
    assert (per_fit["time_s"].min() == 0).all() and (per_fit["final"].sum() == 1).all()
    assert per_fit["time_s"].apply(lambda t: t.is_monotonic_increasing).all()
    summary = json.loads((suite / "summary.json").read_text())
    assert summary["fits"] == len(fits) and summary["settings"]["budgets_s"] == [0.03, 0.3, 1.0]
    tables = files.read_tables(suite)
    assert set(tables["targets"]["tolerance"]) == {"+0 rows / +2%", "+1 row / +5%",
                                                   "+2 rows / +10%"}
    outcomes = tables["outcomes"]
    assert outcomes["time_to_target"].between(0, 1).all()
    assert set(outcomes["solved"]) <= {0.0, 1.0}
    verdict = tables["verdict"]
    assert set(verdict["word"]) <= {"better", "equivalent", "cannot tell", "worse"}
    assert set(verdict["second_order"]) == {"lm", "lm_br"}
    assert set(verdict["hypotheses"]) == {"primary", "exploratory"}
    assert (verdict["hypotheses"] == "primary").sum() == 4  # LM x the 4 SSQ rivals
    assert set(tables["cells"]["word"]) <= {"holds", "equivalent", "cannot tell", "fails"}
    # the slice's primary: 2 problems x 4 splits = 8 clusters, a finite smallest
    # detectable difference, planned before the run and stated after it
    primary = tables["primary"]
    assert not primary["confirmatory"] and primary["declared_for"] == "answer"
    assert {c["clusters"] for c in primary["comparisons"]} == {8}
    assert all(c["mde"] is not None and c["mde"] > 0 for c in primary["comparisons"])
    assert tables["design"]["design"]["clusters"] == 8
    assert tables["design"]["power"]["planned_mde"] > 0.15  # the slice cannot tell 0.15
    if primary["word"] == "cannot tell":
        assert primary["cannot_tell"]
    success = tables["success"]
    assert (success["ci_low"] <= success["rate"] + 1e-12).all()
    assert (success["rate"] <= success["ci_high"] + 1e-12).all()
    assert set(tables["profiles"]["measure"]) == {"time_s", "work"}
    for name in files.FIGURES:
        assert (suite / f"{name}.png").stat().st_size > 1000



def test_tiny_run_suite_no_test_row_feeds_a_selection(results, tiny_config):
    """The tiny slice's selection read back from its tuning files: scrambling every
    test error of the tuning records leaves ``selected.csv`` as the run wrote it (only
    validation errors choose grid points), while the targets move (they are set from
    the tuning fits' test errors, on other splits than any scored fit)."""
    from secondorder import io
    from secondorder.pipeline.suite import selection

    suite = results / "suite" / "slice"
    fits = pd.concat([io.read_csv(p) for p in sorted(suite.glob("tune/*/small/all.csv"))])
    records = pd.concat([io.read_csv(p)
                         for p in sorted(suite.glob("tune/*/small/all.records.csv"))])
    written = io.read_csv(suite / "selected.csv")
    selected, targets = selection.select(fits, records, suite=tiny_config["suite"],
                                         scope="slice")
    pd.testing.assert_frame_equal(selected, written, check_dtype=False)
    scrambled = records.assign(
        test_error=np.random.default_rng(0).permutation(records["test_error"].to_numpy()))
    again, moved = selection.select(fits, scrambled, suite=tiny_config["suite"],
                                    scope="slice")
    pd.testing.assert_frame_equal(again, selected)
    assert not np.allclose(moved["target_error"], targets["target_error"])
    evaluated = set(io.read_csv(suite / "fits.csv")["split"])
    assert evaluated.isdisjoint(set(fits["split"]))
