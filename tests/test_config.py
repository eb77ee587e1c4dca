"""Bad configurations are rejected before any job runs, with the key named."""

import copy
import subprocess
import sys

import pytest
import yaml
from conftest import set_key

from secondorder import config as cfg


@pytest.fixture(scope="module")
def default(root):
    with open(root / "config" / "config.yaml") as fh:
        return yaml.safe_load(fh)


@pytest.fixture
def suite_config(root, default):
    """Makes fresh copies of the default config with config/suite.yaml merged in."""
    return lambda: cfg.with_suite(copy.deepcopy(default), root / "config" / "suite.yaml")


def rejection(conf) -> str:
    """The message of the ConfigError that ``validate(conf)`` must raise."""
    with pytest.raises(cfg.ConfigError) as err:
        cfg.validate(conf)
    return str(err.value)


def test_default_and_test_configs_are_valid(root, default, suite_config):
    cfg.validate(copy.deepcopy(default))
    suite_yaml = root / "config" / "suite.yaml"
    cfg.validate(suite_config())
    with open(root / "config" / "test.yaml") as fh:
        tiny = yaml.safe_load(fh)
    merged = cfg.with_suite(cfg.deep_update(default, tiny), suite_yaml)
    cfg.validate(merged)
    # the tiny config's suite keys land on top of suite.yaml's, the rest is kept
    slice_ = merged["suite"]["scopes"]["slice"]
    assert slice_["inits"] == tiny["suite"]["scopes"]["slice"]["inits"]
    assert slice_["arms"] == ["lm", "lm_br", "adam", "rmsprop", "lbfgs",  # from suite.yaml
                              "adam_minibatch"]
    assert merged["suite"]["arms"]["lm"]["base"]["max_iter"] == 40
    assert merged["suite"]["arms"]["lm"]["base"]["max_fail"] == 10
    assert len(merged["suite"]["arms"]["lm"]["grid"]) == merged["suite"]["grid_points"]


def test_suite_budgets_must_be_equal_and_the_scopes_inside(suite_config):
    conf = suite_config()
    conf["suite"]["arms"]["adam"]["grid"].append({"learning_rate": 1.0})
    conf["suite"]["scopes"]["slice"]["problems"].append("mnist")
    conf["suite"]["scopes"]["crossover"]["arms"] = ["adam", "rmsprop"]
    conf["suite"]["arms"]["lm"]["grid"][0]["damping"] = "levenberg"
    conf["suite"]["second_order"] = ["lm", "lm_gn"]
    conf["suite"]["in_article"] = "medium"
    text = rejection(conf)
    assert "suite.arms.adam.grid': has 7 points; every arm needs suite.grid_points = 6" in text
    assert "suite.scopes.slice.problems': unknown problem 'mnist'; known are ['breast_cancer'," in text
    assert "suite.scopes.crossover.arms': no second-order arm" in text
    assert "suite.arms.lm.grid[0]" in text and "levenberg" in text
    assert "suite.second_order': 'lm_gn' is not one of the suite's arms" in text
    assert ("suite.in_article': must be one of ['full', 'slice', 'answer', 'crossover', "
            "'none']") in text


def test_the_primary_question_is_checked_against_the_suite(suite_config):
    """The declared question names a scope, a second-order arm, a comparison with
    rivals and one of the tolerances; each scope must hold its cells' size (or declare
    its own cells) and its budget."""
    conf = suite_config()
    primary = conf["suite"]["primary"]
    primary.update(scope="everything", second_order="adam",
                   tolerance={"rows": 3, "relative": 0.5}, budget=5.0)
    conf["suite"]["scopes"]["slice"]["sizes"] = ["medium"]
    conf["suite"]["scopes"]["crossover"]["arms"] = ["lm", "adam_ce"]
    text = rejection(conf)
    assert "suite.primary.scope': must be one of ['full', 'slice', 'answer'" in text
    assert "suite.primary.second_order': must be one of suite.second_order" in text
    assert "suite.primary.tolerance': must be one of suite.tolerances" in text
    assert "size 'small' is not one of scope 'slice''s sizes ['medium']" in text
    assert "suite.primary.budget': 5.0 s is above scope 'answer''s cap 2.0 s" in text
    assert "suite.scopes.crossover.arms': no rival of the primary comparison 'ssq'" in text
    fixed = suite_config()
    fixed["suite"]["scopes"]["slice"].update(sizes=["medium"],
                                             primary={"cells": [{"size": "medium"}]})
    cfg.validate(fixed)


def test_defaults_come_from_the_schema(default):
    conf = copy.deepcopy(default)
    del conf["data"]["scale_min"], conf["arms"]["lm"]["damping"]
    cfg.validate(conf)
    assert conf["data"]["scale_min"] == 0.1 and conf["arms"]["lm"]["damping"] == "nielsen"


BAD = [
    # (key, value, text the message must contain)
    ("arms.x", {"optimizer": "newton", "inputs": "raw"}, "arms.x.optimizer"),
    ("run", ["adam", "bfgs"], "unknown arm 'bfgs'"),
    ("arms.adam.epochs", "ten", "arms.adam.epochs"),
    ("data.n_samples", -5, "data.n_samples"),
    ("model.hidden", 0, "model.hidden"),
    ("arms.lm.solve", "cuda", "allowed values are ['numpy', 'scipy']"),
    ("arms.lm.damping", "fletcher", "arms.lm.damping"),
    ("run", [], "config key 'run': must not be empty"),
    ("init.seed", KeyError, "'seed' is a required property"),
    ("arms.adam.lr", 0.1, "unknown key(s) ['lr']"),
    ("data.train_fraction", 1.5, "data.train_fraction"),
    ("arms.adam.learning_rate", 0, "arms.adam.learning_rate"),
    ("arms.lm.inputs", "normalized", "arms.lm.inputs"),
    ("init.low", 0.5, "init.low"),
    ("arms.lm_fd.max_nfev", 2.5, "arms.lm_fd.max_nfev"),
]


@pytest.mark.parametrize("key,value,text", BAD, ids=[b[0] + "=" + str(b[1]) for b in BAD])
def test_bad_values_are_named(default, key, value, text):
    conf = copy.deepcopy(default)
    set_key(conf, key, value)
    assert text in rejection(conf)


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(cfg.ConfigError, match="does not exist"):
        cfg.load(tmp_path / "nope.yaml")


def test_snakemake_rejects_bad_config_before_any_job(root, tmp_path, default):
    conf = copy.deepcopy(default)
    conf["arms"]["lm"]["solve"] = "cuda"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(conf))
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(root / "Snakefile"), "--cores", "1",
         "--directory", str(tmp_path), "--configfile", str(bad)],
        capture_output=True, text=True, timeout=120)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "config key 'arms.lm.solve'" in output and "['numpy', 'scipy']" in output
    assert "Traceback" not in output
    assert not (tmp_path / "results").exists()
