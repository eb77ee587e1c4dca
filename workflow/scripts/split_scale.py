from secondorder import audit
from secondorder.pipeline import stages

with audit.job(snakemake):
    d = snakemake.params.data
    stages.split_scale(
        snakemake.input[0], snakemake.output.split, snakemake.output.scaler,
        snakemake.output.scaled, train_fraction=d["train_fraction"],
        split_seed=d["split_seed"], scale_min=d["scale_min"], scale_max=d["scale_max"],
        swap_min_max=d["swap_min_max"])
