"""Reliability: malformed configs, interrupted runs, numerical faults, bad API input and
disk faults. Each fault is provoked for real where it can be (the snakemake CLI, SIGKILL
of the whole run, a diverging optimizer, a parent path that is a file) or simulated where
root cannot (a read-only or full file system: ``os.replace``/writes raising EROFS, ENOSPC),
and must end in a clear message or a clean resume.
"""

import copy
import errno
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ROOT, TINY, configs, run_snakemake, set_key

from secondorder import audit, io, run_lock
from secondorder.pipeline import study
from secondorder.problem import data, model
from secondorder.config import ConfigError
from secondorder.optim.arms import REGISTRY

SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]


def merge(base: dict, overlay: dict) -> dict:
    """Snakemake's way of layering config files: nested mappings merge, the rest
    (lists included) is replaced."""
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def tiny_config(**overlay) -> dict:
    """``config/config.yaml`` with ``config/test.yaml`` and ``overlay`` on top."""
    conf = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    merge(conf, yaml.safe_load(TINY.read_text()))
    return merge(conf, overlay)


# --- 1. malformed configs through the real snakemake CLI ----------------------------------


#: The optimizer names the config check lists: the registry's, in its order (read, not
#: retyped, so a new optimizer does not break the message's test).
OPTIMIZERS = str(list(REGISTRY))

#: (id, [(dotted key, value or KeyError to delete), ...], texts the message must hold)
BAD_CONFIGS = [
    ("unknown-optimizer", [("arms.newton", {"optimizer": "newton", "inputs": "raw"}),
                           ("run", ["adam", "newton"])],
     ["config key 'arms.newton.optimizer'", f"allowed values are {OPTIMIZERS}"]),
    ("unknown-arm-in-run", [("run", ["adam", "bfgs"])],
     ["config key 'run'", "unknown arm 'bfgs'", "defined arms are ['adam',"]),
    ("unknown-arm-in-study", [("study.arms", ["adam", "nope"])],
     ["config key 'study.arms'", "unknown arm 'nope'", "defined arms are ['adam',"]),
    ("wrong-type-epochs", [("arms.adam.epochs", "ten")],
     ["config key 'arms.adam.epochs'", "'ten' has the wrong type; expected integer"]),
    ("wrong-type-section", [("model", 25)],
     ["config key 'model'", "wrong type; expected object"]),
    ("non-integer-nfev", [("arms.lm_fd.max_nfev", 2.5)],
     ["config key 'arms.lm_fd.max_nfev'", "expected integer"]),
    ("negative-samples", [("data.n_samples", -5)],
     ["config key 'data.n_samples'", "it must be >= 4"]),
    ("zero-hidden", [("model.hidden", 0)], ["config key 'model.hidden'", "it must be >= 1"]),
    ("zero-learning-rate", [("arms.adam.learning_rate", 0)],
     ["config key 'arms.adam.learning_rate'", "it must be > 0"]),
    ("zero-inits", [("study.n_inits", 0)], ["config key 'study.n_inits'", "it must be >= 1"]),
    ("unknown-solve", [("arms.lm.solve", "cuda")],
     ["config key 'arms.lm.solve'", "'cuda' is not allowed; allowed values are ['numpy', 'scipy']"]),
    ("unknown-damping", [("arms.lm.damping", "fletcher")],
     ["config key 'arms.lm.damping'", "allowed values are ['marquardt', 'nielsen']"]),
    ("unknown-inputs", [("arms.lm.inputs", "normalized")],
     ["config key 'arms.lm.inputs'", "allowed values are ['raw', 'scaled', 'standardised']"]),
    ("empty-run", [("run", [])], ["config key 'run': must not be empty"]),
    ("empty-study-arms", [("study.arms", [])], ["config key 'study.arms': must not be empty"]),
    ("empty-seed-inputs", [("study.inputs", [])],
     ["config key 'study.inputs': must not be empty"]),
    ("missing-key", [("init.seed", KeyError)],
     ["config key 'init'", "'seed' is a required property"]),
    ("missing-section", [("arms", KeyError)], ["'arms' is a required property"]),
    ("unknown-key", [("arms.adam.lr", 0.1)],
     ["config key 'arms.adam'", "unknown key(s) ['lr']", "allowed keys are ['chunk',"]),
    ("unknown-top-level-key", [("modle", {"hidden": 5})],
     ["unknown key(s) ['modle']", "allowed keys are ['arms', 'bench',"]),
    ("split-fraction-out-of-range", [("data.train_fraction", 1.5)],
     ["config key 'data.train_fraction'", "it must be < 1"]),
    ("split-leaves-empty-set", [("data.train_fraction", 0.001)],
     ["config key 'data.train_fraction'", "leaves an empty training or validation set"]),
    ("init-bounds-reversed", [("init.low", 0.5)],
     ["config key 'init.low'", "must be below init.high"]),
]


def _run_cli(workdir, *args, timeout=180):
    """A real run (not -n: nothing may start) of the workflow in an empty directory."""
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([*SNAKEMAKE, "--cores", "1", "--directory", str(workdir), *args],
                          capture_output=True, text=True, timeout=timeout)
    return {"code": proc.returncode, "output": proc.stdout + proc.stderr,
            "results": (workdir / "results").exists(),
            "jobs": "Select jobs to execute" in proc.stdout + proc.stderr}


