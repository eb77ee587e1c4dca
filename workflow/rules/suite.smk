# The multi-dataset suite (config/suite.yaml): one job per scope x problem x size x arm,
# then one summary per scope. `snakemake --cores all suite` runs the full suite; the
# default target runs its slice (and the article shows `suite.in_article`).


rule suite_fit:
    output:
        fits="results/suite/{scope}/fits/{problem}/{size}/{arm}.csv",
        record="results/suite/{scope}/fits/{problem}/{size}/{arm}.json",
        provenance="results/provenance/suite/{scope}/{problem}/{size}/{arm}.json",
    log:
        "logs/suite/{scope}/{problem}/{size}/{arm}.log",
    benchmark:
        "benchmarks/suite/{scope}/{problem}/{size}/{arm}.tsv"
    wildcard_constraints:
        scope="slice|full",
    conda:
        SOFTWARE_ENV
    threads: 1
    resources:
        mem_mb=lambda wildcards: int(1024 * SUITE["lm_memory_gb"]) + 2000,
        runtime=minutes(30),
    params:
        suite=SUITE,
    script:
        "../scripts/suite_fit.py"


rule suite_summary:
    input:
        fits=lambda wildcards: suite_files(wildcards.scope, "csv"),
        records=lambda wildcards: suite_files(wildcards.scope, "json"),
    output:
        fits="results/suite/{scope}/fits.csv",
        summary="results/suite/{scope}/summary.json",
        tables=multiext(
            "results/suite/{scope}/",
            "selected.csv",
            "success.csv",
            "verdict.csv",
            "profile.csv",
            "lm_cost.csv",
            "verdict_instances.csv",
        ),
        profile_png=report(
            "results/suite/{scope}/fig_suite_profile.png",
            caption=caption("fig_suite_profile"),
            category="suite",
        ),
        cost_png=report(
            "results/suite/{scope}/fig_suite_lm_cost.png",
            caption=caption("fig_suite_lm_cost"),
            category="suite",
        ),
        svgs=multiext(
            "results/suite/{scope}/", "fig_suite_profile.svg", "fig_suite_lm_cost.svg"
        ),
        provenance="results/provenance/suite/{scope}/summary.json",
    log:
        "logs/suite/{scope}/summary.log",
    wildcard_constraints:
        scope="slice|full",
    conda:
        SOFTWARE_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=minutes(10),
    params:
        suite=SUITE,
    script:
        "../scripts/suite_summary.py"


rule suite:
    input:
        "results/suite/full/summary.json",
