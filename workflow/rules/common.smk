# Config validation and the helpers the rules share.

import os
import sys
from pathlib import Path

from secondorder import numerics
from secondorder.config import ConfigError, validate, with_suite
from secondorder.pipeline.study import seed_blocks, study_arm
from secondorder.pipeline.suite.files import SUMMARY as SUITE_SUMMARY
from secondorder.pipeline.suite.files import TABLES as SUITE_TABLES
from secondorder.pipeline.suite.scopes import PHASES as SUITE_PHASES

try:
    # the suite's settings: config/suite.yaml, under any `suite` keys of the config files;
    # validating makes each arm an Arm (secondorder.optim.arms), checked once, here
    with_suite(config, Path(workflow.basedir) / "config" / "suite.yaml")
    validate(config)
except ConfigError as err:
    sys.exit(f"Error: {err}")

# The numerics every job computes with (secondorder/numerics.py: numpy's dispatch, the
# BLAS kernel, oneDNN's and XLA's instruction sets capped at AVX2 so that every AVX2+FMA
# CPU computes the same bits; glibc's fill of freed blocks and a fixed mmap threshold so
# that a rerun repeats itself): put into this process's environment, which every job
# inherits, before any job's Python starts; never over a value the environment holds.
# Each job checks at its start what the libraries chose and records it.
for message in numerics.configure(os.environ, portable=config["numerics"]["portable"])[
    "messages"
]:
    print(f"numerics: {message}", file=sys.stderr)


#: The one software environment, named by the `conda:` directive of each of the
#: workflow's steps. Snakemake itself runs in it (this file imports the package); with
#: `--sdm conda` Snakemake builds it from this file (Python from conda, then
#: workflow/envs/secondorder.post-deploy.sh installs this package from the repository,
#: SECONDORDER_ROOT, with the pins) and runs every job there; without it (the default)
#: the directive is ignored and jobs run where Snakemake runs.
SOFTWARE_ENV = "../envs/secondorder.yaml"
os.environ.update(SECONDORDER_ROOT=str(Path(workflow.basedir).resolve()))
ARMS = config["run"]
STUDY = config.get("study")
SUITE = config.get("suite")
NOTEBOOK = str(Path(workflow.basedir) / "notebooks" / "article.ipynb")
REPORT_DIR = Path(workflow.basedir) / "report"


report: "../../report/workflow.rst"


def start_run():
    """At the start of a real run (``onstart``, in the Snakefile), its main process takes
    the run lock (secondorder/run_lock.py): a second run started in this directory while
    this one lives stops there, naming this one, and a run that was killed leaves no
    lock, so the next plain run resumes. Job processes never take it."""
    from secondorder import run_lock

    if workflow.remote_exec or workflow.subprocess_exec:
        return
    try:
        run_lock.acquire(command=["snakemake", *sys.argv[1:]])
    except run_lock.RunLocked as err:
        sys.exit(f"Error: {err}")


def minutes(base):
    """A rule's ``runtime`` (minutes; ``sbatch -t`` on SLURM) that grows with each attempt:
    a job resubmitted after hitting its time limit (``retries:`` in the SLURM profiles)
    gets ``base`` x attempt minutes, so a retry can finish."""
    return lambda wildcards, attempt: base * attempt


def caption(name):
    """The report caption of an artifact: ``report/<name>.rst``."""
    return str(REPORT_DIR / f"{name}.rst")


def one_of(names):
    """A wildcard constraint matching exactly ``names`` (never-matching if none)."""
    return "|".join(names) if names else "(?!)"


def gpus(wildcards):
    """GPUs a training job asks for (its ``gpu`` resource: ``sbatch --gpus`` on SLURM;
    a local run is not limited by it unless ``--resources gpu=N`` is given): one where
    its arm's optimizer runs on one (the registry's ``gpu``: the first-order arms, Keras),
    none for the others (their loops run on the host). A cluster without GPUs sets it to
    0 (profiles/slurm-cpu)."""
    return int(config["arms"][wildcards.arm].entry.gpu)


def arm_settings(wildcards):
    """The arm a job trains (an Arm: the config entry, checked, defaults filled in)."""
    return config["arms"][wildcards.arm]


def study_arm_settings(wildcards):
    """The arm a study job trains (``study.lm_jacobian`` applied)."""
    return study_arm(config["arms"][wildcards.arm], STUDY)


