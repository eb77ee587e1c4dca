"""The article's one home (``secondorder.article``): facts read from the config and the
registry, paragraphs that say why they cannot be written, tables shown whole, the thin
notebook; and, on the tiny run's page, its title, its whole provenance appendix and no
``<NA>`` cells (issue 27)."""

import copy
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
import yaml

from secondorder import article, io
from secondorder.article import facts as facts_module
from secondorder.article import provenance, results, study
from secondorder.article.facts import Artifacts, Facts, Roles, Unwritable, paragraph
from secondorder.article.page import MISSING, Table

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def default_config():
    """The default config as the article rule passes it (validated, suite merged)."""
    from secondorder.config import validate, with_suite

    conf = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    with_suite(conf, ROOT / "config" / "suite.yaml")
    return json.loads(json.dumps(article.config_values(validate(conf))))


def facts_of(tmp_path, config, fits=None) -> Facts:
    """Facts over a config and, optionally, a ``fits.csv``, written to ``tmp_path``."""
    io.write_json(tmp_path / "config.json", config)
    if fits is not None:
        io.write_csv(tmp_path / "fits.csv", fits)
    return Facts({"config_json": tmp_path / "config.json",
                  "fits_csv": tmp_path / "fits.csv"})


def article_fits(arms: dict[str, tuple[str, float]]) -> pd.DataFrame:
    """Rows of ``fits.csv`` for the article's arms: ``{arm: (optimizer, accuracy)}``."""
    rows = [{"source": "article", "arm": arm, "optimizer": opt, "inputs": "raw",
             "accuracy_all": acc, "accuracy_val": acc, "iterations": 10, "time_s": 1.0,
             "status": "max_iter", "batch_size": 1} for arm, (opt, acc) in arms.items()]
    return pd.DataFrame(rows)


# --- facts read, not typed -------------------------------------------------------------------

def test_config_values_are_what_the_article_reads(default_config):
    assert set(default_config) == {*facts_module.CONFIG_KEYS, "suite"}
    assert default_config["suite"] == {"in_article": "slice"}


def test_the_parts_are_found_by_optimizer_not_by_name(default_config):
    assert Roles.of(default_config) == Roles("adam", "lm", "lm_fd", "lm_fd_modern")
    renamed = copy.deepcopy(default_config)
    renamed["arms"]["keras_adam"] = renamed["arms"].pop("adam")
    renamed["run"] = ["keras_adam" if a == "adam" else a for a in renamed["run"]]
    assert Roles.of(renamed).adam == "keras_adam"  # a renamed arm keeps its part


def test_a_paragraph_that_cannot_be_written_says_why(default_config):
    config = copy.deepcopy(default_config)
    config["run"] = ["lm", "lm_fd"]
    roles = Roles.of(config)
    assert roles.modern_call is None
    with pytest.raises(Unwritable, match="no arm with optimizer `scipy_lm_fd_modern`"):
        roles.arm("modern_call")
    text = paragraph("This paragraph compares two calls", lambda: roles.arm("modern_call"))
    assert text == ("_This paragraph compares two calls; this run's config runs no arm "
                    "with optimizer `scipy_lm_fd_modern` (`run`)._")


def test_the_verdict_names_a_missing_adam_arm_and_still_reports_lm(tmp_path, default_config):
    config = copy.deepcopy(default_config)
    config["run"] = ["lm", "lm_fd"]
    facts = facts_of(tmp_path, config, article_fits({"lm": ("lm", 0.99),
                                                     "lm_fd": ("scipy_lm_fd", 0.98)}))
    text = results.verdict(facts)
    assert "Levenberg-Marquardt (`lm`) classified 99.0%" in text
    assert "_This sentence reports the article's Adam arm; this run's config runs no arm " \
           "with optimizer `adam` (`run`)._" in text


def test_the_verdict_holds_by_its_stated_thresholds(tmp_path, default_config):
    config = copy.deepcopy(default_config)
    config["run"] = ["adam", "lm", "lm_fd"]
    fits = article_fits({"adam": ("adam", 0.55), "lm": ("lm", 0.99),
                         "lm_fd": ("scipy_lm_fd", 0.98)})
    assert "holds here" in results.verdict(facts_of(tmp_path, config, fits))
    fits.loc[2, "accuracy_all"] = results.HOLDS_ACCURACY - 0.01
    assert "does **not** fully hold" in results.verdict(facts_of(tmp_path, config, fits))


def test_the_cross_entropy_arm_is_adam_with_another_loss(tmp_path, default_config):
    facts = facts_of(tmp_path, default_config)
    assert study.loss_twin(facts, "adam") == "adam_crossentropy"
    config = copy.deepcopy(default_config)
    config["arms"]["adam_crossentropy"]["learning_rate"] = 0.01  # no longer a twin
    with pytest.raises(Unwritable, match="no arm that is `adam` with another loss"):
        study.loss_twin(facts_of(tmp_path, config), "adam")


