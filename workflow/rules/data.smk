# Stages 1-3: the spirals, the train/validation split and scaling, the shared init.


rule spirals:
    output:
        csv=in_report("results/data/spirals.csv", "spirals"),
        provenance="results/provenance/spirals.json",
    log:
        "logs/spirals.log",
    benchmark:
        "benchmarks/spirals.tsv"
    conda:
        SOFTWARE_ENV
    params:
        n_samples=config["data"]["n_samples"],
    script:
        "../scripts/spirals.py"


rule split_scale:
    input:
        "results/data/spirals.csv",
    output:
        split="results/data/split.json",
        scaler=in_report("results/data/scaler.json", "scaler"),
        scaled=in_report("results/data/inputs_scaled.csv", "inputs_scaled"),
        provenance="results/provenance/split_scale.json",
    log:
        "logs/split_scale.log",
    benchmark:
        "benchmarks/split_scale.tsv"
    conda:
        SOFTWARE_ENV
    params:
        data=config["data"],
    script:
        "../scripts/split_scale.py"


rule shared_init:
    output:
        npy="results/init/shared_init.npy",
        json=in_report("results/init/shared_init.json", "shared_init"),
        provenance="results/provenance/shared_init.json",
    log:
        "logs/shared_init.log",
    benchmark:
        "benchmarks/shared_init.tsv"
    conda:
        SOFTWARE_ENV
    params:
        init=config["init"],
        hidden=config["model"]["hidden"],
    script:
        "../scripts/shared_init.py"
