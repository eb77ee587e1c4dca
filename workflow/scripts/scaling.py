from secondorder import audit
from secondorder.pipeline import stages

with audit.job(snakemake, threads=snakemake.threads):
    s = snakemake.params.scaling
    stages.scaling(snakemake.output.csv, hidden=s["hidden"], lm_iterations=s["lm_iterations"],
                   adam_epochs=s["adam_epochs"], repeats=s["repeats"])
