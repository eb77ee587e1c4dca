from secondorder import audit
from secondorder.pipeline import stages

with audit.job(snakemake):
    stages.make_spirals(snakemake.output.csv, snakemake.params.n_samples)
