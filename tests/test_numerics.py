"""Portable numerics (secondorder.numerics) and the portable hashes (secondorder.portable):
the settings, the job-start check that catches what the libraries silently ignore, the
emulated CPUs, and the published reference.

No test here sets or changes OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE: the logic around
them is tested on injected environment dicts, and the subprocesses inherit the session's
own values of both."""

import json
import os
import subprocess
import sys

import pytest

from secondorder import io, numerics, portable

AVX2_FMA = {"avx2", "fma", "sse4_2"}
AVX512 = AVX2_FMA | {"avx512f"}
HERE = numerics.cpu_flags() or set()
ON_AVX512 = "avx512f" in HERE
PORTABLE_HERE = numerics.capable(HERE)


# --- what the workflow sets ------------------------------------------------------------------

def test_every_setting_is_set_on_an_avx2_fma_cpu():
    env = {}
    plan = numerics.configure(env, portable=True, flags=AVX2_FMA)
    for s in numerics.SETTINGS:
        assert env[s.variable] == s.value, s.variable
    assert plan["set"] == plan["requested"] and plan["held"] == {} and not plan["messages"]
    assert numerics.read_plan(env) == plan


def test_a_held_value_is_never_overridden_and_a_conflict_is_reported():
    held = {"OPENBLAS_CORETYPE": "SkylakeX", "OPENBLAS_L2_SIZE": "2048",
            "ONEDNN_MAX_CPU_ISA": "AVX512_CORE", "MALLOC_PERTURB_": "1"}
    env = dict(held)
    plan = numerics.configure(env, portable=True, flags=AVX512)
    assert {k: env[k] for k in held} == held
    assert plan["held"] == held
    assert "OPENBLAS_CORETYPE" not in plan["set"] and "MALLOC_PERTURB_" not in plan["set"]
    text = "\n".join(plan["messages"])
    assert "OPENBLAS_CORETYPE='SkylakeX'" in text and "machine's own BLAS setting" in text
    assert "ONEDNN_MAX_CPU_ISA='AVX512_CORE'" in text and "will fail" in text
    assert "MALLOC_PERTURB_" not in text  # held with the value the workflow wants


def test_a_held_numpy_disable_list_leaves_the_enable_list_unset():
    """numpy refuses both variables at once, so the held one is used alone."""
    env = {"NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR"}
    plan = numerics.configure(env, portable=True, flags=AVX512)
    assert "NPY_ENABLE_CPU_FEATURES" not in env
    assert any("NPY_DISABLE_CPU_FEATURES" in m for m in plan["messages"])


def test_a_held_xla_flags_gets_the_isa_cap_appended_unless_it_sets_one():
    env = {"XLA_FLAGS": "--xla_dump_to=/tmp/x"}
    numerics.configure(env, portable=True, flags=AVX2_FMA)
    assert env["XLA_FLAGS"] == "--xla_dump_to=/tmp/x --xla_cpu_max_isa=AVX2"
    env = {"XLA_FLAGS": "--xla_cpu_max_isa=AVX512"}
    plan = numerics.configure(env, portable=True, flags=AVX2_FMA)
    assert env["XLA_FLAGS"] == "--xla_cpu_max_isa=AVX512"
    assert any("AVX512" in m for m in plan["messages"])


def test_a_cpu_without_avx2_and_fma_gets_a_message_and_no_caps():
    env = {}
    plan = numerics.configure(env, portable=True, flags={"sse4_2", "avx"})
    assert "AVX2 and FMA" in plan["messages"][0] and not plan["capable"]
    assert set(env) == {"MALLOC_PERTURB_", "MALLOC_MMAP_THRESHOLD_", numerics.PLAN_VARIABLE}


def test_the_opt_out_keeps_only_the_settings_that_make_reruns_repeat():
    env = {}
    plan = numerics.configure(env, portable=False, flags=AVX512)
    assert set(plan["requested"]) == {s.variable for s in numerics.SETTINGS
                                      if s.kind == "repeatable"}
    assert not plan["portable"]


def test_a_cluster_job_keeps_the_plan_of_the_snakemake_that_submitted_it():
    """A SLURM job parses the workflow again with the outer process's environment: what
    the outer plan found held stays held (not the values it set itself)."""
    env = {"OPENBLAS_CORETYPE": "Zen"}
    outer = numerics.configure(env, portable=True, flags=AVX2_FMA)
    inner = numerics.configure(dict(env), portable=True, flags=AVX2_FMA)
    assert inner == outer and inner["held"] == {"OPENBLAS_CORETYPE": "Zen"}


