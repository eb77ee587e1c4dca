"""The real workflow: planned on the default config, run end to end on the tiny one."""

import json
import re

import pandas as pd
import pytest
from PIL import Image
from conftest import configs, run_snakemake

RULES = {"spirals", "split_scale", "shared_init", "train", "evaluate", "summary", "article",
         "audit", "portable_hashes", "all", "study", "scaling", "suite_fit", "suite_summary"}
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
    """The suite's rules end to end on the tiny slice (iris and diabetes, one size, two
    inits, the six SSQ arms: LM, trainbr, Adam, RMSprop, mini-batch Adam, L-BFGS): one
    job per problem x size, every fit a row with its anytime record, trained alone, the
    same tuning budget for every arm, and its tables, the verdict map and the section in
    the article."""
    suite = results / "suite" / "slice"
    fits = pd.read_csv(suite / "fits.csv")
    records = pd.read_csv(suite / "records.csv")
    arms = {"lm", "lm_br", "adam", "rmsprop", "lbfgs", "adam_minibatch"}
    for problem in ("iris", "diabetes"):
        assert set(fits.loc[fits["problem"] == problem, "arm"]) == arms
        for ext in ("csv", "records.csv", "json"):
            assert (suite / "fits" / problem / "small" / f"all.{ext}").is_file()
    # the same budget: 6 grid points x 2 inits (one split) for every arm on every instance
    budget = fits.groupby(["problem", "size", "arm"]).agg(
        points=("grid_point", "nunique"), fits=("init", "size"), inits=("seed", "nunique"))
    assert (budget["points"] == 6).all() and (budget["fits"] == 12).all()
    assert (fits["batch_size"] == 1).all()  # every fit alone
    assert (budget["inits"] == 2).all()
    assert set(fits["seed"]) == {1000, 1001}  # the seed chain from suite.first_seed
    assert fits["status"].notna().all() and (fits["time_s"] > 0).all()
    cls = fits[fits["task"] == "classification"]
    assert cls[["val_error", "test_error"]].apply(lambda c: c.between(0, 1)).all().all()
    # every fit has a record at 0 and a final one, in time order
    keys = ["problem", "size", "arm", "grid_point", "split", "init"]
    per_fit = records.groupby(keys)
    assert len(per_fit) == len(fits)
    assert (per_fit["time_s"].min() == 0).all() and (per_fit["final"].sum() == 1).all()
    assert per_fit["time_s"].apply(lambda t: t.is_monotonic_increasing).all()
    summary = json.loads((suite / "summary.json").read_text())
    assert summary["fits"] == len(fits) and summary["settings"]["budgets_s"] == [0.1, 0.3, 1.0]
    success = pd.read_csv(suite / "success.csv")
    assert set(success["tolerance"]) == {"+0 rows / +2%", "+1 row / +5%", "+2 rows / +10%"}
    assert (success["ci_low"] <= success["rate"]).all()
    assert (success["rate"] <= success["ci_high"]).all()
    verdict = pd.read_csv(suite / "verdict.csv")
    assert set(verdict["verdict"]) <= {"holds", "mixed", "cannot tell", "fails"}
    # one map per second-order arm (LM, trainbr): one (family, size) group x 3 budgets
    # x 3 tolerances each
    assert set(verdict["second_order"]) == {"lm", "lm_br"} and len(verdict) == 2 * 3 * 3
    assert (verdict["ci_low"] <= verdict["difference"]).all()
    per_instance = pd.read_csv(suite / "verdict_instances.csv")
    assert sorted(per_instance["problem"].unique()) == ["diabetes", "iris"]
    profiles = pd.read_csv(suite / "profiles.csv")
    assert set(profiles["profile"]) == {"data", "performance"}
    assert set(profiles["measure"]) == {"time_s", "work"} and profiles["value"].le(1).all()
    html = (results / "article" / "article.html").read_text()
    assert "Beyond two spirals: the suite" in html and "The verdict map" in html
    for name in ("fig_suite_verdict", "fig_suite_profiles", "fig_suite_lm_cost"):
        assert (results / "article" / "figures" / f"{name}.png").stat().st_size > 1000

