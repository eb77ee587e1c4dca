from secondorder import audit
from secondorder.pipeline import stages

with audit.job(snakemake):
    stages.summarize(
        snakemake.input.fits, snakemake.input.metrics, snakemake.output.csv,
        study_csvs=snakemake.input.study, out_robustness=snakemake.output.robustness,
        out_rounding=snakemake.output.rounding,
        success_accuracy=snakemake.params.success_accuracy)
