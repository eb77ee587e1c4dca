# Stage 6: execute the article notebook with papermill, then render it to HTML.


rule article:
    input:
        notebook=workflow.source_path("../../notebooks/article.ipynb"),
        spirals="results/data/spirals.csv",
        scaled="results/data/inputs_scaled.csv",
        split="results/data/split.json",
        scaler="results/data/scaler.json",
        init="results/init/shared_init.json",
        fits="results/summary/fits.csv",
        predictions=expand("results/eval/{arm}/predictions.csv", arm=ARMS),
        fit_json=expand("results/fits/{arm}/fit.json", arm=ARMS),
    output:
        notebook="results/article/article.ipynb",
        html="results/article/article.html",
        figures=directory("results/article/figures"),
    log:
        "logs/article.log",
    script:
        "../scripts/article.py"
