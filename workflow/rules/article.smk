# Stage 6: execute the article notebook with papermill, then render it to HTML.


rule article:
    input:
        notebook=NOTEBOOK,
        spirals="results/data/spirals.csv",
        scaled="results/data/inputs_scaled.csv",
        split="results/data/split.json",
        scaler="results/data/scaler.json",
        init="results/init/shared_init.json",
        fits="results/summary/fits.csv",
        robustness="results/summary/robustness.csv",
        rounding="results/summary/rounding.csv",
        scaling=["results/summary/scaling.csv"] if "scaling" in config else [],
        study_history=study_files("history.csv"),
        study_weights=study_files("weights.npy"),
        predictions=expand("results/eval/{arm}/predictions.csv", arm=ARMS),
        fit_json=expand("results/fits/{arm}/fit.json", arm=ARMS),
        history=expand("results/fits/{arm}/history.csv", arm=ARMS),
        records=upstream_records(),
        bench=bench_in_article(),
        suite=suite_in_article(),
    output:
        notebook="results/article/article.ipynb",
        html=in_report("results/article/article.html", "article"),
        figures=article_figures(),
        provenance="results/provenance/article.json",
    log:
        "logs/article.log",
    benchmark:
        "benchmarks/article.tsv"
    conda:
        SOFTWARE_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=minutes(30),
    params:
        success_accuracy=STUDY["success_accuracy"] if STUDY else 0.95,
    script:
        "../scripts/article.py"
