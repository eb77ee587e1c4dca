"""Provenance, `secondorder audit verify`, the Snakemake report, lint and determinism."""

import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import TINY, assert_same_fits, configs, run_snakemake

from secondorder import audit, io
from secondorder.pipeline import stages


def verify(workdir):
    """Run the console script as a user would; return (exit code, output)."""
    proc = subprocess.run([sys.executable, "-m", "secondorder.cli", "audit", "verify",
                           "results"], cwd=workdir, capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture
def run_copy(tiny_run, tmp_path):
    """A private copy of the tiny run's results (tests here modify files)."""
    shutil.copytree(tiny_run / "results", tmp_path / "results")
    return tmp_path


#: The rules of the tiny run that compute with TensorFlow (train, study, cost, suite).
TRAINING_RULES = {"train", "study", "scaling", "suite_fit"}


def test_every_artifact_has_provenance(tiny_run):
    manifest = io.read_json(tiny_run / "results" / "audit" / "manifest.json")
    produced = {str(p.relative_to(tiny_run)) for p in (tiny_run / "results").rglob("*")
                if p.is_file() and "provenance" not in p.parts and "audit" not in p.parts}
    audit_dir = {a for a in manifest["artifacts"] if a.startswith("results/audit/")}
    assert audit_dir == {"results/audit/portable.json"}  # the reference comparison
    assert produced == set(manifest["artifacts"]) - audit_dir
    for rec in manifest["records"]:
        assert rec["versions"]["tensorflow"] and rec["versions"]["numpy"]
        assert {"commit", "dirty"} <= set(rec["git"])
        assert rec["host"] and rec["started"] <= rec["finished"]
        assert all(len(d) == 64 for d in (*rec["inputs"].values(), *rec["outputs"].values()))
    # the jobs that train name the device they computed on; no other job claims one
    trained = {rec["rule"] for rec in manifest["records"] if "device" in rec}
    assert trained == TRAINING_RULES
    for rec in manifest["records"]:
        if "device" in rec:
            assert rec["device"]["type"] in ("CPU", "GPU") and rec["device"]["name"]


def test_chain_from_generator_to_article(tiny_run):
    """article.html traces back to spirals.csv and the generator's settings."""
    manifest = io.read_json(tiny_run / "results" / "audit" / "manifest.json")
    producer = {out: rec for rec in manifest["records"] for out in rec["outputs"]}
    frontier, seen = ["results/article/article.html"], set()
    while frontier:
        path = frontier.pop()
        if path in seen or path not in producer:
            continue
        seen.add(path)
        frontier.extend(producer[path]["inputs"])
    assert "results/data/spirals.csv" in seen
    assert producer["results/data/spirals.csv"]["params"] == {"n_samples": 100}


def test_verify_passes_on_a_fresh_run(tiny_run):
    code, out = verify(tiny_run)
    assert code == 0, out
    assert "match the manifest" in out


def test_verify_catches_one_byte_in_any_artifact(run_copy):
    manifest = io.read_json(run_copy / "results" / "audit" / "manifest.json")
    for path in manifest["artifacts"]:
        target = run_copy / path
        original = target.read_bytes()
        target.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
        problems = audit.verify(run_copy / "results")
        target.write_bytes(original)
        assert f"changed: {path} " in "\n".join(problems) + " ", path
    assert audit.verify(run_copy / "results") == []


def test_verify_names_a_deleted_file(run_copy):
    (run_copy / "results" / "fits" / "lm" / "weights.npy").unlink()
    code, out = verify(run_copy)
    assert code == 1
    assert "missing: results/fits/lm/weights.npy" in out


def test_verify_catches_a_stale_output(run_copy):
    """Regenerate spirals.csv differently (its own record updated, as a rerun of that
    job alone would), rebuild the manifest: everything made from it is stale."""
    os.chdir(run_copy)
    spirals = "results/data/spirals.csv"
    record_path = "results/provenance/spirals.json"
    record = io.read_json(record_path)
    stages.make_spirals(spirals, 120)
    record["outputs"] = audit.hashes([spirals])
    record["params"] = {"n_samples": 120}
    io.write_json(record_path, record)
    records = sorted(str(p) for p in (run_copy / "results" / "provenance").rglob("*.json"))
    audit.build_manifest(records, "results/audit/manifest.json")
    problems = audit.verify("results")
    stale = [p for p in problems if p.startswith("stale:")]
    assert any("results/data/split.json" in p for p in stale)
    # the comparison with the published reference was made from the jobs' records
    compared = "stale: results/audit/portable.json was produced from inputs that changed"
    assert all(spirals in p or (p.startswith(compared) and record_path in p) for p in stale)
    assert any(p.startswith(compared) for p in stale)
    assert not any(p.startswith(("changed", "missing")) for p in problems)
    code, out = verify(run_copy)
    assert code == 1 and "stale: results/data/inputs_scaled.csv" in out


def test_verify_without_manifest(tmp_path):
    (tmp_path / "results").mkdir()
    code, out = verify(tmp_path)
    assert code == 1 and "missing: results/audit/manifest.json" in out


def test_report_contains_every_captioned_figure(tiny_run, root):
    run_snakemake(tiny_run, "--report", "results/report.html", *configs(TINY))
    html = (tiny_run / "results" / "report.html").read_text(errors="replace")
    for name in ("fig1_spirals.png", "fig2_split.png", "fig_predicted.png",
                 "fig_training_curves.png", "fits.csv", "manifest.json"):
        assert name in html, name
    for caption in ("fig1_spirals", "fits", "manifest", "fig_predicted"):
        first_line = (root / "report" / f"{caption}.rst").read_text().split("\n")[0]
        assert first_line.split(":")[0][:40] in html, caption


def test_lint_reports_nothing(root):
    """`snakemake --lint` is clean: every rule names its software environment (the one
    environment of environment.yml, README "Software environment"), a log and so on."""
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=root,
                          capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out
    assert re.findall(r"^    \* (.+?):?$", out, re.M) == [], out
    assert "your workflow is in a good condition" in out, out


def test_snakefmt_check_passes(root):
    proc = subprocess.run(["snakefmt", "--check", "Snakefile", "workflow"], cwd=root,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


DETERMINISTIC = ("results/data/", "results/init/", "results/fits/", "results/eval/")


def test_two_clean_runs_are_byte_identical(tiny_run, small_run):
    """Data, split, init, weights, histories' SSQs and metrics of the article's arms:
    identical bytes (timings and provenance aside) in two clean runs (the second, the
    session's ``small_run``, has the same data, init and arms; a smaller study)."""
    first = io.read_json(tiny_run / "results" / "audit" / "manifest.json")["artifacts"]
    second = io.read_json(small_run / "results" / "audit" / "manifest.json")["artifacts"]
    deterministic = {p for p in first if p.startswith(DETERMINISTIC)}
    assert deterministic == {p for p in second if p.startswith(DETERMINISTIC)}
    timed = ("history.csv", "fit.json")  # carry times
    compared = [p for p in deterministic if not p.endswith(timed)]
    assert len(compared) >= 12
    different = [p for p in compared if first[p]["sha256"] != second[p]["sha256"]]
    assert different == []
    assert_same_fits(tiny_run, small_run, ("adam", "lm", "lm_fd", "lm_fd_modern"))
