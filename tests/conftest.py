import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def root():
    return ROOT


def run_snakemake(workdir, *args, timeout=900, check=True):
    """Run the project's Snakefile in ``workdir`` (``args`` passed through)."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"),
           "--directory", str(workdir), *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return proc


def configs(*extra):
    """``--configfile`` arguments: the default config, then ``extra`` files on top."""
    return ["--configfile", ROOT / "config" / "config.yaml", *extra]


TINY = ROOT / "config" / "test.yaml"

#: On top of the tiny config: a smaller study and, instead of the suite's slice, a tiny
#: scope with one job per problem x size x arm (as the full suite spreads over a
#: cluster), for the runs that test how the workflow runs (again, killed, on SLURM)
#: rather than what it computes. The article's arms are the tiny config's, so their
#: artifacts equal ``tiny_run``'s.
SMALL = """study:
  arms: [lm]
  single_seed_arms: []
  n_inits: 1
  inputs: [raw]
scaling:
  hidden: [3, 4]
suite:
  in_article: cluster
  budgets_s: [0.1]
  inference: {resamples: 100}
  scopes:
    cluster: {problems: [iris], sizes: [small], inits: 1, splits: 1, tune_inits: 1,
              tune_splits: 1, cap_s: 0.3, arms: [lm, lbfgs], jobs: arm}
"""

#: The session-scoped workflow runs; a test that uses one (directly or through another
#: fixture) is marked ``slow``: ``pytest -m "not slow"`` runs no workflow.
WORKFLOW_RUNS = ("tiny_run", "small_run", "emulated_run")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if set(WORKFLOW_RUNS) & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The real workflow on the tiny config, run once per test session; returns the
    working directory (its ``results/`` holds every artifact)."""
    workdir = tmp_path_factory.mktemp("tiny")
    run_snakemake(workdir, "--cores", "2", *configs(TINY))
    return workdir


#: The targets of :func:`emulated_run`: the article's four fits and their scores, and
#: one study job of each kind of optimizer (first-order, LM, L-BFGS).
EMULATED_TARGETS = ("results/eval/lm/metrics.json", "results/study/adam/scaled/1-2/fits.csv",
                    "results/study/lm/raw/1-2/fits.csv", "results/study/lbfgs/raw/1-2/fits.csv")
#: The rules of those targets, each given two threads (the tiny run's jobs have one).
EMULATED_THREADS = ("spirals", "split_scale", "shared_init", "train", "evaluate", "study")


@pytest.fixture(scope="session")
def emulated_run(tmp_path_factory):
    """The tiny config's article fits and three of its study jobs as on another CPU: an
    AVX2 CPU without numpy's AVX-512 targets (disabled through numpy's own variable;
    the workflow then leaves its cap unset, as numpy refuses both) and two threads per
    job (TensorFlow's pools; a portable job runs OpenBLAS on one whatever its threads);
    ``tests/test_numerics.py`` compares its portable hashes with ``tiny_run``'s.
    OPENBLAS_CORETYPE is left as the session holds it."""
    workdir = tmp_path_factory.mktemp("emulated")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NPY_")}
    env["NPY_DISABLE_CPU_FEATURES"] = "X86_V4 AVX512_ICL AVX512_SPR"
    threads = [f"{rule}=2" for rule in EMULATED_THREADS]
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory",
           str(workdir), "--cores", "2", "--set-threads", *threads, *map(str, configs(TINY)),
           "--", *EMULATED_TARGETS]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return workdir


@pytest.fixture(scope="session")
def small_config(tmp_path_factory):
    """The :data:`SMALL` overlay as a config file (use it after ``TINY``)."""
    path = tmp_path_factory.mktemp("config") / "small.yaml"
    path.write_text(SMALL)
    return path


@pytest.fixture(scope="session")
def small_run(tmp_path_factory, small_config):
    """A second, uninterrupted run: the tiny config with :data:`SMALL` on top, once per
    session; its article arms are ``tiny_run``'s, its whole results the reference of
    every other run of that config (killed and resumed, on SLURM)."""
    workdir = tmp_path_factory.mktemp("small")
    run_snakemake(workdir, "--cores", "2", *configs(TINY, small_config))
    return workdir


@pytest.fixture(scope="session")
def workflow(tmp_path_factory):
    """The parsed workflow (default config), through Snakemake's API. Parsing puts the
    numerics settings into this process's environment (workflow/rules/common.smk); they
    are restored right after, so the workflows the tests run as subprocesses start from
    the test session's own values, and no test changes the machine's
    OPENBLAS_CORETYPE."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (ConfigSettings, OutputSettings, ResourceSettings,
                                          StorageSettings)

    from secondorder import numerics

    names = [s.variable for s in numerics.SETTINGS] + [numerics.PLAN_VARIABLE]
    saved = {name: os.environ.get(name) for name in names}
    with SnakemakeApi(OutputSettings(quiet=set())) as api:
        wf = api.workflow(
            resource_settings=ResourceSettings(), storage_settings=StorageSettings(),
            config_settings=ConfigSettings(configfiles=[ROOT / "config" / "config.yaml"]),
            snakefile=ROOT / "Snakefile", workdir=tmp_path_factory.mktemp("wf"))
        try:
            parsed = wf._workflow  # parses the Snakefile
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        yield parsed


def set_key(conf, dotted, value):
    """Set ``conf["a"]["b"]`` for ``dotted="a.b"``; ``value=KeyError`` deletes the key."""
    *parents, last = dotted.split(".")
    node = conf
    for key in parents:
        node = node[key]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value


def assert_same_fits(dir_a, dir_b, arms):
    """The article arms' fits of two runs agree: histories equal except their times, and
    fit.json equal in every field that carries no timing."""
    from secondorder import io

    for arm in arms:
        a, b = (io.read_csv(d / "results" / "fits" / arm / "history.csv")
                for d in (dir_a, dir_b))
        assert a.drop(columns="time_s").equals(b.drop(columns="time_s")), arm
        fa, fb = (json.loads((d / "results" / "fits" / arm / "fit.json").read_text())
                  for d in (dir_a, dir_b))
        for key in ("status", "iterations", "evaluations", "settings", "init_sha256"):
            assert fa[key] == fb[key], (arm, key)
