# The multi-dataset suite (config/suite.yaml), per scope: the design (planned power,
# before any fit), the tuning jobs, the selection (grid points and targets from the
# tuning fits alone), the evaluation jobs (the selected grid points on other splits and
# initial weights), then one summary. Jobs are one per scope x phase x problem x size x
# arm (`jobs: arm`, the full scope, for a cluster) or per scope x phase x problem x size
# with every arm (`jobs: instance`). `snakemake --cores all suite` runs the full scope;
# the default target runs the scope the article shows (`suite.in_article`).


# The design and the selection read or simulate for seconds: on a cluster they run in
# the main Snakemake process.
localrules:
    suite_design,
    suite_select,


rule suite_design:
    output:
        design="results/suite/{scope}/design.json",
        provenance="results/provenance/suite/{scope}/design.json",
    log:
        "logs/suite/{scope}/design.log",
    wildcard_constraints:
        scope=suite_scope_regex(),
    conda:
        SOFTWARE_ENV
    params:
        suite=SUITE,
    script:
        "../scripts/suite_design.py"


rule suite_fit:
    input:
        unpack(suite_fit_inputs),
    output:
        fits="results/suite/{scope}/{phase}/{problem}/{size}/{part}.csv",
        records="results/suite/{scope}/{phase}/{problem}/{size}/{part}.records.csv",
        record="results/suite/{scope}/{phase}/{problem}/{size}/{part}.json",
        provenance="results/provenance/suite/{scope}/{phase}/{problem}/{size}/{part}.json",
    log:
        "logs/suite/{scope}/{phase}/{problem}/{size}/{part}.log",
    benchmark:
        "benchmarks/suite/{scope}/{phase}/{problem}/{size}/{part}.tsv"
    wildcard_constraints:
        scope=suite_scope_regex(),
        phase=one_of(SUITE_PHASES),
        problem="[A-Za-z][A-Za-z0-9_]*",
        size="[A-Za-z][A-Za-z0-9_]*",
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


rule suite_select:
    input:
        fits=lambda wildcards: suite_files(wildcards.scope, "tune", "csv"),
        records=lambda wildcards: suite_files(wildcards.scope, "tune", "records.csv"),
    output:
        selected="results/suite/{scope}/selected.csv",
        targets="results/suite/{scope}/targets.csv",
        provenance="results/provenance/suite/{scope}/select.json",
    log:
        "logs/suite/{scope}/select.log",
    wildcard_constraints:
        scope=suite_scope_regex(),
    conda:
        SOFTWARE_ENV
    params:
        suite=SUITE,
    script:
        "../scripts/suite_select.py"


rule suite_summary:
    input:
        fits=lambda wildcards: suite_files(wildcards.scope, "evaluate", "csv"),
        records=lambda wildcards: suite_files(
            wildcards.scope, "evaluate", "records.csv"
        ),
        jobs=lambda wildcards: suite_files(wildcards.scope, "evaluate", "json"),
        selected="results/suite/{scope}/selected.csv",
        targets="results/suite/{scope}/targets.csv",
        design="results/suite/{scope}/design.json",
    output:
        fits="results/suite/{scope}/fits.csv",
        records="results/suite/{scope}/records.csv",
        summary="results/suite/{scope}/summary.json",
        # the tables by name: secondorder.pipeline.suite.files.TABLES
        tables=multiext("results/suite/{scope}/", *SUITE_SUMMARY_TABLES),
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
