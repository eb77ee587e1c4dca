# Beyond the article: many initial weights per arm on raw and scaled inputs (one job
# per arm x inputs x block of seeds), and the cost of LM and Adam as the network grows.

STUDY_INPUT = {
    "spirals": "results/data/spirals.csv",
    "scaled": "results/data/inputs_scaled.csv",
    "split": "results/data/split.json",
}
STUDY_OUTPUT = {
    "fits": "results/study/{arm}/{inputs}/{block}/fits.csv",
    "history": "results/study/{arm}/{inputs}/{block}/history.csv",
    "weights": "results/study/{arm}/{inputs}/{block}/weights.npy",
    "provenance": "results/provenance/study/{arm}/{inputs}/{block}.json",
}


rule study_first_order:
    input:
        **STUDY_INPUT,
    output:
        **STUDY_OUTPUT,
    log:
        "logs/study/{arm}/{inputs}/{block}.log",
    benchmark:
        "benchmarks/study/{arm}/{inputs}/{block}.tsv"
    wildcard_constraints:
        arm=study_arm_regex(*FIRST_ORDER),
        inputs="raw|scaled|raw_reordered",
        block=r"\d+-\d+",
    conda:
        SOFTWARE_ENV
    threads: 1
    resources:
        gpu=0,
        mem_mb=2000,
        runtime=minutes(240),
    params:
        arm=study_arm_settings,
        hidden=config["model"]["hidden"],
        init=config["init"],
        history_points=STUDY["history_points"] if STUDY else 0,
    script:
        "../scripts/study.py"


rule study_second_order:
    input:
        **STUDY_INPUT,
    output:
        **STUDY_OUTPUT,
    log:
        "logs/study/{arm}/{inputs}/{block}.log",
    benchmark:
        "benchmarks/study/{arm}/{inputs}/{block}.tsv"
    wildcard_constraints:
        arm=study_arm_regex("lm", "lbfgs", "scipy_lm_fd", "scipy_lm_fd_modern"),
        inputs="raw|scaled|raw_reordered",
        block=r"\d+-\d+",
    conda:
        SOFTWARE_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=minutes(240),
    params:
        arm=study_arm_settings,
        hidden=config["model"]["hidden"],
        init=config["init"],
        history_points=STUDY["history_points"] if STUDY else 0,
    script:
        "../scripts/study.py"


rule scaling:
    output:
        csv=in_report("results/summary/scaling.csv", "scaling"),
        provenance="results/provenance/scaling.json",
    log:
        "logs/scaling.log",
    benchmark:
        "benchmarks/scaling.tsv"
    conda:
        SOFTWARE_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=minutes(120),
    params:
        scaling=config.get("scaling"),
    script:
        "../scripts/scaling.py"
