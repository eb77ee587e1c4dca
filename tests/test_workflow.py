"""The real workflow: planned on the default config, run end to end on the tiny one."""

import json
import re
import subprocess
import sys

import pandas as pd
import pytest

RULES = {"spirals", "split_scale", "shared_init", "train_adam", "train_lm", "train_lm_fd",
         "evaluate", "summary", "article", "audit", "all"}


def snakemake(root, workdir, *args, timeout=900):
    """Run the project's Snakefile in ``workdir`` on the default + given configs."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(root / "Snakefile"),
           "--directory", str(workdir), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return proc


def configs(root, *extra):
    return ["--configfile", str(root / "config" / "config.yaml"), *map(str, extra)]


def test_dry_run_plans_every_rule(root, tmp_path):
    proc = snakemake(root, tmp_path, "-n", "--cores", "2", *configs(root))
    planned = set(re.findall(r"^(?:local)?rule (\w+):", proc.stdout, re.M))
    assert planned == RULES


@pytest.fixture(scope="module")
def tiny_run(root, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tiny")
    snakemake(root, workdir, "--cores", "2", *configs(root, root / "config" / "test.yaml"))
    return workdir / "results"


def test_tiny_run_writes_every_artifact(tiny_run):
    for path in ["data/spirals.csv", "data/split.json", "data/scaler.json",
                 "data/inputs_scaled.csv", "init/shared_init.npy", "init/shared_init.json",
                 "summary/fits.csv", "article/article.ipynb", "article/article.html"]:
        assert (tiny_run / path).is_file(), path
    for arm in ("adam", "lm", "lm_fd"):
        for name in ("fits/{}/weights.npy", "fits/{}/history.csv", "fits/{}/fit.json",
                     "eval/{}/metrics.json", "eval/{}/predictions.csv"):
            assert (tiny_run / name.format(arm)).is_file(), name.format(arm)


def test_tiny_run_summary_table(tiny_run):
    fits = pd.read_csv(tiny_run / "summary" / "fits.csv")
    assert set(fits["arm"]) == {"adam", "lm", "lm_fd"}
    required = ["arm", "init_seed", "inputs", "accuracy_all", "accuracy_train", "accuracy_val",
                "ssq_train", "ssq_val", "iterations", "wall_s", "status"]
    assert set(required) <= set(fits.columns)
    assert fits.set_index("arm").loc[["adam", "lm", "lm_fd"], "inputs"].tolist() == \
        ["scaled", "raw", "raw"]
    assert fits["accuracy_all"].between(0, 1).all() and (fits["init_seed"] == 1).all()
    fit = json.loads((tiny_run / "fits" / "lm" / "fit.json").read_text())
    for key in ("status", "message", "iterations", "evaluations", "wall_s", "versions",
                "device"):
        assert key in fit
    assert fit["versions"]["tensorflow"] and fit["device"]["type"] in ("CPU", "GPU")


def test_tiny_run_article_has_its_figures(tiny_run):
    html = (tiny_run / "article" / "article.html").read_text()
    assert html.count("<img") >= 4
    assert "def " not in html  # code hidden
    figures = tiny_run / "article" / "figures"
    for name in ("fig1_spirals", "fig2_split", "fig_predicted_adam", "fig_predicted_lm"):
        assert (figures / f"{name}.png").stat().st_size > 1000, name
        assert (figures / f"{name}.svg").is_file(), name
    notebook = json.loads((tiny_run / "article" / "article.ipynb").read_text())
    tags = [c["metadata"].get("tags", []) for c in notebook["cells"]]
    assert ["injected-parameters"] in tags  # papermill ran it with our parameters
