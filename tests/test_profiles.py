"""The Snakemake profiles and the rules' resources, checked statically (no cluster):
every profile parses and names real options, the workflow profile (profiles/default,
applied to every run) and the machine profiles (--profile: local, slurm, slurm-cpu)
share no key, the two SLURM profiles stay in step, the GPU request is the rule's, CPUs
follow the rules' threads, runtimes grow with each attempt, tiny jobs are local.
tests/test_slurm.py runs profiles/slurm-cpu on a real SLURM."""

from pathlib import Path

import pytest
import yaml
from conftest import ROOT

PROFILES = {p.parent.name: yaml.safe_load(p.read_text())
            for p in sorted((ROOT / "profiles").glob("*/config.yaml"))}
SLURM = ("slurm", "slurm-cpu")
#: The machine profiles, given with --profile; profiles/default is the workflow profile.
MACHINES = ("local", *SLURM)
#: Keys only one of the SLURM profiles may set: the no-accounting plugin options.
NO_ACCOUNTING = {"slurm-no-account", "slurm-status-command",
                 "slurm-init-seconds-before-status-checks"}
TINY_RULES = {"spirals", "split_scale", "shared_init", "evaluate", "summary", "audit"}


def threads(rule) -> int:
    value = rule.resources["_cores"]
    return int(getattr(value, "_value", value))


def declared(rule, name):
    """The rule's own resource ``name`` (Snakemake's Resource), or None."""
    res = rule.resources.get(name)
    return res if getattr(res, "_value", None) is not None else None


def runtimes(rule, attempts=(1, 2, 3)):
    """The rule's runtime at each attempt, or None when it declares none."""
    res = declared(rule, "runtime")
    if res is None:
        return None
    func = getattr(res, "_evaluator", None)
    if callable(func):
        return [func(None, attempt=a) for a in attempts]
    return [int(getattr(res, "_value", res))] * len(attempts)


def test_profiles_parse_and_name_real_options():
    from snakemake.cli import get_argument_parser

    options = {o for a in get_argument_parser()._actions for o in a.option_strings}
    assert set(PROFILES) == {"default", *MACHINES}
    for name, profile in PROFILES.items():
        assert isinstance(profile, dict), name
        unknown = [k for k in profile if f"--{k}" not in options]
        assert not unknown, f"profiles/{name}: not snakemake options: {unknown}"


def test_slurm_profiles_stay_in_step():
    """profiles/slurm-cpu is profiles/slurm with no GPU, plus the no-accounting
    options: every other key and default resource is the same."""
    gpu, cpu = PROFILES["slurm"], PROFILES["slurm-cpu"]
    assert set(cpu) - set(gpu) <= NO_ACCOUNTING
    assert NO_ACCOUNTING <= set(cpu)
    for key in set(gpu) & set(cpu) - {"set-resources"}:
        assert gpu[key] == cpu[key], key
    assert gpu["executor"] == "slurm" and gpu["retries"] >= 1
    assert not any("gpu" in res for res in (gpu.get("set-resources") or {}).values()), (
        "profiles/slurm keeps the rules' GPU request")
    for rule, res in (cpu.get("set-resources") or {}).items():
        assert not res.get("gpu"), f"slurm-cpu asks for a GPU for {rule}"


def test_workflow_and_machine_profiles_share_no_key():
    """Snakemake layers the workflow profile on top of --profile and its keys win
    whole (a `default-resources:` there would drop a site's partition and account), so
    profiles/default sets only what holds on every machine, and no machine setting."""
    workflow_keys = set(PROFILES["default"])
    for name in MACHINES:
        assert not workflow_keys & set(PROFILES[name]), (name, workflow_keys & set(PROFILES[name]))
    assert not workflow_keys & {"cores", "jobs", "executor", "latency-wait", "retries",
                                "default-resources", "set-resources", "set-threads"}
    assert PROFILES["default"]["rerun-incomplete"] is True
    assert PROFILES["local"]["cores"] == "all"


def test_the_workflow_profile_wins_over_a_machine_profile():
    """How Snakemake 9 combines them, read from its own parser: the workflow profile's
    keys are appended after --profile's, so they win; every other key comes through."""
    from snakemake.cli import get_argument_parser

    parser = get_argument_parser(profiles=[ROOT / "profiles" / "slurm-cpu",
                                           ROOT / "profiles" / "default"])
    args = parser.parse_args([])
    assert args.executor == "slurm" and args.latency_wait == 60
    assert args.rerun_incomplete and args.nolock


