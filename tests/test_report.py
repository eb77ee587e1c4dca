"""The Snakemake report (``snakemake --report``): its workflow page rendered as Snakemake
renders it (Jinja2 with the run's config, then docutils) reads its numbers from the
config and gives docutils no warning; every report item has a category and a
subcategory (none lands in "Other"); the suite's figures are in it once. The last test
builds the report of the session's tiny run."""

import copy
import io
import re

import pytest
import yaml
from conftest import ROOT, TINY, configs, run_snakemake

from secondorder.config import deep_update, validate, with_suite

WORKFLOW_RST = ROOT / "report" / "workflow.rst"


def config_of(*files):
    """The config Snakemake hands the report: the files merged in order, the suite's
    settings under them, the schema's defaults filled (as common.smk does)."""
    conf = {}
    for path in files:
        conf = deep_update(conf, yaml.safe_load(path.read_text()))
    with_suite(conf, ROOT / "config" / "suite.yaml")
    return validate(conf)


def render(config) -> tuple[str, str]:
    """``report/workflow.rst`` through Jinja2 (undefined names are errors here, so a
    typo cannot render as an empty string) and docutils: (the rst, docutils' warnings)."""
    from docutils.core import publish_parts
    from jinja2 import Environment, StrictUndefined

    class Snakemake:
        pass

    Snakemake.config = copy.deepcopy(config)
    env = Environment(trim_blocks=True, lstrip_blocks=True, undefined=StrictUndefined)
    text = env.from_string(WORKFLOW_RST.read_text()).render(snakemake=Snakemake)
    warnings = io.StringIO()
    publish_parts(text, writer="html",  # as Snakemake, which reports level 2 and up
                  settings_overrides={"warning_stream": warnings, "report_level": 2})
    return text, warnings.getvalue()


DEFAULT = config_of(ROOT / "config" / "config.yaml")
TINY_CONFIG = config_of(ROOT / "config" / "config.yaml", TINY)


@pytest.mark.parametrize("config", [DEFAULT, TINY_CONFIG], ids=["default", "tiny"])
def test_workflow_page_reads_the_config(config):
    text, warnings = render(config)
    assert warnings == "", warnings
    hidden = config["model"]["hidden"]
    assert f"a 2-{hidden}-2 perceptron" in text
    assert f"{config['data']['n_samples']} points" in text
    assert f"trained from {config['study']['n_inits']} initial weights" in text
    for problem in config["suite"]["problems"]:
        assert problem in text, problem


def test_workflow_page_types_no_number_of_the_config():
    """The page's source holds no digits outside Jinja's tags but list labels, the
    MGH starts (10 x0, 100 x0) and the Wilson intervals' 95%: every other number is
    read from the config."""
    source = re.sub(r"\{[{%#].*?[}%#]\}", "", WORKFLOW_RST.read_text(), flags=re.S)
    numbers = re.findall(r"(?<![\w.-])\d+(?:\.\d+)?(?![\w])", source)
    labels = [str(n) for n in range(1, 11)]
    allowed = {*labels, "10", "100", "95", "2"}  # "2-h-2": the problem's two inputs/classes
    assert set(numbers) <= allowed, sorted(set(numbers) - allowed)


def test_every_report_item_has_a_category_and_subcategory(workflow):
    """Every output a rule wraps in report() names both (Snakemake files the rest
    under "Other"), and the suite's figures are report items once, as the suite's own
    outputs, not again as the article's copies."""
    items = {}
    for rule in workflow.rules:
        for path in rule.output:
            flags = getattr(path, "flags", {})
            if "report" in flags:
                obj = flags["report"]
                assert obj.category and obj.subcategory, (rule.name, str(path))
                items[str(path)] = rule.name
    suite = [p for p in items if "fig_suite_" in p]
    assert suite and all(items[p] == "suite_summary" for p in suite), suite
    assert not [p for p in items if p.startswith("results/article/figures/fig_suite_")]


def test_tiny_run_report(tiny_run):
    """The report of the session's tiny run: built without a warning from docutils, its
    workflow page with the tiny config's numbers, no item under "Other", every suite
    figure listed once (the categories the report's page shows are its JSON)."""
    import json

    proc = run_snakemake(tiny_run, "--report", "results/report.html", *configs(TINY))
    out = proc.stdout + proc.stderr
    assert "WARNING/2" not in out and "(ERROR/3)" not in out, out[-3000:]
    html = (tiny_run / "results" / "report.html").read_text(errors="replace")
    assert f"a 2-{TINY_CONFIG['model']['hidden']}-2 perceptron" in html
    assert f"{TINY_CONFIG['data']['n_samples']} points" in html
    assert "System Message" not in html
    categories = json.loads(re.search(r"var categories = (\{.*?\});\n", html).group(1))
    assert "Other" not in categories
    assert not [c for c, subs in categories.items() if "Other" in subs], categories
    listed = [path for subs in categories.values() for paths in subs.values()
              for path in paths]
    assert len(listed) == len(set(listed))
    suite = [path for path in listed if "fig_suite_" in path]
    assert sorted(suite) == [f"results/suite/slice/fig_suite_{n}.png"
                             for n in ("lm_cost", "profiles", "verdict")], suite