def numerics_reference():
    """The published reference of this config's portable hashes (``numerics.reference``,
    relative to the repository), compared with the run by the ``portable_hashes`` rule;
    none when the config names none."""
    ref = config["numerics"]["reference"]
    return [str(Path(workflow.basedir) / ref)] if ref else []


def upstream_records():
    """Provenance records of every job the article is built from."""
    return [
        "results/provenance/spirals.json",
        "results/provenance/split_scale.json",
        "results/provenance/shared_init.json",
        *expand("results/provenance/train/{arm}.json", arm=ARMS),
        "results/provenance/evaluate.json",
        *study_records(),
        *(["results/provenance/scaling.json"] if "scaling" in config else []),
        *(["results/provenance/bench.json"] if bench_in_article() else []),
        *(suite_records(SUITE["in_article"]) if suite_in_article() else []),
        "results/provenance/summary.json",
    ]


#: Every item of the Snakemake report (``snakemake --report``): its caption
#: (``report/<name>.rst``) -> (category, subcategory); rules wrap an output in
#: :func:`in_report`. Wildcards name a subcategory per scope of the suite. The training
#: histories are the one item outside this table (train.smk: one subcategory per arm).
REPORT = {
    "spirals": ("data", "two spirals"),
    "fig1_spirals": ("data", "two spirals"),
    "scaler": ("data", "split and scaling"),
    "inputs_scaled": ("data", "split and scaling"),
    "fig2_split": ("data", "split and scaling"),
    "shared_init": ("data", "initial weights"),
    "fig_training_curves": ("training", "every arm"),
    "fits": ("evaluation", "every fit"),
    "fig_predicted": ("evaluation", "the article's arms"),
    "robustness": ("study", "robustness"),
    "fig_success_rates": ("study", "robustness"),
    "fig_accuracy_distributions": ("study", "robustness"),
    "fig_time_distributions": ("study", "robustness"),
    "fig_median_curves": ("study", "robustness"),
    "fig_decision_surfaces": ("study", "robustness"),
    "rounding": ("study", "rounding"),
    "scaling": ("study", "cost"),
    "fig_scaling": ("study", "cost"),
    "fig_suite_profiles": ("suite", "{scope}"),
    "fig_suite_verdict": ("suite", "{scope}"),
    "fig_suite_lm_cost": ("suite", "{scope}"),
    "bench": ("benchmarks", "speed"),
    "lm_robustness": ("benchmarks", "LM robustness (MGH)"),
    "article": ("article", "the article"),
    "manifest": ("audit", "provenance"),
}


def in_report(path, name):
    """``path`` as an item of the Snakemake report, with the caption
    ``report/<name>.rst`` and the category and subcategory :data:`REPORT` gives it."""
    category, subcategory = REPORT[name]
    return report(
        path, caption=caption(name), category=category, subcategory=subcategory
    )


#: The suite's figures, in the report once: as the suite's own outputs
#: (results/suite/<scope>/, suite.smk), not again as the article's copies.
SUITE_FIGURES = ["fig_suite_profiles", "fig_suite_verdict", "fig_suite_lm_cost"]

#: The article's figures (results/article/figures/<name>.png and .svg).
FIGURES = [
    "fig1_spirals",
    "fig2_split",
    "fig_training_curves",
    "fig_predicted",
    *(
        [
            "fig_success_rates",
            "fig_accuracy_distributions",
            "fig_time_distributions",
            "fig_median_curves",
            "fig_decision_surfaces",
        ]
        if STUDY
        else []
    ),
    *(["fig_scaling"] if "scaling" in config else []),
    *(SUITE_FIGURES if SUITE and SUITE["in_article"] != "none" else []),
]


def article_figures():
    """Every figure of the article, PNG and SVG; the PNGs in the report (with their
    caption) except the suite's, which are there as the suite's outputs."""
    figures = []
    for name in FIGURES:
        png = f"results/article/figures/{name}.png"
        figures.append(png if name in SUITE_FIGURES else in_report(png, name))
        figures.append(f"results/article/figures/{name}.svg")
    return figures


def article_config():
    """The config values the article reads (secondorder.article.config_values), as the
    article job's params: the job writes them for the notebook; a change reruns it."""
    from secondorder.article import config_values

    return config_values(config)


def bench_in_article():
    """The benchmark's summary when ``bench.in_article`` is set (the article then shows
    its table, and building the article runs the benchmark); the DAG depends on the
    config only, never on which files happen to exist."""
    return ["results/bench/summary.json"] if config["bench"]["in_article"] else []


def all_outputs():
    return [
        "results/summary/fits.csv",
        "results/article/article.html",
        "results/audit/manifest.json",
        *suite_in_article(),
    ]


