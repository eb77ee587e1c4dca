# The multi-dataset suite (config/suite.yaml): one job per scope x problem x size x arm
# (`jobs: arm`, the full scope, for a cluster) or per scope x problem x size with every
# arm (`jobs: instance`), then one summary per scope. `snakemake --cores all suite` runs
# the full scope; the default target runs the scope the article shows (`suite.in_article`).


rule suite_fit:
    input:
        csv=suite_csv,
    output:
        fits="results/suite/{scope}/fits/{problem}/{size}/{part}.csv",
        records="results/suite/{scope}/fits/{problem}/{size}/{part}.records.csv",
        record="results/suite/{scope}/fits/{problem}/{size}/{part}.json",
        provenance="results/provenance/suite/{scope}/{problem}/{size}/{part}.json",
    log:
        "logs/suite/{scope}/{problem}/{size}/{part}.log",
    benchmark:
        "benchmarks/suite/{scope}/{problem}/{size}/{part}.tsv"
    wildcard_constraints:
        scope=suite_scope_regex(),
        part="[A-Za-z][A-Za-z0-9_]*",
    conda:
        SOFTWARE_ENV
    threads: SUITE["threads"] if SUITE else 1
    resources:
        mem_mb=lambda wildcards: int(1024 * SUITE["lm_memory_gb"]) + 2000,
        runtime=suite_runtime,
    params:
        suite=SUITE,
    script:
        "../scripts/suite_fit.py"


rule suite_summary:
    input:
        fits=lambda wildcards: suite_files(wildcards.scope, "csv"),
        records=lambda wildcards: suite_files(wildcards.scope, "records.csv"),
        jobs=lambda wildcards: suite_files(wildcards.scope, "json"),
    output:
        fits="results/suite/{scope}/fits.csv",
        records="results/suite/{scope}/records.csv",
        summary="results/suite/{scope}/summary.json",
        # the tables by name: secondorder.pipeline.suite.TABLES
        tables=multiext("results/suite/{scope}/", *SUITE_TABLES.values()),
        profiles_png=in_report(
            "results/suite/{scope}/fig_suite_profiles.png", "fig_suite_profiles"
        ),
        verdict_png=in_report(
            "results/suite/{scope}/fig_suite_verdict.png", "fig_suite_verdict"
        ),
        cost_png=in_report(
            "results/suite/{scope}/fig_suite_lm_cost.png", "fig_suite_lm_cost"
        ),
        svgs=multiext(
            "results/suite/{scope}/",
            "fig_suite_profiles.svg",
            "fig_suite_verdict.svg",
            "fig_suite_lm_cost.svg",
        ),
        provenance="results/provenance/suite/{scope}/summary.json",
    log:
        "logs/suite/{scope}/summary.log",
    wildcard_constraints:
        scope=suite_scope_regex(),
    conda:
        SOFTWARE_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=minutes(10),
    params:
        suite=SUITE,
    script:
        "../scripts/suite_summary.py"


rule suite:
    input:
        "results/suite/full/summary.json",
