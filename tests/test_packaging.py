"""Software deployment, checked statically: pyproject's ranges, the exact pins of
``requirements/pins.txt``, the conda environment files, the README's install commands,
``.ci/run``, and the project's metadata (licence, citation, version, config docs)."""

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from secondorder import pins

PINS = ROOT / "requirements" / "pins.txt"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
README = (ROOT / "README.md").read_text()
PYPROJECT_PYTHON = Requirement(f"python{PYPROJECT['project']['requires-python']}").specifier
REGENERATE = "regenerate it with `secondorder pins > requirements/pins.txt`"
#: Every conda environment file: the one at the root and any under workflow/envs/.
ENV_FILES = [ROOT / "environment.yml", *sorted((ROOT / "workflow" / "envs").glob("*.y*ml"))]


def requirements():
    """pyproject's requirements, the extras' included, as packaging Requirements."""
    project = PYPROJECT["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    return [Requirement(r) for r in reqs]


def pip_lines(env: dict) -> list[str]:
    return [line for dep in env["dependencies"] if isinstance(dep, dict)
            for line in dep.get("pip", [])]


# --- pyproject and the pins ---------------------------------------------------------------

def test_pyproject_states_ranges_not_pins():
    for req in requirements():
        assert req.specifier, f"{req}: give a compatible range in pyproject.toml"
        assert not any(s.operator in ("==", "===") for s in req.specifier), (
            f"{req}: pyproject.toml holds ranges; exact versions go to requirements/pins.txt")


def test_every_requirement_is_pinned_inside_its_range():
    pinned = pins.read(PINS)
    for req in requirements():
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req.name} is not in requirements/pins.txt: {REGENERATE}"
        assert req.specifier.contains(pinned[name], prereleases=True), (
            f"pins.txt has {name}=={pinned[name]}, outside pyproject's {req}")


def test_pins_are_exact_and_unique():
    lines = [ln.split("#")[0].strip() for ln in PINS.read_text().splitlines()]
    lines = [ln for ln in lines if ln]
    names = [canonicalize_name(ln.split("==")[0]) for ln in lines]
    assert len(names) == len(set(names)), "a package is pinned twice"
    for line in lines:
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[A-Za-z0-9_.+!\-]+", line), line
    assert pins.python_version(PINS), "the pins file names the Python it was frozen with"


def test_this_environment_is_the_pinned_one():
    """What this environment installed for secondorder[test,slurm,bench] (transitively)
    is exactly what pins.txt says; a package upgraded or added without updating the
    pins shows up here."""
    pinned = pins.read(PINS)
    here = pins.closure()
    missing = sorted(set(here) - set(pinned))
    assert not missing, f"installed but not pinned: {missing}; {REGENERATE}"
    different = {k: (v, pinned[k]) for k, v in here.items() if pinned[k] != v}
    assert not different, (f"installed != pinned (installed, pinned): {different}; install "
                           f"with -c requirements/pins.txt or {REGENERATE}")


def test_provenance_records_package_version_and_pins_hash():
    from secondorder import provenance
    from secondorder.cli import version

    pkg = provenance.package()
    assert pkg["version"] == PYPROJECT["project"]["version"] == version()
    assert pkg["pins_sha256"] == pins.sha256(PINS) and len(pkg["pins_sha256"]) == 64


