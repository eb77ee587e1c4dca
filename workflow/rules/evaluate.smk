# Stage 5: score each fit, then one table for all of them (and the study's rates).


rule evaluate:
    input:
        spirals="results/data/spirals.csv",
        scaled="results/data/inputs_scaled.csv",
        split="results/data/split.json",
        weights="results/fits/{arm}/weights.npy",
        fit="results/fits/{arm}/fit.json",
    output:
        metrics="results/eval/{arm}/metrics.json",
        predictions="results/eval/{arm}/predictions.csv",
        provenance="results/provenance/evaluate/{arm}.json",
    log:
        "logs/evaluate/{arm}.log",
    benchmark:
        "benchmarks/evaluate/{arm}.tsv"
    conda:
        SOFTWARE_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=minutes(20),
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
        csv=report(
            "results/summary/fits.csv", caption=caption("fits"), category="evaluation"
        ),
        robustness=report(
            "results/summary/robustness.csv",
            caption=caption("robustness"),
            category="study",
        ),
        rounding=report(
            "results/summary/rounding.csv",
            caption=caption("rounding"),
            category="study",
        ),
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
