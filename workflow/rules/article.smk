# Stage 6: execute the article notebook with papermill, then render it to HTML. Every
# word of the article is in secondorder.article; the notebook reads the run through the
# named inputs below (secondorder.article.Artifacts: the same names) and the config
# values the article reads, which the job writes to results/article/config.json.


rule article:
    input:
        notebook=NOTEBOOK,
        spirals_csv="results/data/spirals.csv",
        scaled_csv="results/data/inputs_scaled.csv",
        split_json="results/data/split.json",
        scaler_json="results/data/scaler.json",
        init_json="results/init/shared_init.json",
        fits_csv="results/summary/fits.csv",
        robustness_csv="results/summary/robustness.csv",
        rounding_csv="results/summary/rounding.csv",
        fit_jsons=expand("results/fits/{arm}/fit.json", arm=ARMS),
        history_csvs=expand("results/fits/{arm}/history.csv", arm=ARMS),
        predictions_csvs=expand("results/eval/{arm}/predictions.csv", arm=ARMS),
        study_history_csvs=study_files("history.csv"),
        study_weights_npys=study_files("weights.npy"),
        scaling_csvs=["results/summary/scaling.csv"] if "scaling" in config else [],
        bench_jsons=bench_in_article(),
        suite_jsons=suite_in_article(),
        portable_jsons=["results/audit/portable.json"],
        provenance_jsons=upstream_records()
        + ["results/provenance/portable_hashes.json"],
    output:
        notebook="results/article/article.ipynb",
        html=in_report("results/article/article.html", "article"),
        config="results/article/config.json",
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
        config=article_config(),
    script:
        "../scripts/article.py"