@pytest.fixture(scope="module")
def cli_outcomes(tmp_path_factory):
    """Every malformed config of ``BAD_CONFIGS`` run through snakemake, three at once."""
    base = tmp_path_factory.mktemp("bad-configs")

    def one(case):
        name, changes, _ = case
        conf = tiny_config()
        for key, value in changes:
            set_key(conf, key, value)
        path = base / f"{name}.yaml"
        path.write_text(yaml.safe_dump(conf))
        return name, _run_cli(base / name, "--configfile", str(path))

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(pool.map(one, BAD_CONFIGS))


def _rejected_cleanly(outcome, texts):
    out = outcome["output"]
    assert outcome["code"] != 0, out[-3000:]
    for text in texts:
        assert text in out, f"{text!r} not in:\n{out[-3000:]}"
    assert "Traceback" not in out, out[-3000:]
    assert not outcome["jobs"] and not outcome["results"], out[-3000:]


@pytest.mark.parametrize("name,changes,texts", BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_is_rejected_before_any_job(cli_outcomes, name, changes, texts):
    _rejected_cleanly(cli_outcomes[name], texts)


def test_the_tiny_config_itself_passes(tmp_path):
    """The cases above differ from a config that does run (checked with -n)."""
    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump(tiny_config()))
    outcome = _run_cli(tmp_path / "work", "-n", "--configfile", str(path))
    assert outcome["code"] == 0, outcome["output"][-3000:]


