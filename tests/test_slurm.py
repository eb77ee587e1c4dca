"""The workflow on a real SLURM cluster (``pytest -k slurm``).

Needs a running SLURM (``.ci/slurm-up.sh`` brings up a one-node cluster; ``.ci/run``
does that before the tests). Without ``sbatch`` on PATH, or when ``sinfo`` does not
answer with a usable node, the whole module is skipped.

One module-scoped SLURM run of the tiny config with the smaller study of
``conftest.SMALL`` (``profiles/slurm-cpu``, every job a SLURM job) is shared: the first
test checks it against the session's local run of the same config (``small_run``); the
second reruns its ``lm_fd`` arm, slowed down, in a copy, ``scancel``s that job while it
runs and checks that Snakemake resubmits it (``retries:`` in the profile) and the
results still verify.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, TINY, assert_same_fits, configs

from secondorder import audit, io

PROFILE = ROOT / "profiles" / "slurm-cpu"
TRAIN_RULES = {"train"}
ARMS = ("adam", "lm", "lm_fd", "lm_fd_modern")
DETERMINISTIC = ("results/data/", "results/init/", "results/fits/", "results/eval/",
                 "results/study/")
TIMED = ("history.csv", "fit.json", "fits.csv")  # carry times; compared separately
#: ``max_nfev`` that keeps the tiny lm_fd fit running for the longest it can: it stops
#: on ``ftol`` after 42,028 evaluations (portable numerics: the same count everywhere), so
#: 40,000 ends it on ``max_nfev`` after ~1.5 s of fitting on the 2-core EPYC, long enough
#: for the cancel below (1 s after its first progress line) to land inside the fit. 5,000
#: ended the fit in 0.2 s, before the cancel, which then hit the job's teardown.
SLOW_NFEV = 40000


def _slurm_missing():
    """Why SLURM cannot be used here, or None when it can."""
    if shutil.which("sbatch") is None:
        return "SLURM not installed (no sbatch on PATH); run .ci/slurm-up.sh"
    try:
        proc = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True,
                              text=True, timeout=15)
    except (OSError, subprocess.SubprocessError) as err:
        return f"SLURM not running (sinfo: {err}); run .ci/slurm-up.sh"
    states = proc.stdout.split()
    if proc.returncode != 0:
        return (f"SLURM not running (sinfo exit {proc.returncode}: "
                f"{proc.stderr.strip()[:200]}); run .ci/slurm-up.sh")
    if not any(s.rstrip("*~#$@^-") in ("idle", "mix", "alloc", "comp") for s in states):
        return f"SLURM has no usable node (sinfo states: {states}); run .ci/slurm-up.sh"
    return None


_MISSING = _slurm_missing()
pytestmark = [pytest.mark.slurm, pytest.mark.slow,
              pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")]


# --- helpers -------------------------------------------------------------------------------

def _squeue(*args):
    """Rows of ``squeue -h -t all -o '%i|%T|%N|%k|%Z'`` as dicts (all users' jobs)."""
    proc = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i|%T|%N|%k|%Z", *args],
                          capture_output=True, text=True, timeout=30)
    rows = []
    for line in proc.stdout.splitlines():
        jobid, state, node, comment, workdir = (line.split("|", 4) + [""] * 5)[:5]
        rows.append({"id": jobid.strip(), "state": state, "node": node,
                     "comment": comment, "workdir": workdir})
    return rows


def _cancel_jobs_in(workdir):
    """scancel every unfinished SLURM job started in ``workdir`` (left by a failed run)."""
    ids = [r["id"] for r in _squeue() if r["workdir"] == str(workdir)
           and r["state"] in ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING")]
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True, timeout=30)


def _env():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _start(workdir, *args):
    """Start the workflow in ``workdir`` on SLURM; its output goes to ``workdir/slurm-run.log``."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"),
           "--directory", str(workdir), "--profile", str(PROFILE), *map(str, args)]
    log = open(workdir / "slurm-run.log", "w")  # noqa: SIM115 (closed in _finish)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=_env(),
                            start_new_session=True)
    proc.log_file = log
    return proc


def _finish(proc, workdir, timeout):
    """Wait at most ``timeout`` s for the run; on timeout interrupt it (Snakemake then
    cancels its SLURM jobs), kill it if it does not stop, cancel leftovers, fail."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(proc, workdir)
        pytest.fail(f"SLURM run in {workdir} did not finish within {timeout} s:\n"
                    + _tail(workdir))
    finally:
        proc.log_file.close()
        _cancel_jobs_in(workdir)
    return proc.returncode, (workdir / "slurm-run.log").read_text(errors="replace")


