"""The LM overhead measurement runs on a tiny batch (its numbers are not checked: no
timing assertions)."""

import json

import pytest

from secondorder.config import load
from secondorder.pipeline.bench import lm_overhead


def test_lm_overhead_runs_the_study_lm_job_and_its_floor(root):
    config = load(root / "config" / "config.yaml")
    out = lm_overhead.lm_overhead(config, max_iter=2, n_inits=2, repeats=1)
    assert (out["fits"], out["max_iter"]) == (2, 2)
    assert (out["damping"], out["jacobian"]) == (config["arms"]["lm"]["damping"],
                                                config["study"]["lm_jacobian"])
    assert 1 <= out["fit_iterations"] <= 4
    assert out["loop_s"] > 0 and out["floor_s"] > 0
    assert out["ratio"] == pytest.approx(out["loop_s"] / out["floor_s"])


def test_lm_overhead_compares_src_folders_in_fresh_processes(root, monkeypatch, capsys):
    """``--src`` runs the measurement's code against a given ``src`` folder (here this
    checkout's), in a fresh process per round."""
    monkeypatch.chdir(root)
    lm_overhead.main(["--src", str(root / "src"), "--rounds", "1", "--max-iter", "1",
                      "--inits", "1", "--repeats", "1"])
    rows = json.loads(capsys.readouterr().out)
    assert [(row["src"], row["round"], row["fits"]) for row in rows] == [
        (str(root / "src"), 0, 1)]