# --- the multi-dataset suite ------------------------------------------------------------


#: The files of a scope's summary (secondorder.pipeline.suite.files: TABLES, SUMMARY).
SUITE_SUMMARY_TABLES = [SUITE_TABLES[name] for name in SUITE_SUMMARY]


def suite_jobs(scope):
    """``problem/size/part`` of every suite job of ``scope`` in each phase (part: an
    arm, or ``all`` for a job that trains every arm)."""
    from secondorder.pipeline.suite.scopes import jobs

    return ["/".join(job) for job in jobs(SUITE, scope)] if SUITE else []


def suite_files(scope, phase, ext):
    """One file (fits ``csv``, ``records.csv`` or the job's ``json``) per suite job of
    ``scope`` in ``phase``."""
    return [f"results/suite/{scope}/{phase}/{job}.{ext}" for job in suite_jobs(scope)]


def suite_records(scope):
    """The provenance records of every job of a suite scope."""
    return [
        f"results/provenance/suite/{scope}/{phase}/{job}.json"
        for phase in SUITE_PHASES
        for job in suite_jobs(scope)
    ] + [
        f"results/provenance/suite/{scope}/{name}.json"
        for name in ("design", "select", "summary")
    ]


def suite_scope_regex():
    """A wildcard constraint matching the suite's scopes (full and the named ones)."""
    from secondorder.pipeline.suite.scopes import scopes

    return one_of(scopes(SUITE) if SUITE else [])


def suite_fit_inputs(wildcards):
    """A suite job's inputs: the CSV file of its problem when it is your own data (its
    hash is in the provenance and a changed file reruns the job) and, for the
    evaluation, the grid points the tuning selected."""
    spec = (SUITE.get("csv_problems") or {}).get(wildcards.problem) if SUITE else None
    inputs = {"csv": [spec["path"]] if spec else []}
    if wildcards.phase == "evaluate":
        inputs["selected"] = f"results/suite/{wildcards.scope}/selected.csv"
    return inputs


def suite_runtime(wildcards, attempt):
    """A suite job's time limit in minutes (``sbatch -t``): every fit at the cap plus
    10 minutes for start-up and compilation, growing with each attempt (without a
    job's wildcards, the full scope's tuning job of every arm: the larger phase; the
    evaluation counted at every grid point, an upper bound)."""
    from secondorder.pipeline.suite.scopes import scope_settings

    if not SUITE:
        return 10 * attempt
    part = scope_settings(SUITE, getattr(wildcards, "scope", "full"))
    one = getattr(wildcards, "part", "all") != "all"
    tune = getattr(wildcards, "phase", "tune") == "tune"
    inits, splits = (
        (part["tune_inits"], part["tune_splits"])
        if tune
        else (part["inits"], part["splits"])
    )
    fits = (1 if one else len(part["arms"])) * SUITE["grid_points"] * inits * splits
    return int(attempt * (10 + fits * part["cap_s"] / 60))


def suite_in_article():
    """The summary of the suite scope the article shows (``suite.in_article``): the
    slice by default, so the default target runs it; none without a suite."""
    if not SUITE or SUITE["in_article"] == "none":
        return []
    return [f"results/suite/{SUITE['in_article']}/summary.json"]


# --- the study ----------------------------------------------------------------------------


def study_arms():
    """Study arms: those of many seeds and the single-seed ones."""
    return STUDY["arms"] + STUDY["single_seed_arms"] if STUDY else []


def study_blocks(arm):
    """Seed blocks of an arm: every block of the study, or the first seed alone."""
    if arm in STUDY["single_seed_arms"]:
        return [f"{STUDY['first_seed']}-{STUDY['first_seed']}"]
    return seed_blocks(STUDY["n_inits"], STUDY["inits_per_job"], STUDY["first_seed"])


def study_jobs():
    """``arm/inputs/block`` of every study job."""
    if not STUDY:
        return []
    return [
        f"{arm}/{inputs}/{block}"
        for arm in study_arms()
        for inputs in STUDY["inputs"]
        for block in study_blocks(arm)
    ] + [
        f"{arm}/raw_reordered/{block}"
        for arm in STUDY["reordered_arms"]
        for block in study_blocks(arm)
    ]


def study_files(name):
    """One file (fits.csv, history.csv or weights.npy) per study job."""
    return [f"results/study/{job}/{name}" for job in study_jobs()]


def study_records():
    return [f"results/provenance/study/{job}.json" for job in study_jobs()]
