from secondorder import io, stages
from secondorder.model import Architecture

stages.start(snakemake.log[0])
inp, out = snakemake.input, snakemake.output
inputs = io.read_json(inp.fit)["inputs"]
stages.evaluate_fit(
    inp.fit, inp.weights, problem=stages.load_problem(inp.spirals, inp.scaled, inp.split, inputs),
    arch=Architecture(2, snakemake.params.hidden, 2), out_metrics=out.metrics,
    out_predictions=out.predictions)