# --- the verdict, on injected findings ----------------------------------------------------------

def found(arch="Haswell", threads=1, exp="X86_V3", above=(), below=()):
    """What :func:`numerics.chosen` might return, made up."""
    return {"cpu": {"model": "test", "libc": "glibc 2.36"},
            "numpy": {"exp": exp, "log": exp, "targets": {}, "above_cap": list(above),
                      "below_cap": list(below), "exp_differs": 0, "log_differs": 0,
                      "libm": numerics.REFERENCE_DIGESTS["libm"]},
            "openblas": [{"library": lib, "architecture": arch, "num_threads": threads,
                          "version": "0"} for lib in ("numpy", "scipy")],
            "malloc": {"perturb": True, "tunables": {"perturb": 1, "mmap_threshold": 131072}}}


def planned(held=None, portable_=True, flags=AVX512):
    env = dict(held or {})
    plan = numerics.configure(env, portable=portable_, flags=flags)
    env["OPENBLAS_NUM_THREADS"] = "1"
    return plan, env


def test_everything_in_effect_is_portable():
    plan, env = planned()
    assert numerics.judge(plan, env, found()) == ([], [])


def test_numpy_above_the_cap_fails_naming_the_variable():
    plan, env = planned()
    errors, _ = numerics.judge(plan, env, found(exp="X86_V4", above=["exp/dd: X86_V4"]))
    assert len(errors) == 1 and "NPY_ENABLE_CPU_FEATURES='X86_V3'" in errors[0]


def test_a_held_coretype_runs_and_is_recorded_as_not_portable():
    plan, env = planned({"OPENBLAS_CORETYPE": "SkylakeX"})
    errors, caveats = numerics.judge(plan, env, found(arch="SkylakeX"))
    assert errors == []
    assert len(caveats) == 2 and all("SkylakeX" in c and "held by the environment" in c
                                     for c in caveats)


def test_a_held_coretype_of_the_reference_kernel_is_portable():
    plan, env = planned({"OPENBLAS_CORETYPE": "Haswell"})
    assert numerics.judge(plan, env, found()) == ([], [])


def test_a_kernel_the_workflow_set_but_did_not_get_fails():
    plan, env = planned()
    errors, _ = numerics.judge(plan, env, found(arch="SkylakeX"))
    assert errors and "OPENBLAS_CORETYPE='Haswell' was set by the workflow" in errors[0]


def test_an_openblas_not_on_one_thread_fails_a_portable_job():
    plan, env = planned()
    errors, _ = numerics.judge(plan, env, found(threads=2))
    assert errors and "runs 2 threads, not 1" in errors[0]


def test_an_opted_out_job_runs_the_rules_threads():
    plan, env = planned(portable_=False)
    env["OPENBLAS_NUM_THREADS"] = "2"
    assert not any("threads" in c for c in numerics.judge(plan, env, found(threads=2))[1])
    assert any("threads" in c for c in numerics.judge(plan, env, found(threads=1))[1])


def test_a_portable_job_runs_openblas_on_one_thread():
    """Whatever the rule's threads (Snakemake's OPENBLAS_NUM_THREADS), in a fresh
    process as a job starts."""
    code = ("import json, os; from secondorder import numerics; "
            "numerics.configure(os.environ, portable=True); "
            "pinned = numerics.pin_blas_threads(); "
            "print(json.dumps([pinned, [l['num_threads'] for l in numerics.openblas()]]))")
    env = {k: v for k, v in os.environ.items() if k != numerics.PLAN_VARIABLE}
    env["OPENBLAS_NUM_THREADS"] = "2"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=60, check=True).stdout
    pinned, threads = json.loads(out)
    assert pinned == PORTABLE_HERE
    assert threads == ([1, 1] if PORTABLE_HERE else [2, 2])


def test_a_held_l2_size_is_recorded():
    plan, env = planned({"OPENBLAS_L2_SIZE": "2048"})
    errors, caveats = numerics.judge(plan, env, found())
    assert errors == [] and "OPENBLAS_L2_SIZE='2048'" in caveats[0]


