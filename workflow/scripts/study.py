from secondorder import audit
from secondorder.pipeline import stages

with audit.job(snakemake, threads=snakemake.threads):
    inp, out, w = snakemake.input, snakemake.output, snakemake.wildcards
    stages.study_block(
        w.arm, snakemake.params.arm, inputs=w.inputs, block=w.block, spirals_csv=inp.spirals,
        scaled_csv=inp.scaled, split_json=inp.split, hidden=snakemake.params.hidden,
        init=snakemake.params.init, history_points=snakemake.params.history_points,
        out_csv=out.fits, out_history=out.history, out_weights=out.weights)
