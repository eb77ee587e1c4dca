from secondorder import audit, stages

with audit.job(snakemake):
    stages.summarize(snakemake.input.fits, snakemake.input.metrics, snakemake.output.csv)
