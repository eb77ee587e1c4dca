# Stage 4: one training rule per kind of optimizer, one job per arm, run in parallel.

TRAIN_INPUT = {
    "spirals": "results/data/spirals.csv",
    "scaled": "results/data/inputs_scaled.csv",
    "split": "results/data/split.json",
    "init": "results/init/shared_init.npy",
    "init_json": "results/init/shared_init.json",
}
TRAIN_OUTPUT = {
    "weights": "results/fits/{arm}/weights.npy",
    "history": report(
        "results/fits/{arm}/history.csv",
        caption=caption("history"),
        category="training",
        subcategory="{arm}",
    ),
    "fit": "results/fits/{arm}/fit.json",
    "provenance": "results/provenance/train/{arm}.json",
}


rule train_adam:
    input:
        **TRAIN_INPUT,
    output:
        **TRAIN_OUTPUT,
    log:
        "logs/train/{arm}.log",
    benchmark:
        "benchmarks/train/{arm}.tsv"
    wildcard_constraints:
        arm=arm_regex(*FIRST_ORDER),
    conda:
        SOFTWARE_ENV
    threads: 1
    resources:
        gpu=gpus,
        mem_mb=4000,
        runtime=minutes(60),
    params:
        arm=arm_settings,
        hidden=config["model"]["hidden"],
    script:
        "../scripts/train.py"


rule train_lm:
    input:
        **TRAIN_INPUT,
    output:
        **TRAIN_OUTPUT,
    log:
        "logs/train/{arm}.log",
    benchmark:
        "benchmarks/train/{arm}.tsv"
    wildcard_constraints:
        arm=arm_regex("lm", "lbfgs"),
    conda:
        SOFTWARE_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=minutes(60),
    params:
        arm=arm_settings,
        hidden=config["model"]["hidden"],
    script:
        "../scripts/train.py"


rule train_lm_fd:
    input:
        **TRAIN_INPUT,
    output:
        **TRAIN_OUTPUT,
    log:
        "logs/train/{arm}.log",
    benchmark:
        "benchmarks/train/{arm}.tsv"
    wildcard_constraints:
        arm=arm_regex("scipy_lm_fd", "scipy_lm_fd_modern"),
    conda:
        SOFTWARE_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=minutes(60),
    params:
        arm=arm_settings,
        hidden=config["model"]["hidden"],
    script:
        "../scripts/train.py"