def test_invalid_yaml_is_rejected(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("data:\n  n_samples: [100,\n  split_seed: 0\n")
    outcome = _run_cli(tmp_path / "work", "--configfile", str(bad))
    # Snakemake parses --configfile files itself, before the workflow's check runs; its
    # message names neither the file nor the line (snakemake 9.27).
    _rejected_cleanly(outcome, ["Config file is not valid JSON or YAML"])


def test_config_that_is_not_a_mapping_is_rejected(tmp_path):
    bad = tmp_path / "list.yaml"
    bad.write_text("- adam\n- lm\n")
    outcome = _run_cli(tmp_path / "work", "--configfile", str(bad))
    _rejected_cleanly(outcome, ["Config file must be given as JSON or YAML with keys at top level"])


def test_missing_default_config_is_named(tmp_path):
    """Run from a directory without config/config.yaml and no --configfile."""
    outcome = _run_cli(tmp_path / "work")
    _rejected_cleanly(outcome, ["Workflow defines configfile config/config.yaml but it is not "
                                "present", str(tmp_path / "work" / "config" / "config.yaml")])


def test_missing_configfile_is_named(tmp_path):
    missing = tmp_path / "nope.yaml"
    outcome = _run_cli(tmp_path / "work", "--configfile", str(missing))
    assert outcome["code"] != 0
    assert str(missing) in outcome["output"] and "No such file" in outcome["output"]
    assert not outcome["jobs"] and not outcome["results"]


@pytest.mark.xfail(strict=True, reason="snakemake 9.27.1 bug: common/configfile.py opens a "
                   "--configfile outside its try, so a missing file escapes as a "
                   "FileNotFoundError traceback instead of its 'Config file ... not found.' "
                   "WorkflowError; it happens before the Snakefile is read")
def test_missing_configfile_without_traceback(tmp_path):
    outcome = _run_cli(tmp_path / "work", "--configfile", str(tmp_path / "nope.yaml"))
    assert "Traceback" not in outcome["output"]


# --- 2. interrupted runs: SIGKILL, then a plain rerun ----------------------------------------


def _files(path):
    return [p for p in Path(path).rglob("*") if p.is_file()] if Path(path).is_dir() else []


def _temporaries(results):
    """Hidden files (atomic writes' temporaries) anywhere under ``results``."""
    return sorted(p for p in _files(results) if p.name.startswith("."))


def _kill_leftovers(workdir):
    """SIGKILL every process still running in ``workdir`` (a Jupyter kernel runs in its own
    session, so killing snakemake's process group does not reach it)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
        except OSError:
            continue
        if cwd == workdir or workdir in cwd.parents:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass


class Run:
    """``snakemake --cores 2`` on the tiny config (``extra`` config files on top; the
    default target, or ``targets``) in its own session, killable as a whole."""

    def __init__(self, workdir, log, *extra, targets=()):
        self.workdir, self.log = workdir, log
        cmd = [*SNAKEMAKE, "--directory", str(workdir), "--cores", "2",
               *map(str, configs(TINY, *extra)), *(["--", *targets] if targets else [])]
        with open(log, "w") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def wait_for(self, condition, what, timeout=600):
        deadline = time.monotonic() + timeout
        while not condition():
            if self.proc.poll() is not None:
                pytest.fail(f"the run ended (exit {self.proc.returncode}) before {what}:\n"
                            + Path(self.log).read_text()[-3000:])
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"no {what} after {timeout} s")
            time.sleep(0.1)

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=60)
        _kill_leftovers(self.workdir)


DETERMINISTIC = ("results/data/", "results/init/", "results/fits/", "results/eval/",
                 "results/study/")
TIMED = ("history.csv", "fit.json", "fits.csv")  # carry times: compared column-wise


def assert_same_results(reference, workdir):
    """Every deterministic artifact of ``workdir`` equals the reference run's."""
    first = io.read_json(reference / "results" / "audit" / "manifest.json")["artifacts"]
    second = io.read_json(workdir / "results" / "audit" / "manifest.json")["artifacts"]
    assert set(first) == set(second)
    compared = [p for p in first if p.startswith(DETERMINISTIC) and not p.endswith(TIMED)]
    assert len(compared) >= 20
    assert [p for p in compared if first[p]["sha256"] != second[p]["sha256"]] == []
    timed = [p for p in first if p.startswith(DETERMINISTIC) and p.endswith(TIMED)]
    for path in timed:
        if path.endswith(".json"):
            a, b = (io.read_json(d / path) for d in (reference, workdir))
            for key in ("status", "message", "iterations", "evaluations", "settings",
                        "init_sha256", "inputs"):
                assert a[key] == b[key], (path, key)
        else:
            a, b = (io.read_csv(d / path) for d in (reference, workdir))
            drop = [c for c in ("time_s", "batch_wall_s", "compile_s") if c in a]
            assert a.drop(columns=drop).equals(b.drop(columns=drop)), path


@pytest.mark.slow
def test_killed_runs_resume_to_the_same_results(small_run, small_config, tmp_path):
    """SIGKILL the whole run twice during training and once while the article's notebook
    runs (seeded random moments); the next plain run finishes, with every deterministic
    artifact identical to an uninterrupted run's (the session's ``small_run``, the same
    config) and no temporary left in results/."""
    rng = random.Random(20261127)
    work = tmp_path / "work"
    results = work / "results"
    run = None
    try:
        # 1: as soon as training has written something, plus up to 4 s
        run = Run(work, tmp_path / "run1.log", small_config)
        run.wait_for(lambda: _files(results / "fits") or _files(results / "study"),
                     "training output")
        time.sleep(rng.uniform(0, 4))
        run.kill()

        # 2: 1 to 5 s after this attempt started a training job
        log2 = tmp_path / "run2.log"
        run = Run(work, log2, small_config)
        run.wait_for(lambda: re.search(r"rule (train|study):", log2.read_text()),
                     "a training job")
        time.sleep(rng.uniform(1, 5))
        run.kill()

        # 3: while papermill writes the article's notebook (its temporary exists)
        run = Run(work, tmp_path / "run3.log", small_config)
        run.wait_for(lambda: list((results / "article").glob(".article.*.tmp.ipynb")),
                     "the article's notebook")
        time.sleep(rng.uniform(0, 2))
        run.kill()
    finally:
        if run is not None:
            run.kill()
    for n in (1, 2, 3):
        assert "Complete log" not in (tmp_path / f"run{n}.log").read_text()
    stale = _temporaries(results)
    assert any(p.name.startswith(".article.") for p in stale), stale
    # the kind of lock a hard-killed run with Snakemake's locking leaves (see the next test)
    plant_stale_lock(work)

    # the user's command, unchanged (the default profile applies: no lock, rerun-incomplete)
    proc = run_snakemake(work, "--cores", "2", *configs(TINY, small_config), timeout=900)
    assert "cannot be locked" not in proc.stdout + proc.stderr
    assert _temporaries(results) == []
    assert "left by an interrupted earlier run" in (work / "logs" / "article.log").read_text()
    assert audit.verify(results) == []
    assert_same_results(small_run, work)


def plant_stale_lock(workdir):
    """What ``.snakemake/locks`` holds after a run with Snakemake's lock was SIGKILLed:
    the files it meant to read and write, and no owner."""
    locks = workdir / ".snakemake" / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    (locks / "0.input.lock").write_text("results/data/spirals.csv\n")
    (locks / "0.output.lock").write_text("results/data/spirals.csv\nresults/provenance/"
                                         "spirals.json\nresults/article/article.html\n")


def test_a_stale_lock_blocks_only_runs_without_the_default_profile(tmp_path):
    """Why the workflow profile says ``nolock`` (the workflow takes its own lock, tested
    below): Snakemake cannot tell its stale lock from a live one, so with it the next run
    refuses until ``snakemake --unlock``."""
    conf = tmp_path / "tiny.yaml"
    conf.write_text(yaml.safe_dump(tiny_config()))
    plant_stale_lock(tmp_path / "work")
    target = "results/data/spirals.csv"
    locked = _run_cli(tmp_path / "work", target, "--workflow-profile", "none",
                      "--configfile", str(conf))
    assert locked["code"] != 0 and "Directory cannot be locked" in locked["output"]
    assert "--unlock" in locked["output"] and not locked["results"]
    plain = _run_cli(tmp_path / "work", target, "--configfile", str(conf))
    assert plain["code"] == 0, plain["output"][-3000:]
    assert (tmp_path / "work" / target).is_file()


# --- the workflow's run lock: one live run per directory, none left by a killed run -----------

#: A target of a few seconds to a minute on the tiny config (data, the shared init, one LM fit).
LOCK_TARGET = "results/fits/lm/fit.json"


def _lock_owner(workdir) -> dict:
    return run_lock.read_owner(workdir / run_lock.LOCK_FILE)


def test_run_lock_names_its_live_owner_and_dies_with_it(tmp_path):
    """secondorder.run_lock without Snakemake: a second process is refused while the
    first holds the lock (the message names its pid and host), and once the first is
    killed with SIGKILL the lock is free again, though its file stays."""
    hold = ("import sys, time; from secondorder import run_lock; "
            "run_lock.acquire(sys.argv[1], command=['holder']); print('held', flush=True); "
            "time.sleep(300)")
    holder = subprocess.Popen([sys.executable, "-c", hold, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        owner = _lock_owner(tmp_path)
        assert owner["pid"] == holder.pid and owner["command"] == "holder"
        probe = subprocess.run(
            [sys.executable, "-c", "import sys; from secondorder import run_lock; "
             "run_lock.acquire(sys.argv[1])", str(tmp_path)],
            capture_output=True, text=True, timeout=60)
        assert probe.returncode != 0
        assert f"pid {holder.pid} on host {owner['host']}" in probe.stderr, probe.stderr
        assert "RunLocked" in probe.stderr
    finally:
        holder.kill()
        holder.wait(timeout=60)
    assert (tmp_path / run_lock.LOCK_FILE).is_file()
    again = subprocess.run([sys.executable, "-c", "import sys; from secondorder import "
                            "run_lock; print(run_lock.acquire(sys.argv[1]))", str(tmp_path)],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and again.stdout.strip().endswith("secondorder.lock"), (
        again.stderr)


@pytest.mark.slow
def test_a_second_live_run_is_refused_and_the_first_completes(tmp_path):
    """Two real runs in one directory: the first takes the lock and is paused (SIGSTOP,
    so the second surely meets it alive); the second, the same command, stops before
    starting a job with a message naming the first (a dry run is not refused); the
    first, resumed, completes."""
    work = tmp_path / "work"
    first = Run(work, tmp_path / "first.log", targets=[LOCK_TARGET])
    try:
        first.wait_for(lambda: _lock_owner(work).get("pid") == first.proc.pid,
                       "the run lock")
        os.killpg(first.proc.pid, signal.SIGSTOP)
        try:
            second = run_snakemake(work, "--cores", "2", *configs(TINY), "--", LOCK_TARGET,
                                   timeout=300, check=False)
            dry = run_snakemake(work, "-n", *configs(TINY), "--", LOCK_TARGET, timeout=300,
                                check=False)
        finally:
            os.killpg(first.proc.pid, signal.SIGCONT)
        out = second.stdout + second.stderr
        assert second.returncode != 0, out[-3000:]
        assert "another run of this workflow is running" in out, out[-3000:]
        assert f"pid {first.proc.pid} on host " in out, out[-3000:]
        assert "Select jobs to execute" not in out and "Traceback" not in out, out[-3000:]
        assert dry.returncode == 0, (dry.stdout + dry.stderr)[-3000:]  # a dry run reads only
        assert first.proc.wait(timeout=600) == 0, Path(first.log).read_text()[-3000:]
    finally:
        first.kill()
    assert io.read_json(work / LOCK_TARGET)["status"]
    assert "Finished" in Path(first.log).read_text()


@pytest.mark.slow
def test_a_killed_run_leaves_no_lock(tmp_path):
    """A run SIGKILLed while it holds the lock and runs a job: its lock file stays,
    naming the dead run, yet the next plain run (the same command, no --unlock) takes the
    lock and finishes."""
    work = tmp_path / "work"
    run = Run(work, tmp_path / "killed.log", targets=[LOCK_TARGET])
    try:
        run.wait_for(lambda: _lock_owner(work).get("pid") == run.proc.pid and
                     "rule " in Path(run.log).read_text(), "a job under the run lock")
        time.sleep(1)
    finally:
        run.kill()
    assert _lock_owner(work)["pid"] == run.proc.pid
    proc = run_snakemake(work, "--cores", "2", *configs(TINY), "--", LOCK_TARGET,
                         timeout=600)
    out = proc.stdout + proc.stderr
    assert "another run" not in out and "cannot be locked" not in out, out[-3000:]
    assert io.read_json(work / LOCK_TARGET)["status"]
    assert _lock_owner(work)["pid"] != run.proc.pid


# --- 3. numerical faults through the pipeline -------------------------------------------------


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory):
    """The tiny config with an Adam arm that diverges to NaN (lr 1e39 is infinite in
    float32) and an LM arm that stalls at mu_max, in the article and in the study."""
    base = tmp_path_factory.mktemp("faults")
    conf = tiny_config(run=["adam", "lm"],
                       arms={"adam": {"learning_rate": 1.0e39}, "lm": {"mu_max": 1.0e-2}},
                       study={"arms": ["adam", "lm"], "single_seed_arms": [], "n_inits": 2,
                              "inits_per_job": 2, "inputs": ["raw"], "reordered_arms": []},
                       suite={"in_article": "none"})  # no suite slice: not its subject
    del conf["scaling"]
    path = base / "faults.yaml"
    path.write_text(yaml.safe_dump(conf))
    run_snakemake(base / "work", "--cores", "2", "--configfile", path, timeout=900)
    return base / "work"


@pytest.mark.slow
def test_failed_fits_are_recorded_not_fatal(faulty_run):
    results = faulty_run / "results"
    adam = io.read_json(results / "fits" / "adam" / "fit.json")
    lm = io.read_json(results / "fits" / "lm" / "fit.json")
    assert (adam["status"], adam["success"]) == ("nan_loss", False)
    assert "NaN" in adam["message"]
    assert (lm["status"], lm["success"]) == ("mu_max", False)
    assert "mu_max" in lm["message"]

    fits = io.read_csv(results / "summary" / "fits.csv")
    article = fits[fits["source"] == "article"].set_index("arm")
    assert article.loc["adam", "status"] == "nan_loss" and article.loc["lm", "status"] == "mu_max"
    studied = fits[fits["source"] == "study"]
    assert (studied[studied["arm"] == "adam"]["status"] == "nan_loss").sum() == 2
    assert (studied[studied["arm"] == "lm"]["status"] == "mu_max").sum() == 2
    # a diverged fit returns the restored best weights (EarlyStopping's rule; the
    # initial ones when no epoch had a finite validation loss), so it is scored
    weights = io.read_npy(results / "study" / "adam" / "raw" / "1-2" / "weights.npy")
    initial = np.stack([model.init_weights(s, ARCH) for s in (1, 2)])
    assert weights.shape == (2, 27) and np.isfinite(weights).all()
    np.testing.assert_allclose(weights, initial, rtol=1e-6)  # float32 training
    assert studied[studied["arm"] == "adam"]["ssq_train"].notna().all()

    robust = io.read_csv(results / "summary" / "robustness.csv").set_index("arm")
    assert robust.loc["adam", "n"] == 2 and robust.loc["adam", "successes"] == 0
    assert robust.loc["lm", "n"] == 2 and robust.loc["lm", "successes"] == 0

    html = (results / "article" / "article.html").read_text()
    assert "(nan loss)" in html  # the verdict's sentence on Adam
    assert html.count("nan_loss") >= 1 and html.count("mu_max") >= 1  # the results table
    notebook = json.loads((results / "article" / "article.ipynb").read_text())
    outputs = [o for cell in notebook["cells"] for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error" or o.get("name") == "stderr"]
    assert audit.verify(results) == []


# --- 4. the library API refuses malformed input -------------------------------------------------


ARCH = model.Architecture(2, 5, 2)  # 27 weights


@pytest.fixture(scope="module")
def problem():
    spiral = data.spiral_data(40)
    train, validation = data.split_indices(40, 0.8, 0)
    return data.Problem(spiral[:, :2], spiral[:, 2:], train, validation, "raw")


def replace(problem, **fields):
    """A Problem like ``problem`` with some fields changed (bypassing its own checks, to
    reach the checks of the functions that take one)."""
    new = copy.copy(problem)
    for key, value in fields.items():
        object.__setattr__(new, key, value)
    return new


ARMS = {
    "adam": {"optimizer": "adam", "inputs": "raw", "learning_rate": 0.01, "epochs": 3,
             "patience": 2, "chunk": 3},
    "lm": {"optimizer": "lm", "inputs": "raw", "max_iter": 2, "chunk": 2},
    "lbfgs": {"optimizer": "lbfgs", "inputs": "raw", "max_iter": 2},
    "scipy_lm_fd": {"optimizer": "scipy_lm_fd", "inputs": "raw", "max_nfev": 30},
    "scipy_lm_fd_modern": {"optimizer": "scipy_lm_fd_modern", "inputs": "raw", "max_nfev": 30},
}


@pytest.mark.parametrize("x,y,train,validation,inputs,match", [
    (np.zeros(10), np.zeros((10, 2)), [0], [1], "raw", "2-D"),
    (np.zeros((10, 2)), np.zeros((9, 2)), [0], [1], "raw", "same number of rows"),
    (np.zeros((10, 2)), np.zeros((10, 2)), [], [1], "raw", "must not be empty"),
    (np.zeros((10, 2)), np.zeros((10, 2)), [0], [], "raw", "must not be empty"),
    (np.zeros((10, 2)), np.zeros((10, 2)), [0], [1], "normalized", "inputs must be one of"),
], ids=["1-d-inputs", "rows-mismatch", "empty-train", "empty-validation", "unknown-inputs"])
def test_problem_rejects_malformed_data(x, y, train, validation, inputs, match):
    with pytest.raises(ValueError, match=match):
        data.Problem(x, y, np.asarray(train), np.asarray(validation), inputs)


def test_problem_converts_lists():
    x, y = np.zeros((10, 2)), np.zeros((10, 2))
    problem = data.Problem(x.tolist(), y.tolist(), [0], [1], "raw")
    assert problem.x_train.shape == (1, 2) and problem.train.dtype.kind == "i"


@pytest.mark.parametrize("train,match", [
    (np.array([0, 10]), r"integer row indices in 0\.\.9"),
    (np.array([-1]), r"integer row indices in 0\.\.9"),
    (np.array([0.0, 1.0]), "integer row indices"),
    (np.array([[0, 1]]), "1-D array of row indices")])
def test_problem_checks_row_indices(train, match):
    x, y = np.zeros((10, 2)), np.zeros((10, 2))
    with pytest.raises(ValueError, match=match):
        data.Problem(x, y, train, np.array([1]), "raw")


@pytest.mark.parametrize("ws,match", [
    (np.zeros(26), r"flat weight vector of 27 numbers for a 2-5-2 perceptron, got shape \(26,\)"),
    (np.zeros(28), r"27 numbers .* got shape \(28,\)"),
    (np.zeros((1, 27)), r"got shape \(1, 27\)"),
    (np.zeros(27, dtype=int), "floating point"),
    (np.array(["0.1"] * 27), "floating point"),
    (np.zeros(0), r"got shape \(0,\)"),
], ids=["short", "long", "2-d", "integers", "strings", "empty"])
def test_weights_of_the_wrong_shape_or_dtype_are_refused(ws, match):
    with pytest.raises(ValueError, match=match):
        model.check_flat(ws, ARCH)
    with pytest.raises(ValueError, match=match):
        model.unpack(ws, ARCH)


def test_architecture_needs_positive_sizes():
    for sizes in ((2, 0, 2), (2, -1, 2), (2, 2.5, 2)):
        with pytest.raises(ValueError, match="positive integer"):
            model.Architecture(*sizes)


BAD_PROBLEMS = [
    ("targets-3-columns", {"y_all": np.zeros((40, 3))},
     r"targets must be an \(n, 2\) array, one column per output of the 2-5-2 perceptron, "
     r"got shape \(40, 3\)"),
    ("inputs-3-columns", {"x_all": np.zeros((40, 3))},
     r"inputs must be an \(n, 2\) array, one column per input .* got shape \(40, 3\)"),
    ("string-inputs", {"x_all": np.full((40, 2), "a")}, "inputs must be real numbers"),
    ("object-targets", {"y_all": np.full((40, 2), None)}, "targets must be real numbers"),
    ("index-out-of-range", {"train": np.array([0, 40])},
     r"train indices must lie in 0\.\.39 \(the rows of the data\), got 0\.\.40"),
    ("negative-index", {"validation": np.array([-1, 3])},
     r"validation indices must lie in 0\.\.39"),
    ("float-indices", {"train": np.array([0.0, 1.0])}, "integer row indices"),
    ("no-rows", {"x_all": np.zeros((0, 2)), "y_all": np.zeros((0, 2))}, "no rows"),
]


@pytest.mark.parametrize("optimizer", sorted(ARMS))
@pytest.mark.parametrize("name,fields,match", BAD_PROBLEMS, ids=[b[0] for b in BAD_PROBLEMS])
def test_fit_arm_rejects_malformed_problems(problem, optimizer, name, fields, match):
    from secondorder.optim.arms import fit_arm

    with pytest.raises(ValueError, match=match):
        fit_arm(ARMS[optimizer], replace(problem, **fields), model.init_weights(1, ARCH), ARCH)


@pytest.mark.parametrize("optimizer", sorted(ARMS))
@pytest.mark.parametrize("ws0,match", [
    (np.zeros(26), r"27 numbers for a 2-5-2 perceptron, got shape \(26,\)"),
    (np.zeros((2, 27)), r"got shape \(2, 27\)"),
    (np.full(27, np.nan), "must be finite"),
    (np.zeros(27, dtype=np.int64), "floating point"),
], ids=["short", "2-d", "nan", "integers"])
def test_fit_arm_rejects_malformed_initial_weights(problem, optimizer, ws0, match):
    from secondorder.optim.arms import fit_arm

    with pytest.raises(ValueError, match=match):
        fit_arm(ARMS[optimizer], problem, ws0, ARCH)


@pytest.mark.parametrize("arm,match", [
    ({**ARMS["adam"], "optimizer": "newton"}, r"arm\['optimizer'\] must be one of \['adam',"),
    ({"inputs": "raw"}, r"arm\['optimizer'\] must be one of"),
    ([("optimizer", "adam")], "arm must be a dict"),
    ({k: v for k, v in ARMS["adam"].items() if k != "epochs"}, "'epochs' is a required property"),
    ({**ARMS["adam"], "lr": 0.1}, r"unknown key\(s\) \['lr'\]"),
    ({**ARMS["adam"], "epochs": "ten"}, "'arm.epochs'.*wrong type; expected integer"),
    ({**ARMS["adam"], "learning_rate": -1.0}, "'arm.learning_rate'.*must be > 0"),
    ({**ARMS["lm"], "damping": "fletcher"}, r"allowed values are \['marquardt', 'nielsen'\]"),
    ({**ARMS["lm"], "max_iter": 0}, "'arm.max_iter'.*must be >= 1"),
], ids=["unknown-optimizer", "no-optimizer", "not-a-dict", "missing-key", "unknown-key",
        "wrong-type", "negative-lr", "unknown-damping", "zero-iterations"])
def test_fit_arm_rejects_malformed_settings(problem, arm, match):
    from secondorder.optim.arms import fit_arm

    with pytest.raises(ValueError, match=match):
        fit_arm(arm, problem, model.init_weights(1, ARCH), ARCH)


def test_fit_arm_rejects_a_problem_that_is_not_one(problem):
    from secondorder.optim.arms import fit_arm

    with pytest.raises(ValueError, match="expected a secondorder.problem.data.Problem, got tuple"):
        fit_arm(ARMS["lm"], (problem.x_all, problem.y_all), model.init_weights(1, ARCH), ARCH)
    with pytest.raises(ValueError, match="arch must be a secondorder.problem.model.Architecture"):
        fit_arm(ARMS["lm"], problem, model.init_weights(1, ARCH), (2, 5, 2))


def test_fit_arm_does_not_change_its_arm_and_accepts_numpy_numbers(problem):
    from secondorder.optim.arms import fit_arm

    arm = {**ARMS["adam"], "epochs": np.int64(3), "learning_rate": np.float64(0.01)}
    before = copy.deepcopy(arm)
    result = fit_arm(arm, problem, model.init_weights(1, ARCH), ARCH)
    assert result.iterations == 3 and arm == before


@pytest.mark.parametrize("kwargs,match", [
    ({"learning_rate": 0.0}, "'arm.learning_rate': 0.0 is out of range; it must be > 0"),
    ({"learning_rate": "fast"}, "'arm.learning_rate': 'fast' has the wrong type; expected number"),
    ({"momentum": 1.5, "optimizer": "sgd"}, "'arm.momentum': 1.5 is out of range; it must be <= 1"),
    ({"momentum": 0.9}, "'arm.momentum': must be 0, got 0.9"),
    ({"chunk": 0}, "'arm.chunk': 0 is out of range; it must be >= 1"),
    ({"epochs": 2.5}, "'arm.epochs': 2.5 has the wrong type; expected integer"),
    ({"patience": True}, "'arm.patience': True has the wrong type; expected integer"),
    ({"optimizer": "newton"}, "unknown optimizer 'newton'"),
    ({"lr": 0.1}, r"unknown key\(s\) \['lr'\]"),
], ids=["zero-lr", "string-lr", "momentum", "adam-momentum", "chunk", "fractional-epochs",
        "bool-patience", "optimizer", "unknown-setting"])
def test_first_order_rejects_malformed_settings(problem, kwargs, match):
    from secondorder.optim.first_order import fit_first_order, fit_first_order_batch

    ws0 = model.init_weights(1, ARCH)
    with pytest.raises(ValueError, match=match):
        fit_first_order(problem, ws0, arch=ARCH, **{"epochs": 3, "patience": 2, **kwargs})
    with pytest.raises(ValueError, match=match):
        fit_first_order_batch(problem, ws0[None], arch=ARCH,
                              **{"epochs": 3, "patience": 2, **kwargs})


@pytest.mark.parametrize("fields,match", [(f, m) for _, f, m in BAD_PROBLEMS[:5]],
                         ids=[b[0] for b in BAD_PROBLEMS[:5]])
def test_first_order_rejects_malformed_problems(problem, fields, match):
    from secondorder.optim.first_order import fit_first_order, fit_first_order_batch

    bad, ws0 = replace(problem, **fields), model.init_weights(1, ARCH)
    with pytest.raises(ValueError, match=match):
        fit_first_order(bad, ws0, arch=ARCH, epochs=3, patience=2)
    with pytest.raises(ValueError, match=match):
        fit_first_order_batch(bad, ws0[None], arch=ARCH, epochs=3, patience=2)


@pytest.mark.parametrize("ws0,match", [
    (np.zeros(27), r"\(B, 27\) matrix of initial weights, one row per fit .* got shape \(27,\)"),
    (np.zeros((2, 26)), r"got shape \(2, 26\)"),
    (np.zeros((0, 27)), r"B >= 1.* got shape \(0, 27\)"),
    (np.zeros((2, 27, 1)), r"got shape \(2, 27, 1\)"),
    (np.vstack([np.zeros(27), np.full(27, np.inf)]), "must be finite"),
    (np.zeros((2, 27), dtype=int), "floating point"),
], ids=["1-d", "short-rows", "no-rows", "3-d", "infinite", "integers"])
def test_batch_rejects_malformed_initial_weights(problem, ws0, match):
    from secondorder.optim.first_order import fit_first_order_batch

    with pytest.raises(ValueError, match=match):
        fit_first_order_batch(problem, ws0, arch=ARCH, epochs=3, patience=2)


def test_first_order_rejects_a_wrong_length_init(problem):
    from secondorder.optim.first_order import fit_first_order

    with pytest.raises(ValueError, match=r"27 numbers .* got shape \(127,\)"):
        fit_first_order(problem, model.init_weights(1), arch=ARCH, epochs=3, patience=2)


def test_lm_least_squares_rejects_malformed_input():
    import tensorflow as tf

    from secondorder.optim import lm

    def residuals(w):
        return w - tf.constant([1.0, 2.0], tf.float64)

    cases = [
        (dict(x0=np.zeros((2, 1))), r"x0 must be a non-empty 1-D array .* got shape \(2, 1\)"),
        (dict(x0=np.zeros(0)), "non-empty 1-D"),
        (dict(x0=np.array(["a", "b"])), "x0 must hold real numbers"),
        (dict(x0=np.array([np.nan, 0.0])), "x0 must be finite"),
        (dict(residuals=lambda w: tf.cast(residuals(w), tf.float32)), "must return float64"),
        (dict(residuals=lambda w: tf.reshape(residuals(w), (2, 1))),
         r"non-empty 1-D array per row, got shape \(2, 1\)"),
        (dict(jac=lambda w: tf.zeros((3, 2), tf.float64)),
         r"jacobian .* returned shape \(3, 2\), expected \(2, 2\)"),
        (dict(mu0=-1.0), "mu0 must be a finite number > 0"),
        (dict(max_iter=2.5), "max_iter must be an integer"),
        (dict(solve="cuda"), "solve must be 'numpy' or 'scipy'"),
        (dict(scaling="unit"), "scaling must be one of"),
        (dict(damping="fletcher"), "fletcher"),
    ]
    for overrides, match in cases:
        kwargs = {"residuals": residuals, "x0": np.zeros(2), "max_iter": 5, **overrides}
        with pytest.raises(ValueError, match=match):
            lm.least_squares(kwargs.pop("residuals"), kwargs.pop("x0"), **kwargs)


@pytest.mark.parametrize("block", ["25-1", "1_25", "a-b", "", "1-", "-1-2", " 1-2"])
def test_block_seeds_rejects_malformed_names(block):
    with pytest.raises(ValueError, match="a seed block looks like '1-25'"):
        study.block_seeds(block)


def test_block_seeds_rejects_a_number():
    with pytest.raises(ValueError, match="a seed block looks like '1-25'"):
        study.block_seeds(12)


def test_block_seeds_of_good_names():
    assert study.block_seeds("3-5") == [3, 4, 5] and study.block_seeds("0-0") == [0]


# --- 5. disk faults: read-only, full, a parent that is a file -----------------------------------


@pytest.fixture
def target(tmp_path):
    """An existing artifact whose old content must survive a failed rewrite."""
    path = tmp_path / "results" / "fits" / "adam" / "fit.json"
    io.write_json(path, {"old": True})
    return path


def _untouched(target):
    assert io.read_json(target) == {"old": True}
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]  # no temporaries


def _oserror(code):
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))
    return fail


@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC, errno.EIO])
def test_rename_failure_names_the_path_and_keeps_the_old_file(target, monkeypatch, code):
    monkeypatch.setattr(os, "replace", _oserror(code))
    with pytest.raises(OSError) as err:
        io.write_json(target, {"new": True})
    assert err.value.errno == code
    assert f"cannot write {target}: {os.strerror(code)}" in str(err.value)
    _untouched(target)


