from secondorder import audit, stages

with audit.job(snakemake):
    stages.make_spirals(snakemake.output.csv, snakemake.params.n_samples)
