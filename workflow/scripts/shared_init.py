from secondorder import audit
from secondorder.pipeline import stages

with audit.job(snakemake):
    init = snakemake.params.init
    stages.make_shared_init(snakemake.output.npy, snakemake.output.json, seed=init["seed"],
                            low=init["low"], high=init["high"], hidden=snakemake.params.hidden)
