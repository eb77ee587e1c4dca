# Stage 5: score every fit of the article in one job (a second of numpy: one job, not
# one per arm), then one table for all of them (and the study's rates).


rule evaluate:
    input:
        spirals="results/data/spirals.csv",
        scaled="results/data/inputs_scaled.csv",
        split="results/data/split.json",
        weights=expand("results/fits/{arm}/weights.npy", arm=ARMS),
        fits=expand("results/fits/{arm}/fit.json", arm=ARMS),
    output:
        metrics=expand("results/eval/{arm}/metrics.json", arm=ARMS),
        predictions=expand("results/eval/{arm}/predictions.csv", arm=ARMS),
        provenance="results/provenance/evaluate.json",
    log:
        "logs/evaluate.log",
    benchmark:
        "benchmarks/evaluate.tsv"
    conda:
        SOFTWARE_ENV
    params:
        hidden=config["model"]["hidden"],
    script:
        "../scripts/evaluate.py"


rule summary:
    input:
        fits=expand("results/fits/{arm}/fit.json", arm=ARMS),
        metrics=expand("results/eval/{arm}/metrics.json", arm=ARMS),
        study=study_files("fits.csv"),
    output:
        csv=in_report("results/summary/fits.csv", "fits"),
        robustness=in_report("results/summary/robustness.csv", "robustness"),
        rounding=in_report("results/summary/rounding.csv", "rounding"),
        provenance="results/provenance/summary.json",
    log:
        "logs/summary.log",
    benchmark:
        "benchmarks/summary.tsv"
    conda:
        SOFTWARE_ENV
    params:
        success_accuracy=STUDY["success_accuracy"] if STUDY else 0.95,
    script:
        "../scripts/summary.py"