def test_full_disk_while_writing(target, monkeypatch):
    """ENOSPC after half the bytes are on disk."""
    def half_then_full(self, payload):
        with open(self, "wb") as fh:
            fh.write(payload[: len(payload) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))

    monkeypatch.setattr(Path, "write_bytes", half_then_full)
    with pytest.raises(OSError) as err:
        io.write_csv(target, __import__("pandas").DataFrame({"a": range(1000)}))
    assert err.value.errno == errno.ENOSPC
    assert f"cannot write {target}: No space left on device" in str(err.value)
    _untouched(target)


def test_full_disk_at_flush(target, monkeypatch):
    monkeypatch.setattr(os, "fsync", _oserror(errno.ENOSPC))
    with pytest.raises(OSError, match=f"cannot write {target}: No space left on device"):
        io.write_npy(target, np.zeros(3))
    _untouched(target)


def test_read_only_directory_at_create(target, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "mkstemp", _oserror(errno.EROFS))
    with pytest.raises(OSError) as err:
        io.write_text(target, "new")
    assert err.value.errno == errno.EROFS
    assert f"cannot write {target}: Read-only file system" in str(err.value)
    _untouched(target)


def test_cleanup_failure_does_not_hide_the_write_error(target, monkeypatch):
    """On a file system gone read-only the temporary cannot be deleted either; the error
    raised is still the one about the destination."""
    monkeypatch.setattr(os, "replace", _oserror(errno.EROFS))
    monkeypatch.setattr(os, "unlink", _oserror(errno.EROFS))
    with pytest.raises(OSError, match=f"cannot write {target}: Read-only file system"):
        io.write_text(target, "new")
    assert io.read_json(target) == {"old": True}


