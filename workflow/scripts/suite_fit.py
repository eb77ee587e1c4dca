from secondorder import audit, io
from secondorder.pipeline import suite

with audit.job(snakemake, threads=snakemake.threads):
    w = snakemake.wildcards
    fits, records, record = suite.run_job(snakemake.params.suite, scope=w.scope,
                                          problem_name=w.problem, size=w.size, part=w.part)
    io.write_csv(snakemake.output.fits, fits)
    io.write_csv(snakemake.output.records, records)
    io.write_json(snakemake.output.record, record)
