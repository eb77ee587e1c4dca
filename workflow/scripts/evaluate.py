from secondorder import audit, io
from secondorder.pipeline import stages
from secondorder.problem.model import Architecture

with audit.job(snakemake):
    inp, out = snakemake.input, snakemake.output
    problem = stages.load_problem(inp.spirals, inp.scaled, inp.split,
                                  io.read_json(inp.fit)["inputs"])
    stages.evaluate_fit(inp.fit, inp.weights, problem=problem,
                        arch=Architecture(2, snakemake.params.hidden, 2),
                        out_metrics=out.metrics, out_predictions=out.predictions)
