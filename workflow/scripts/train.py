from secondorder import audit, io
from secondorder.pipeline import stages
from secondorder.problem.model import Architecture

with audit.job(snakemake, threads=snakemake.threads):
    arm, arch = snakemake.params.arm, Architecture(2, snakemake.params.hidden, 2)
    inp, out = snakemake.input, snakemake.output
    init = io.read_json(inp.init_json)
    stages.train(
        snakemake.wildcards.arm, arm,
        problem=stages.load_problem(inp.spirals, inp.scaled, inp.split, arm["inputs"]),
        ws0=stages.load_init(inp.init, arch), arch=arch, init_seed=init["seed"],
        init_sha256=init["sha256"], out_weights=out.weights, out_history=out.history,
        out_fit=out.fit)