def _stop(proc, workdir):
    """Interrupt a run (Snakemake cancels its SLURM jobs), kill it if it lingers, and
    cancel whatever it left in the queue."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
    proc.log_file.close()
    _cancel_jobs_in(workdir)


def _tail(workdir, n=6000):
    return (workdir / "slurm-run.log").read_text(errors="replace")[-n:]


def _records(workdir):
    return io.read_json(workdir / "results" / "audit" / "manifest.json")["records"]


def _arm(rec):
    return rec["wildcards"].get("arm")


# --- fixtures ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def local_run(request):
    """The session's local run of the same config (``small_run``), with its wall time when
    it is built here (None when another test built it earlier in the session)."""
    t0 = time.perf_counter()
    workdir = request.getfixturevalue("small_run")
    wall = time.perf_counter() - t0
    return workdir, (wall if wall > 1 else None)


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory, small_config):
    """The tiny config with the smaller study of ``conftest.SMALL`` (each SLURM job pays
    a submission and status checks; the suite's rules declare their resources:
    tests/test_profiles.py), every job a SLURM job; returns (workdir, wall seconds,
    log)."""
    workdir = tmp_path_factory.mktemp("slurm").resolve()
    t0 = time.perf_counter()
    proc = _start(workdir, *configs(TINY, small_config))
    code, log = _finish(proc, workdir, timeout=900)
    wall = time.perf_counter() - t0
    assert code == 0, log[-6000:]
    return workdir, wall, log


# --- tests ---------------------------------------------------------------------------------

def test_tiny_config_runs_under_slurm(local_run, slurm_run):
    workdir, slurm_wall, log = slurm_run
    local_dir, local_wall = local_run
    print(f"\n[slurm] tiny config: SLURM run {slurm_wall:.1f} s wall "
          f"(profiles/slurm-cpu, {workdir}); local run "
          + (f"{local_wall:.1f} s wall (--cores 2)" if local_wall else
             "built earlier in this session, not timed"))

    # The SLURM profile was used, with the workflow profile layered on top (as for
    # every run: rerun-incomplete and the workflow's own run lock).
    assert "slurm-cpu" in log, log[:2000]
    assert re.search(r"workflow specific profile \S*profiles/default", log), log[:2000]

    # Every training job ran as its own SLURM job on a SLURM node; the one evaluation
    # job, a second of numpy, ran in the Snakemake process (a localrule).
    records = _records(workdir)
    jobs = [r for r in records if r["rule"] in TRAIN_RULES]
    assert sorted(_arm(r) for r in jobs) == sorted(ARMS)
    for rec in jobs:
        assert rec.get("slurm_job_id") and rec.get("slurm_node"), (rec["rule"], _arm(rec))
    evaluation = [r for r in records if r["rule"] == "evaluate"]
    assert len(evaluation) == 1 and "slurm_job_id" not in evaluation[0]
    ids = [r["slurm_job_id"] for r in records if "slurm_job_id" in r]
    assert len(ids) == len(set(ids)), ids
    # ... the ids the jobs saw are the ones Snakemake submitted in this run ...
    submitted = set(re.findall(r"has been submitted with SLURM jobid (\d+)", log))
    assert {r["slurm_job_id"] for r in jobs} <= submitted, (ids, submitted)
    # ... and SLURM itself lists those it still remembers (squeue -t all keeps a finished
    # job for MinJobAge, 300 s by default) as completed, on the node the record names.
    known = {r["id"]: r for r in _squeue()}
    checked = [rec for rec in jobs if rec["slurm_job_id"] in known]
    for rec in checked:
        row = known[rec["slurm_job_id"]]
        assert row["state"] == "COMPLETED", row
        assert row["node"] == rec["slurm_node"], (row, rec["slurm_node"])
        assert row["workdir"] == str(workdir), row
    print(f"[slurm] {len(jobs)} training jobs, SLURM ids "
          f"{sorted(int(r['slurm_job_id']) for r in jobs)}; {len(checked)} still in squeue, "
          "all COMPLETED")

    assert audit.verify(workdir / "results") == []

    # The deterministic artifacts are the local run's, byte for byte.
    local = io.read_json(local_dir / "results" / "audit" / "manifest.json")["artifacts"]
    remote = io.read_json(workdir / "results" / "audit" / "manifest.json")["artifacts"]
    compared = [p for p in local if p.startswith(DETERMINISTIC) and not p.endswith(TIMED)]
    assert len(compared) >= 12, compared
    assert set(compared) <= set(remote)
    assert any(p.endswith("weights.npy") for p in compared)
    # The study's jobs (a smaller study here) ran under SLURM too, and so did the suite's,
    # one job per problem x size x arm (conftest.SMALL's cluster scope).
    study_jobs = [r for r in records if r["rule"] == "study"]
    assert study_jobs and all(r.get("slurm_job_id") for r in study_jobs)
    suite_jobs = [r for r in records if r["rule"] == "suite_fit"]
    assert sorted(r["wildcards"]["part"] for r in suite_jobs) == ["lbfgs"] * 2 + ["lm"] * 2
    assert all(r.get("slurm_job_id") for r in suite_jobs)
    different = [p for p in compared if local[p]["sha256"] != remote[p]["sha256"]]
    assert different == []
    assert_same_fits(local_dir, workdir, ARMS)
    for arm in ARMS:
        fit = json.loads((workdir / "results" / "fits" / arm / "fit.json").read_text())
        assert fit.get("slurm_job_id"), arm


def test_the_suite_runs_its_phases_under_slurm(slurm_run):
    """The tiny cluster scope of ``conftest.SMALL`` (iris, LM and L-BFGS, one job per
    phase x arm): its tuning and evaluation jobs ran as SLURM jobs, the evaluation after
    the selection it reads; the design and the selection ran in the Snakemake process
    (localrules); its tables are written by name, and its primary question, with one
    cluster, says it cannot tell, with no detectable difference."""
    from secondorder.pipeline.suite import files

    workdir, _, _ = slurm_run
    records = _records(workdir)
    fits = {(r["wildcards"]["phase"], r["wildcards"]["part"]): r for r in records
            if r["rule"] == "suite_fit"}
    assert sorted(fits) == [(phase, arm) for phase in ("evaluate", "tune")
                            for arm in ("lbfgs", "lm")]
    assert all(r.get("slurm_job_id") and r.get("slurm_node") for r in fits.values())
    local = [r for r in records if r["rule"] in ("suite_design", "suite_select")]
    assert len(local) == 2 and not any("slurm_job_id" in r for r in local)
    select = next(r for r in records if r["rule"] == "suite_select")
    for arm in ("lbfgs", "lm"):
        assert fits[("evaluate", arm)]["started"] >= select["finished"]
    folder = workdir / "results" / "suite" / "cluster"
    tables = files.read_tables(folder)
    assert set(tables["verdict"]["rival"]) == {"lbfgs"}
    assert tables["primary"]["word"] == "cannot tell"
    assert tables["design"]["design"]["clusters"] == 1


def test_slurm_scancel_is_retried(slurm_run, small_config, tmp_path):
    """scancel the (slowed-down) lm_fd training job while it runs: Snakemake resubmits it,
    the run succeeds, and the results verify with no temporary files left."""
    source = slurm_run[0]
    workdir = tmp_path.resolve() / "run"
    shutil.copytree(source, workdir, symlinks=True)
    (workdir / "slurm-run.log").unlink()
    slow = tmp_path / "slow.yaml"
    slow.write_text(f"arms:\n  lm_fd:\n    max_nfev: {SLOW_NFEV}\n")

    t0 = time.perf_counter()
    # Only the forced lm_fd chain reruns (train, evaluate, summary, article, audit).
    proc = _start(workdir, *configs(TINY, small_config, slow), "--forcerun",
                  "results/fits/lm_fd/fit.json", "--rerun-triggers", "mtime")
    try:
        # Wait (bounded) for the lm_fd training job to run, then for its script to start.
        cancelled, running_since, deadline = None, None, time.monotonic() + 240
        fit_log = workdir / "logs" / "train" / "lm_fd.log"
        while time.monotonic() < deadline and proc.poll() is None:
            if cancelled is None:
                for row in _squeue():
                    if (row["workdir"] == str(workdir) and row["state"] == "RUNNING"
                            and row["comment"] == "rule_train_wildcards_lm_fd"):
                        cancelled, running_since = row["id"], time.time()
            if cancelled and fit_log.is_file() and fit_log.stat().st_mtime >= running_since - 1:
                break
            time.sleep(0.5)
        assert cancelled and proc.poll() is None, (
            f"lm_fd training never ran (job {cancelled}):\n" + _tail(workdir))
        # Let the fit itself start (its progress lines: "evaluations ..."), at most 15 s.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and "evaluations" not in fit_log.read_text(
                errors="replace"):
            time.sleep(0.5)
        time.sleep(1)
        assert proc.poll() is None and any(
            r["id"] == cancelled and r["state"] == "RUNNING" for r in _squeue()
        ), "lm_fd job finished before it could be cancelled; raise SLOW_NFEV"
        cancelled_after = time.perf_counter() - t0
        subprocess.run(["scancel", cancelled], check=True, timeout=30)
    except BaseException:
        _stop(proc, workdir)
        raise
    code, log = _finish(proc, workdir, timeout=420)
    wall = time.perf_counter() - t0
    print(f"\n[slurm] scancel of job {cancelled} {cancelled_after:.0f} s into the run; "
          f"run finished after {wall:.1f} s (exit {code})")

    assert code == 0, log[-6000:]
    assert f"SLURM-job '{cancelled}' failed, SLURM status is: 'CANCELLED'" in log, log[-6000:]
    assert "Trying to restart job" in log, log[-6000:]

    record = io.read_json(workdir / "results" / "provenance" / "train" / "lm_fd.json")
    assert record["params"]["arm"]["max_nfev"] == SLOW_NFEV
    assert record["slurm_job_id"] != cancelled
    assert record["slurm_job_id"] in re.findall(r"has been submitted with SLURM jobid (\d+)",
                                                log)
    manifest_ids = {r.get("slurm_job_id") for r in _records(workdir) if _arm(r) == "lm_fd"}
    assert cancelled not in manifest_ids

    assert audit.verify(workdir / "results") == []
    leftovers = [str(p) for p in (workdir / "results").rglob("*")
                 if p.name.startswith(".") and ".tmp" in p.name]
    assert leftovers == []