def test_artifacts_take_the_rules_names_and_refuse_others():
    a = Artifacts.of({"fits_csv": Path("x/fits.csv"), "fit_jsons": ["a/fit.json"]})
    assert a.fits_csv == "x/fits.csv" and a.fit_jsons == ("a/fit.json",)
    with pytest.raises(TypeError, match="unknown artifacts \\['fits'\\]"):
        Artifacts.of({"fits": "x"})


def test_the_rule_passes_the_artifacts_by_their_names():
    """Every named input of the article rule but the notebook is a field of Artifacts."""
    text = (ROOT / "workflow" / "rules" / "article.smk").read_text()
    inputs = text[text.index("input:"):text.index("output:")]
    names = set(re.findall(r"^\s+(\w+)=", inputs, re.M)) - {"notebook"}
    fields = set(Artifacts.__dataclass_fields__) - {"config_json", "figures_dir"}
    assert names == fields


# --- the page ---------------------------------------------------------------------------------

def test_tables_are_shown_whole_with_missing_values_marked():
    frame = pd.DataFrame({"n": pd.array([1, None] * 100, dtype="Int64"),
                          "x": [0.5, float("nan")] * 100})
    html = Table(frame, "long").html()
    assert html.count("<tr") == 201  # the header and every row: nothing cut
    assert "<NA>" not in html and "&lt;NA&gt;" not in html and "NaN" not in html
    assert html.count(f"<td>{MISSING}</td>") == 200 and 'id="long"' in html


def test_the_settings_chain_follows_the_records():
    """From the generator to the predictions, each job after those it read from."""
    rec = lambda rule, inputs, outputs: {"rule": rule, "inputs": dict.fromkeys(inputs),
                                         "outputs": dict.fromkeys(outputs)}
    records = [rec("evaluate", ["w"], ["p"]), rec("train", ["d", "i"], ["w"]),
               rec("other", [], ["o"]), rec("data", [], ["d"]), rec("init", [], ["i"])]
    assert [r["rule"] for r in provenance.chain(records, ["p"])] == \
        ["data", "init", "train", "evaluate"]


def test_the_notebook_is_thin():
    """No prose in the notebook: a parameters cell, a cell that opens the run, and one
    cell per section of the library, in its order."""
    nb = json.loads((ROOT / "notebooks" / "article.ipynb").read_text())
    assert {c["cell_type"] for c in nb["cells"]} == {"code"}
    sources = ["".join(c["source"]) for c in nb["cells"]]
    assert "parameters" in nb["cells"][0]["metadata"]["tags"]
    shown = [re.fullmatch(r"page\.show\(article\.(\w+)\)", s.strip()) for s in sources[2:]]
    assert [m[1] for m in shown] == [s.__name__.rpartition(".")[2] for s in article.SECTIONS]


def test_the_contents_list_every_section(tmp_path):
    from secondorder.article import intro

    io.write_json(tmp_path / "config.json", {"run": [], "arms": {}})
    io.write_json(tmp_path / "init.json", {"architecture": "2-25-2", "n_params": 127})
    facts = Facts({"config_json": tmp_path / "config.json",
                   "init_json": tmp_path / "init.json"})
    text = "\n".join(intro.render(facts))
    for section in article.SECTIONS[1:]:
        assert f"[{section.HEADING}](#{section.HEADING.replace(' ', '-')})" in text
    assert "2 inputs, 25 sigmoid hidden units and a 2-unit softmax output" in text
    assert "127 initial weights" in text


def test_the_pipeline_never_imports_the_article():
    """problem <- optim <- pipeline <- article: the article reads the pipeline's modules,
    never the other way round."""
    from test_imports import GRAPH, reachable

    for module in GRAPH:
        if module.startswith("secondorder.pipeline"):
            assert not {m for m in reachable(GRAPH, module) | {module}
                        if m.startswith("secondorder.article")}, module


# --- the tiny run's page (slow: the tiny workflow) -----------------------------------------

class _Tables(HTMLParser):
    """Rows of each ``<table id=...>``'s body, and the page's ``<title>``."""

    def __init__(self):
        super().__init__()
        self.rows, self.title, self._table, self._body, self._in_title = {}, "", None, False, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id"):
            self._table = attrs["id"]
            self.rows[self._table] = []
        elif tag == "tbody":
            self._body = True
        elif tag == "tr" and self._table and self._body:
            self.rows[self._table].append([])
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag):
        if tag == "table":
            self._table, self._body = None, False
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        elif self._table and self._body and self.rows[self._table] and data.strip():
            self.rows[self._table][-1].append(data.strip())


@pytest.fixture(scope="module")
def page(tiny_run):
    results_dir = tiny_run / "results"
    html = (results_dir / "article" / "article.html").read_text(encoding="utf-8")
    parsed = _Tables()
    parsed.feed(html)
    return {"html": html, "tables": parsed.rows, "title": parsed.title,
            "results": results_dir}


