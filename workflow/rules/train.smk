# Stage 4: one job per arm to run, in parallel; a GPU for the optimizers that use one.


rule train:
    input:
        spirals="results/data/spirals.csv",
        scaled="results/data/inputs_scaled.csv",
        split="results/data/split.json",
        init="results/init/shared_init.npy",
        init_json="results/init/shared_init.json",
    output:
        weights="results/fits/{arm}/weights.npy",
        history=report(
            "results/fits/{arm}/history.csv",
            caption=caption("history"),
            category="training",
            subcategory="{arm}",
        ),
        fit="results/fits/{arm}/fit.json",
        provenance="results/provenance/train/{arm}.json",
    log:
        "logs/train/{arm}.log",
    benchmark:
        "benchmarks/train/{arm}.tsv"
    wildcard_constraints:
        arm=one_of(ARMS),
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