def test_first_order_training_asks_for_a_gpu_and_nothing_else_does(workflow):
    """The GPU request is the rule's: the article's training asks for one for a
    first-order arm (a function of the arm, so it holds whichever rule trains it),
    other rules for none; profiles/slurm-cpu sets it to 0."""
    from types import SimpleNamespace

    from secondorder.optim.first_order import FIRST_ORDER

    arms = workflow.config["arms"]
    asked = {}
    for rule in workflow.rules:
        res = declared(rule, "gpu")
        if res is None:
            continue
        func = getattr(res, "_evaluator", None)
        if not callable(func):
            assert int(res._value) == 0, f"{rule.name} asks for a GPU"
            continue
        for arm, spec in arms.items():
            asked[arm] = func(SimpleNamespace(arm=arm))
    assert asked and all(asked[a] == int(arms[a]["optimizer"] in FIRST_ORDER) for a in asked)
    assert {a for a in asked if asked[a]} >= {"adam"}
    cpu = PROFILES["slurm-cpu"]["set-resources"]
    assert [rule for rule, res in cpu.items() if res.get("gpu") == 0], cpu


def test_no_profile_prints_shell_commands_of_a_workflow_without_shell_rules(workflow):
    """Every rule runs a script; Snakemake 9.27 prints "Shell command: None" for
    each script job under printshellcmds (jobs.py logs job.shellcmd, None but for
    shell: rules), so no profile sets it."""
    assert all(rule.shellcmd is None for rule in workflow.rules)
    assert not [name for name, p in PROFILES.items() if p.get("printshellcmds")]


def test_set_resources_name_real_rules(workflow):
    rules = {r.name for r in workflow.rules}
    for name, profile in PROFILES.items():
        for section in ("set-resources", "set-threads"):
            unknown = set(profile.get(section) or {}) - rules
            assert not unknown, f"profiles/{name} {section}: no such rule {unknown}"


def test_cpus_follow_the_rules_threads(workflow):
    """The SLURM plugin asks for `--cpus-per-task = threads` unless cpus_per_task is
    set; TensorFlow is pinned to `threads`. So a profile must not set cpus_per_task
    (for every rule, or for one whose threads differ), and every rule with threads > 1
    gets them."""
    by_name = {r.name: r for r in workflow.rules}
    assert threads(by_name["bench"]) == 2
    for name, profile in PROFILES.items():
        assert "cpus_per_task" not in (profile.get("default-resources") or {}), name
        overrides = {rule: threads(by_name[rule]) for rule in
                     profile.get("set-threads") or {}}
        for rule, res in (profile.get("set-resources") or {}).items():
            if "cpus_per_task" in res:
                want = overrides.get(rule, threads(by_name[rule]))
                assert res["cpus_per_task"] == want, (name, rule)
    for rule in workflow.rules:
        if threads(rule) > 1:
            for name in SLURM:
                res = (PROFILES[name].get("set-resources") or {}).get(rule.name, {})
                assert res.get("cpus_per_task", threads(rule)) == threads(rule), rule.name


def test_runtime_grows_with_each_attempt(workflow):
    for name in SLURM:
        default = PROFILES[name]["default-resources"]["runtime"]
        values = [eval(str(default), {"attempt": a}) for a in (1, 2, 3)]  # as Snakemake
        assert values[0] > 0 and values[0] < values[1] < values[2], (name, default)
        for rule, res in (PROFILES[name].get("set-resources") or {}).items():
            if "runtime" in res:
                values = [eval(str(res["runtime"]), {"attempt": a}) for a in (1, 2)]
                assert values[0] < values[1], (name, rule, res["runtime"])
    for rule in workflow.rules:
        values = runtimes(rule)
        if values is not None:
            assert values[0] > 0 and values[0] < values[1] < values[2], (rule.name, values)


def test_cluster_jobs_declare_memory_and_time(workflow):
    """Every rule that runs as a cluster job says what it needs (a rule that does not
    falls back on the profiles' default-resources, tested above)."""
    local = set(workflow._localrules)
    for rule in workflow.rules:
        if rule.name in local or rule.name == "all":
            continue
        assert declared(rule, "mem_mb") and declared(rule, "runtime"), rule.name


def test_tiny_jobs_are_local(workflow):
    assert TINY_RULES <= set(workflow._localrules)
    assert not set(workflow._localrules) & {r.name for r in workflow.rules
                                            if r.name.startswith(("train_", "study_"))}


def test_the_workflow_profile_is_found_beside_the_snakefile():
    """profiles/default is applied to every run without a flag: no executor, cores or
    resources (machine settings), Snakemake's lock off for the workflow's own."""
    default = PROFILES["default"]
    assert "executor" not in default and "default-resources" not in default
    assert default["nolock"] is True
    assert Path(ROOT / "profiles" / "default" / "config.yaml").is_file()