def test_version_option():
    proc = subprocess.run([sys.executable, "-m", "secondorder.cli", "--version"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"secondorder {PYPROJECT['project']['version']}"


@pytest.mark.parametrize("argv", [["--help"], ["audit", "--help"], ["audit", "verify", "--help"]])
def test_cli_help_is_plain_text(argv):
    """The help a user reads has no reStructuredText or Markdown markup (``...``,
    :func:, backticks) and names every command."""
    proc = subprocess.run([sys.executable, "-m", "secondorder.cli", *argv],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for markup in ("``", ":func:", ":data:", ":mod:", "`"):
        assert markup not in proc.stdout, (markup, proc.stdout)
    if argv == ["--help"]:
        for command in ("audit verify", "config-doc", "pins", "--version"):
            assert f"secondorder {command}" in proc.stdout, command


def test_citation_names_the_package_version():
    """CITATION.cff's version is pyproject's (the installed package's), released on the
    date CHANGELOG.md gives that version; an address, where it names one, is a real
    https URL (the repository has none yet, so CITATION.cff names none)."""
    from secondorder.cli import version

    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert str(citation["version"]) == PYPROJECT["project"]["version"] == version()
    released = re.search(rf"^## \[{re.escape(str(citation['version']))}\] - (\S+)$",
                         (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert released, "CHANGELOG.md has no section for CITATION.cff's version"
    assert str(citation["date-released"]) == released.group(1)
    for key in ("url", "repository-code"):
        if key in citation:
            assert re.fullmatch(r"https://\S+", citation[key]) and "TODO" not in citation[key]


# --- conda environment files --------------------------------------------------------------

@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_env_file_parses_and_agrees_with_the_pins(path):
    env = yaml.safe_load(path.read_text())
    assert isinstance(env, dict) and env.get("dependencies"), path
    pinned = pins.read(PINS)
    frozen = Version(pins.python_version(PINS))
    for dep in env["dependencies"]:
        if isinstance(dep, str) and re.match(r"python\b", dep):
            spec = dep[len("python"):].strip().lstrip("=")
            assert spec and f"{frozen.major}.{frozen.minor}" == ".".join(spec.split(".")[:2]), (
                f"{dep}: the pins were frozen with Python {frozen}")
            assert Version(spec) in PYPROJECT_PYTHON, dep
        elif isinstance(dep, str) and "=" in dep:  # a conda package pinned here
            name, version = re.split(r"=+", dep, maxsplit=1)
            if canonicalize_name(name) in pinned:
                assert version == pinned[canonicalize_name(name)], (dep, path)
    for line in pip_lines(env):
        if line.startswith("-"):
            continue
        req = Requirement(line)
        name = canonicalize_name(req.name)
        if any(s.operator == "==" for s in req.specifier):
            assert name in pinned and req.specifier.contains(pinned[name]), (
                f"{path.name}: {line} differs from pins.txt ({pinned.get(name)})")


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_env_file_paths_survive_where_they_are_used(path):
    """Snakemake copies an env file named by a rule's `conda:` to
    .snakemake/conda/<hash>.yaml, so such a file may hold no relative path (nor an
    absolute one: it would tie the file to one checkout). The root environment.yml is
    only ever used by `conda env create -f environment.yml`, which runs its pip section
    from the file's directory: there the relative paths must resolve to the repo."""
    env = yaml.safe_load(path.read_text())
    for line in pip_lines(env):
        option, _, target = line.partition(" ")
        if option not in ("-c", "-r", "-e", "--constraint", "--requirement", "--editable"):
            assert "/" not in line and not line.startswith("."), (path.name, line)
            continue
        target = target.strip().strip("\"'")
        assert not Path(target).is_absolute(), (path.name, line)
        assert path.parent == ROOT, (
            f"{path.relative_to(ROOT)}: {line!r} is a path; it breaks when Snakemake copies "
            "the file. Only the root environment.yml may name files.")
        resolved = (path.parent / target.split("[")[0]).resolve()
        assert resolved.exists(), (path.name, line)
        if option in ("-c", "--constraint"):
            assert resolved == PINS.resolve(), line
        if option in ("-e", "--editable"):
            assert resolved == ROOT and (resolved / "pyproject.toml").is_file(), line


def test_root_environment_installs_the_package_with_the_pins():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    lines = pip_lines(env)
    assert "-c requirements/pins.txt" in lines, lines
    editable = [ln for ln in lines if ln.startswith("-e ")]
    assert len(editable) == 1, lines
    extras = re.search(r"\[(.*)\]", editable[0])
    assert extras and set(extras[1].split(",")) == set(pins.EXTRAS), editable
    assert any(isinstance(d, str) and d.startswith("python") for d in env["dependencies"])
    assert "pip" in env["dependencies"]


def test_root_environment_pip_section_is_accepted_by_pip(tmp_path):
    """What `conda env create -f environment.yml` does with the pip section: write it
    to a requirements file beside environment.yml and run pip from that directory.
    Here pip resolves it without downloading anything (--dry-run --no-deps --no-index)."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    req = ROOT / f"condaenv.{tmp_path.name}.requirements.txt"
    req.write_text("\n".join(pip_lines(env)) + "\n")
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--no-index",
             "--no-build-isolation", "--disable-pip-version-check", "-r", req.name],
            cwd=ROOT, capture_output=True, text=True, timeout=300)
    finally:
        req.unlink()
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "secondorder" in proc.stdout, proc.stdout[-2000:]


#: The workflow's one environment as its rules name it, and what completes it.
RULE_ENV = ROOT / "workflow" / "envs" / "secondorder.yaml"
POST_DEPLOY = RULE_ENV.with_suffix(".post-deploy.sh")


def test_every_rule_runs_in_the_one_environment(workflow):
    """Every rule that runs something names the one software environment (so `snakemake
    --lint` is clean and `--sdm conda` runs every job in it), the env file under
    workflow/envs/; the Snakefile tells its post-deploy script where the repository is."""
    running = [rule for rule in workflow.rules if not rule.norun]
    assert len(running) >= 14
    for rule in running:
        assert (Path(rule.snakefile).parent / rule.conda_env).resolve() == RULE_ENV, (
            rule.name, rule.conda_env)
    assert Path(os.environ["SECONDORDER_ROOT"]) == ROOT


def test_rule_environment_is_the_root_one():
    """The rules' env file gives what the root environment.yml gives: its Python from
    conda, then (post-deploy, inside the new environment) the same pip install of this
    package with the same pins and extras. Its comment carries the pins' sha256, so a
    new pins file changes the file's content and `--sdm conda` rebuilds it."""
    root_env = yaml.safe_load((ROOT / "environment.yml").read_text())
    env = yaml.safe_load(RULE_ENV.read_text())
    assert [d for d in env["dependencies"] if isinstance(d, str)] == [
        d for d in root_env["dependencies"] if isinstance(d, str)]
    assert not pip_lines(env)  # nothing resolved against the copy's directory
    assert f"# pins sha256: {pins.sha256()}" in RULE_ENV.read_text().splitlines(), (
        f"{RULE_ENV.relative_to(ROOT)}: update its pins sha256 line after changing the pins")
    script = POST_DEPLOY.read_text()
    assert script.startswith("#!/usr/bin/env bash\n") and os.access(POST_DEPLOY, os.X_OK)
    extras = re.search(r"-e \.\[(.*)\]", " ".join(pip_lines(root_env)))[1]
    assert (f'-c "$SECONDORDER_ROOT/requirements/pins.txt" '
            f'-e "$SECONDORDER_ROOT[{extras}]"') in script


def test_post_deploy_script_installs_the_package_with_the_pins(tmp_path):
    """Run the post-deploy script as Snakemake would, from another directory; pip
    resolves its install without downloading anything (dry run, no index)."""
    env = {**os.environ, "SECONDORDER_ROOT": str(ROOT), "PIP_DRY_RUN": "1",
           "PIP_NO_DEPS": "1", "PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.run(["bash", str(POST_DEPLOY)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "secondorder" in proc.stdout, proc.stdout[-2000:]
    # without the repository's location it stops at once, saying what is missing
    del env["SECONDORDER_ROOT"]
    proc = subprocess.run(["bash", str(POST_DEPLOY)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "SECONDORDER_ROOT" in proc.stderr


# --- the README's commands and CI ---------------------------------------------------------

def _readme_commands():
    return [line for line in re.findall(r"```bash\n(.*?)```", README, re.S)
            for line in line.splitlines() if "pip install" in line]


def test_readme_install_commands_use_the_pins():
    commands = _readme_commands()
    assert len(commands) >= 2, commands
    for cmd in commands:
        if "-e " in cmd:
            assert "-c requirements/pins.txt" in cmd, cmd


def test_ci_runs_the_readme_test_command_verbatim():
    test_cmd = [c for c in _readme_commands() if "pytest" in c]
    assert len(test_cmd) == 1, test_cmd
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_cmd[0].strip() in ci.splitlines(), (test_cmd[0], ci)
    assert "[test,slurm,bench]" in test_cmd[0]


# --- licence, citation, config docs -------------------------------------------------------

def test_license_is_the_one_pyproject_names():
    text = (ROOT / "LICENSE").read_text()
    assert PYPROJECT["project"]["license"]["text"] == "MIT"
    assert text.startswith("MIT License") and "the secondorder authors" in text


def test_citation_cff():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"].startswith("1.2")
    assert cff["version"] == PYPROJECT["project"]["version"]
    assert cff["license"] == "MIT" and cff["title"] and cff["authors"]
    refs = cff["references"]
    assert refs and all(r["title"] and r["authors"] and r["year"] for r in refs)


def test_config_readme_is_generated_from_the_schema():
    from secondorder.config import describe_schema

    committed = (ROOT / "config" / "README.md").read_text()
    assert committed == describe_schema(), (
        "config/README.md is out of date with src/secondorder/config.schema.yaml: "
        "regenerate it with `secondorder config-doc > config/README.md`")


def test_every_config_key_is_documented():
    from secondorder.config import describe_schema

    blank = [line.split("|")[1].strip() for line in describe_schema().splitlines()
             if line.startswith("| `") and line.rstrip().endswith("|  |")]
    assert not blank, (f"keys without a `description` in config.schema.yaml: {blank}; "
                       "add one, then `secondorder config-doc > config/README.md`")


def test_code_host_ci_runs_the_ci_entry_point():
    """.github/workflows/ci.yml runs .ci/run (the one CI entry point, as root for its
    SLURM) on an Ubuntu runner with the Python the pins were frozen with, within 90
    minutes."""
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    (job,) = ci["jobs"].values()
    assert job["runs-on"].startswith("ubuntu") and job["timeout-minutes"] == 90
    setup = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/setup-python")]
    frozen = Version(pins.python_version(PINS))
    assert setup and setup[0]["with"]["python-version"] == f"{frozen.major}.{frozen.minor}"
    runs = [s["run"] for s in job["steps"] if "run" in s]
    assert any(r.startswith("sudo") and r.endswith("bash .ci/run") for r in runs), runs