def test_the_opt_out_never_fails_and_says_why():
    plan, env = planned(portable_=False)
    errors, caveats = numerics.judge(plan, env, found(arch="SkylakeX", exp="X86_V4",
                                                      above=["exp/dd: X86_V4"]))
    assert errors == [] and caveats[0].startswith("opted out")


def test_a_cpu_without_avx2_and_fma_runs_with_a_warning():
    plan, env = planned(flags={"sse4_2"})
    errors, caveats = numerics.judge(plan, env, found(arch="Nehalem", exp="X86_V2"))
    assert errors == [] and any("lacks AVX2 or FMA" in c for c in caveats)


def test_the_allocator_settings_fail_a_job_in_either_mode():
    plan, env = planned(portable_=False)
    bad = found()
    bad["malloc"] = {"perturb": False, "tunables": {"perturb": 0, "mmap_threshold": 0}}
    errors, _ = numerics.judge(plan, env, bad)
    assert len(errors) == 2 and "MALLOC_PERTURB_" in errors[0]


def test_an_unknown_xla_isa_is_caught():
    plan, env = planned({"XLA_FLAGS": "--xla_cpu_max_isa=AVX2X"})
    errors, _ = numerics.judge(plan, env, found())
    assert any("AVX2X" in e for e in errors)


# --- the real libraries, in fresh processes ------------------------------------------------------

CHECK = """
import json
from secondorder import numerics
try:
    record = numerics.check(tensorflow={tf})
    print(json.dumps({{"portable": record["portable"], "why": record["why"],
                      "chosen": record["chosen"]}}))
except numerics.NumericsError as err:
    print(json.dumps({{"error": str(err)}}))
"""