def test_parent_path_is_a_file(tmp_path):
    (tmp_path / "results").write_text("not a directory")
    deep = tmp_path / "results" / "fits" / "adam" / "weights.npy"
    with pytest.raises(NotADirectoryError, match=f"cannot write {deep}: Not a directory"):
        io.write_npy(deep, np.zeros(3))
    direct = tmp_path / "results" / "weights.npy"
    with pytest.raises(OSError, match=f"cannot write {direct}: "):
        io.write_npy(direct, np.zeros(3))
    assert (tmp_path / "results").read_text() == "not a directory"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_an_error_in_the_body_passes_through_and_leaves_nothing(target):
    with pytest.raises(KeyboardInterrupt):
        with io.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    _untouched(target)


# --- stale temporaries: a writer killed mid-write, then the job's next attempt -------------------


def test_a_killed_writer_leaves_a_temporary_that_the_next_job_removes(target, tmp_path):
    code = ("import sys, time\nfrom secondorder import io\n"
            "with io.atomic_path(sys.argv[1]) as tmp:\n"
            "    tmp.write_text('half'); print('writing', flush=True); time.sleep(60)\n")
    writer = subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE,
                              text=True)
    assert writer.stdout.readline().strip() == "writing"
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    stale = io.stale_temporaries(target)
    assert len(stale) == 1 and stale[0].read_text() == "half"
    assert io.read_json(target) == {"old": True}

    # the job that owns the output removes it when it starts again
    other = target.with_name("history.csv")  # another output of the same directory
    unrelated = target.parent / f".{target.stem}.b.abcd1234.tmp.json"
    unrelated.write_text("not ours")
    smk = FakeSmk(tmp_path, outputs=[target, other])
    with _restore_logging():
        with audit.job(smk):
            assert io.stale_temporaries(target) == []
            io.write_json(target, {"new": True})
            io.write_text(other, "iteration\n")
    assert io.read_json(target) == {"new": True}
    assert unrelated.exists()  # a different name is left alone
    assert "left by an interrupted earlier run" in Path(smk.log[0]).read_text()
    assert io.read_json(smk.output.provenance)["outputs"].keys() == {str(target), str(other)}


