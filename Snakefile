# Levenberg-Marquardt versus Adam on two spirals: from the generator to the article.
# Stages live in workflow/rules/<stage>.smk; all numerics in src/secondorder.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/study.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/article.smk"
include: "workflow/rules/audit.smk"
include: "workflow/rules/bench.smk"
include: "workflow/rules/robustness.smk"
include: "workflow/rules/suite.smk"


# One live run per directory, and no lock left behind by a killed run (the workflow
# profile turns Snakemake's own lock off): common.smk's start_run.
onstart:
    start_run()


# Jobs of a second or two: on a cluster they run in the main Snakemake process instead
# of waiting in the queue as jobs of their own.
localrules:
    spirals,
    split_scale,
    shared_init,
    evaluate,
    summary,
    audit,
    portable_hashes,
    suite,


rule all:
    default_target: True
    input:
        all_outputs(),