def job(extra=None, drop=(), portable_=True, tensorflow=False):
    """Run :func:`numerics.check` in a fresh process as a workflow job would: the
    session's environment with ``extra`` on top and ``drop`` removed, then the
    workflow's own settings (:func:`numerics.configure`, which leaves a held value
    alone: the session's OPENBLAS_* values reach the job unchanged)."""
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(extra or {})
    env.pop(numerics.PLAN_VARIABLE, None)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    numerics.configure(env, portable=portable_)
    env["OPENBLAS_NUM_THREADS"] = "1"  # as Snakemake sets it for a one-thread job
    out = subprocess.run([sys.executable, "-c", CHECK.format(tf=tensorflow)], env=env,
                         capture_output=True, text=True, timeout=300, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


NPY = ("NPY_ENABLE_CPU_FEATURES", "NPY_DISABLE_CPU_FEATURES")


@pytest.mark.skipif(not PORTABLE_HERE, reason="needs an AVX2+FMA CPU")
def test_a_misspelt_numpy_value_fails_the_job_naming_it():
    """numpy runs its X86_V2 baseline for ``X86_V33`` without a word; the check does
    not."""
    result = job({"NPY_ENABLE_CPU_FEATURES": "X86_V33"}, drop=NPY)
    assert "NPY_ENABLE_CPU_FEATURES='X86_V33'" in result["error"]
    assert "below it" in result["error"]


@pytest.mark.skipif(not ON_AVX512, reason="numpy has no AVX-512 targets to run here")
def test_numpy_on_its_avx512_targets_fails_a_portable_job():
    """A job whose numpy never got the cap (as if the variable were lost on the way)."""
    env_without_cap = {"NPY_DISABLE_CPU_FEATURES": ""}
    result = job(env_without_cap, drop=NPY)
    assert "X86_V4" in result["error"] and "NPY_DISABLE_CPU_FEATURES" in result["error"]
    # the canary alone would have told: numpy's AVX-512 exp is not glibc's
    result = job(drop=NPY, portable_=False)
    assert result["chosen"]["numpy"]["exp_differs"] > 0


@pytest.mark.skipif(not PORTABLE_HERE, reason="needs an AVX2+FMA CPU")
def test_a_held_coretype_is_respected():
    """The session's own OPENBLAS_CORETYPE (held by this machine, or unset) goes through
    the workflow's settings unchanged; unset, the workflow chooses the Haswell kernels."""
    code = ("import json, os; from secondorder import numerics; "
            "numerics.configure(os.environ, portable=True); "
            "print(json.dumps(os.environ.get('OPENBLAS_CORETYPE')))")
    env = {k: v for k, v in os.environ.items() if k != numerics.PLAN_VARIABLE}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert json.loads(out) == os.environ.get("OPENBLAS_CORETYPE", "Haswell")


@pytest.mark.skipif(not PORTABLE_HERE, reason="needs an AVX2+FMA CPU")
def test_a_portable_job_here_is_portable():
    """With the workflow's settings, this machine's libraries choose the reference's
    paths (or, where the machine holds its own BLAS kernel, the job says so)."""
    result = job(drop=NPY + ("ONEDNN_MAX_CPU_ISA", "XLA_FLAGS", "TF_ENABLE_ONEDNN_OPTS",
                             "MALLOC_PERTURB_", "MALLOC_MMAP_THRESHOLD_"))
    assert "error" not in result, result
    assert result["chosen"]["numpy"]["exp"] == "X86_V3"
    assert result["chosen"]["malloc"]["perturb"] is True
    if not result["portable"]:
        assert all("OPENBLAS" in why for why in result["why"]), result["why"]


@pytest.mark.skipif(not ON_AVX512, reason="oneDNN has no AVX-512 kernels to run here")
def test_the_onednn_canary_tells_the_avx2_kernels_from_the_avx512_ones():
    """The float32 product's bits under the cap are the reference's; without it, the
    AVX-512 ones, which the check fails on (oneDNN ignores a misspelt value)."""
    capped = job(drop=NPY, tensorflow=True)
    assert "error" not in capped, capped
    assert capped["chosen"]["tensorflow"]["tf_sgemm"] == \
        numerics.REFERENCE_DIGESTS["tf_sgemm"]
    result = job({"ONEDNN_MAX_CPU_ISA": "AVX2X"}, drop=NPY, tensorflow=True)
    assert "ONEDNN_MAX_CPU_ISA='AVX2X'" in result["error"]


# --- the portable hash ----------------------------------------------------------------------------

def test_the_portable_hash_ignores_declared_columns_and_keys(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("arm,ssq,time_s\nlm,1.5,0.25\n")
    b.write_text("arm,ssq,time_s\nlm,1.5,0.75\n")
    assert portable.portable_hash(a) == portable.portable_hash(b)
    b.write_text("arm,ssq,time_s\nlm,1.5000000000000002,0.25\n")
    assert portable.portable_hash(a) != portable.portable_hash(b)
    c, d = tmp_path / "c.json", tmp_path / "d.json"
    io.write_json(c, {"ssq": 1.5, "started": "x", "settings": {"numerics": {"a": 1}}})
    io.write_json(d, {"ssq": 1.5, "started": "y", "settings": {}})
    assert portable.portable_hash(c) == portable.portable_hash(d)


def test_the_suite_and_times_are_declared_not_portable():
    assert "time cap" in portable.not_portable("results/suite/slice/fits.csv")
    assert portable.not_portable("results/summary/scaling.csv")
    assert portable.not_portable("results/provenance/train/lm.json")
    assert portable.not_portable("results/fits/lm/weights.npy") is None
    assert portable.not_portable("results/summary/fits.csv") is None


def fake_run(root, weights=b"w"):
    (root / "results" / "fits" / "lm").mkdir(parents=True)
    (root / "results" / "fits" / "lm" / "weights.npy").write_bytes(weights)
    (root / "results" / "data").mkdir()
    (root / "results" / "data" / "split.json").write_text('{"train": [1, 2]}')
    (root / "results" / "suite").mkdir()
    (root / "results" / "suite" / "fits.csv").write_text("t\n1\n")
    return root / "results"


def test_compare_names_each_artifact_identical_different_or_missing(tmp_path, capsys):
    ref_run = fake_run(tmp_path / "ref")
    reference = tmp_path / "reference.json"
    io.write_json(reference, portable.reference(ref_run))
    assert set(io.read_json(reference)["artifacts"]) == {
        "results/data/split.json", "results/fits/lm/weights.npy"}
    same = fake_run(tmp_path / "same")
    assert portable.main_compare(same, reference) == 0
    assert "2 of 2 portable artifacts identical" in capsys.readouterr().out
    other = fake_run(tmp_path / "other", weights=b"v")
    (other / "data" / "split.json").unlink()
    assert portable.main_compare(other, reference) == 1
    out = capsys.readouterr().out
    assert "different  results/fits/lm/weights.npy" in out
    assert "missing    results/data/split.json" in out


def test_the_cli_compares_and_writes_a_reference(tmp_path):
    run = fake_run(tmp_path)
    out = subprocess.run([sys.executable, "-m", "secondorder.cli", "audit", "reference",
                          str(run)], capture_output=True, text=True, timeout=120, check=True)
    (tmp_path / "ref.json").write_text(out.stdout)
    proc = subprocess.run([sys.executable, "-m", "secondorder.cli", "audit", "compare",
                           str(run), "--reference", str(tmp_path / "ref.json")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "identical" in proc.stdout


# --- the workflow: every job checked, emulated CPUs, the published reference ---------------------

def portable_hashes(workdir, only=None):
    hashes = portable.hashes(workdir / "results")
    return {k: v for k, v in hashes.items() if only is None or k in only}


def first_difference(a: dict, b: dict) -> str | None:
    """The first artifact (sorted) whose portable hash differs or that one side lacks."""
    return next((k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)), None)


def test_every_job_records_its_numerics(tiny_run):
    manifest = io.read_json(tiny_run / "results" / "audit" / "manifest.json")
    for rec in manifest["records"]:
        n = rec["numerics"]
        assert n["mode"] == "portable", rec["rule"]
        assert {"requested", "held", "chosen", "portable", "why"} <= set(n)
        if PORTABLE_HERE and not {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"} & set(os.environ):
            assert n["portable"], (rec["rule"], n["why"])
    fit = io.read_json(tiny_run / "results" / "fits" / "lm" / "fit.json")
    assert fit["numerics"]["chosen"]["numpy"]["exp"] in ("X86_V3", "baseline(X86_V2)")
    assert "tensorflow" in fit["numerics"]["chosen"]
    assert manifest["portable"]["compared"] > 0


def test_emulated_cpus_give_identical_portable_hashes(tiny_run, emulated_run):
    """The tiny run (this CPU: numpy's AVX-512 targets capped by the workflow, one
    thread per job) and the same config on an emulated AVX2 CPU (numpy's AVX-512
    targets disabled in the environment, two threads per job): every portable artifact
    both made is identical."""
    emulated = portable_hashes(emulated_run)
    assert len(emulated) >= 20
    for run, threads in ((tiny_run, 1), (emulated_run, 2)):  # the emulation took effect
        chosen = io.read_json(run / "results" / "fits" / "lm" / "fit.json")["numerics"]["chosen"]
        assert chosen["tensorflow"]["intra_op_threads"] == threads, run
    ours = portable_hashes(tiny_run, only=emulated)
    first = first_difference(ours, emulated)
    assert first is None, f"first artifact that differs on the emulated CPU: {first}"


def test_the_tiny_run_matches_the_published_reference(tiny_run, root):
    """CI's promise check: a fresh test-config run on whichever CPU it lands against the
    committed reference (config/test.yaml names it; the run's ``portable_hashes`` job
    compared them). Where the run's BLAS kernel or settings differ from the reference's,
    a difference is expected: the test says so (xfail) rather than passing."""
    result = io.read_json(tiny_run / "results" / "audit" / "portable.json")
    assert result["reference"].endswith(portable.REFERENCES["test"])
    statuses = result["artifacts"]
    first = next((k for k, v in statuses.items() if v != portable.IDENTICAL), None)
    if first is not None and result["settings_differ"]:
        pytest.xfail(f"first artifact that differs: {first} ({statuses[first]}); this run's "
                     "code paths differ from the reference's: "
                     + "; ".join(result["settings_differ"]))
    assert first is None, (f"first artifact that differs from the published reference: "
                           f"{first} ({statuses[first]}); {result['sentence']}")
    assert result["compared"] == len(statuses) > 0


def test_the_blas_free_gram_sums_agree_with_dsyrk_to_rounding():
    """The alternatives ``numerics_cost gram`` times: ``J^T J`` to rounding."""
    import numpy as np

    from secondorder.pipeline import numerics_cost

    jac = np.random.default_rng(1).normal(size=(70, 9))
    ref = numerics_cost.gram_dsyrk(jac)
    for name, fn in numerics_cost.GRAMS.items():
        np.testing.assert_allclose(fn(jac), ref, rtol=1e-13, atol=1e-12, err_msg=name)