def test_stale_temporaries_match_only_their_own_target(tmp_path):
    target = tmp_path / "weights.npy"
    names = [".weights.ab_d12x4.tmp.npy", ".weights.abcd1234.tmp.csv", ".weights.abc.tmp.npy",
             ".weights.b.abcd1234.tmp.npy", "weights.abcd1234.tmp.npy",
             ".weightsX.abcd1234.tmp.npy"]
    for name in names:
        (tmp_path / name).write_text("x")
    assert [p.name for p in io.stale_temporaries(target)] == [".weights.ab_d12x4.tmp.npy"]
    assert io.stale_temporaries(tmp_path / "missing" / "weights.npy") == []


class _Output(list):
    def __init__(self, files, provenance):
        super().__init__([*map(str, files), str(provenance)])
        self.provenance = str(provenance)


class FakeSmk:
    """What ``audit.job`` reads of the ``snakemake`` object of a script."""

    def __init__(self, tmp_path, outputs):
        self.rule, self.wildcards, self.params, self.input = "demo", {}, {}, []
        self.output = _Output(outputs, tmp_path / "results" / "provenance" / "demo.json")
        self.log = [str(tmp_path / "demo.log")]


class _restore_logging:
    """``audit.job`` reconfigures the root logger for its job; give pytest its own back."""

    def __enter__(self):
        import logging

        self.root = logging.getLogger()
        self.handlers, self.level = self.root.handlers[:], self.root.level

    def __exit__(self, *exc):
        for handler in self.root.handlers:
            if handler not in self.handlers:
                handler.close()
        self.root.handlers[:] = self.handlers
        self.root.setLevel(self.level)


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)
