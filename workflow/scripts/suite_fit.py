from secondorder import audit, io
from secondorder.pipeline import suite

with audit.job(snakemake, threads=snakemake.threads):
    w = snakemake.wildcards
    table, record = suite.run_job(snakemake.params.suite, scope=w.scope,
                                  problem_name=w.problem, size=w.size, arm_name=w.arm)
    io.write_csv(snakemake.output.fits, table)
    io.write_json(snakemake.output.record, record)
