from secondorder import audit
from secondorder.pipeline import stages
from secondorder.problem.model import Architecture

with audit.job(snakemake):
    inp, out = snakemake.input, snakemake.output
    stages.evaluate_fits(inp.fits, inp.weights, spirals_csv=inp.spirals, scaled_csv=inp.scaled,
                         split_json=inp.split, arch=Architecture(2, snakemake.params.hidden, 2),
                         out_metrics=out.metrics, out_predictions=out.predictions)