def test_the_tab_shows_the_articles_title(page):
    assert page["title"] == article.TITLE
    assert f"<h1 id=\"{article.TITLE.replace(' ', '-')}\"" in page["html"]


def test_the_provenance_appendix_lists_every_artifact(page):
    """One row per output of each provenance record the article read: nothing cut."""
    record = io.read_json(page["results"] / "provenance" / "article.json")
    read = [p for p in record["inputs"] if p.startswith("results/provenance/")]
    outputs = [out for p in read
               for out in io.read_json(page["results"].parent / p)["outputs"]]
    rows = page["tables"]["provenance"]
    assert len(rows) == len(outputs) > 60  # more than pandas shows by default
    assert sorted(r[0] for r in rows) == sorted(outputs)
    assert "rows ×" not in page["html"]


def test_no_NA_cells_and_the_missing_iterations_say_why(page):
    assert "&lt;NA&gt;" not in page["html"] and "<NA>" not in page["html"]
    fits = pd.read_csv(page["results"] / "summary" / "fits.csv")
    no_count = fits[(fits["source"] == "article") & fits["iterations"].isna()]["arm"]
    assert len(no_count)  # the tiny run's scipy arms
    rows = {r[0]: r for r in page["tables"]["results"]}
    header = ["optimizer", "inputs", "accuracy (all)", "accuracy (train)", "accuracy (val)",
              "SSQ train", "SSQ val", "iterations"]
    for arm in no_count:
        assert rows[arm][1 + header.index("iterations")] == MISSING
    assert f"{MISSING} in <em>iterations</em>: not reported for" in page["html"]
    assert "MINPACK" in page["html"]


def test_the_studys_findings_read_the_parts_and_the_loss_twin(tmp_path, default_config):
    """The study's list from a hand-made ``robustness.csv``: the published comparison on
    each arm's own inputs, the controlled ones, the best first-order arm, and the
    cross-entropy check against the arm that is Adam with another loss."""
    from scipy.stats import binomtest

    rows = []
    for arm, inputs, k in [("lm", "raw", 45), ("lm", "scaled", 40), ("adam", "raw", 1),
                           ("adam", "scaled", 2), ("adam_crossentropy", "scaled", 3),
                           ("rmsprop", "scaled", 44)]:
        ci = binomtest(k, 50).proportion_ci(method="wilson")
        rows.append({"arm": arm, "inputs": inputs, "n": 50, "successes": k, "rate": k / 50,
                     "ci_low": ci.low, "ci_high": ci.high, "median_accuracy": 0.5 + k / 100,
                     "median_time_s": 1.0, "median_batch_wall_s": 1.0})
    io.write_csv(tmp_path / "robustness.csv", pd.DataFrame(rows))
    io.write_json(tmp_path / "config.json", default_config)
    facts = Facts({"config_json": tmp_path / "config.json",
                   "robustness_csv": tmp_path / "robustness.csv"})
    text = study.findings(facts)
    assert "The most reliable arm was `lm` on raw inputs: 45 of 50 (90.0%" in text
    assert "As published (LM on raw inputs, Adam on scaled ones): LM succeeded from 45" in text
    assert "Controlled, both on raw inputs: LM 90.0%, Adam 2.0% (LM ahead" in text
    assert "The best first-order arm, `rmsprop` on scaled inputs" in text
    assert "The intervals overlap" in text and "**not** supported" in text
    assert "`adam_crossentropy` (crossentropy) succeeded from 3 of 50" in text
    assert "consistent with the claim" in text
    assert "`rmsprop`: 44 of 50" in text and "`adam_crossentropy`:" not in text


def test_the_appendix_says_how_many_artifacts_match_the_reference():
    from secondorder import portable

    result = {"reference": "/any/clone/reference/portable-hashes/test.json", "compared": 56,
              portable.IDENTICAL: 54, portable.DIFFERENT: 1, portable.MISSING: 1,
              "settings_differ": ["numerics mode: this run 'x', the reference 'y'"]}
    text = provenance.same_bits(result)
    assert ("Of the 56 portable artifacts of the published reference "
            "(`reference/portable-hashes/test.json`), 54 are identical in this run, 1 "
            "different and 1 missing") in text
    assert text.endswith("other code paths than the reference's: numerics mode: this run "
                         "'x', the reference 'y'.")
    assert "compared with none" in provenance.same_bits({**result, "reference": None})
    with pytest.raises(Unwritable, match="compared nothing"):
        provenance.same_bits(None)


def test_the_tiny_runs_appendix_reads_its_comparison(page):
    result = io.read_json(page["results"] / "audit" / "portable.json")
    assert (f"Of the {result['compared']} portable artifacts of the published reference "
            f"(<code>{provenance.reference_name(result['reference'])}</code>), "
            f"{result['identical']} are identical in "
            "this run") in page["html"]


def test_the_article_names_every_jacobian():
    from secondorder.optim.lm_network import JACOBIANS

    assert set(results.JACOBIANS) == set(JACOBIANS)
