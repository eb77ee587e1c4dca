# Stage 1-3: the spirals, the train/validation split and scaling, the shared init.


rule spirals:
    output:
        "results/data/spirals.csv",
    params:
        n_samples=config["data"]["n_samples"],
    log:
        "logs/spirals.log",
    script:
        "../scripts/spirals.py"


rule split_scale:
    input:
        "results/data/spirals.csv",
    output:
        split="results/data/split.json",
        scaler="results/data/scaler.json",
        scaled="results/data/inputs_scaled.csv",
    params:
        data=config["data"],
    log:
        "logs/split_scale.log",
    script:
        "../scripts/split_scale.py"


rule shared_init:
    output:
        npy="results/init/shared_init.npy",
        json="results/init/shared_init.json",
    params:
        init=config["init"],
        hidden=config["model"]["hidden"],
    log:
        "logs/shared_init.log",
    script:
        "../scripts/shared_init.py"
