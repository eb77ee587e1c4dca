from secondorder import audit
from secondorder.pipeline import suite

with audit.job(snakemake):
    suite.write_summary(list(snakemake.input.fits), list(snakemake.input.records),
                        out=snakemake.output, suite=snakemake.params.suite,
                        scope=snakemake.wildcards.scope,
                        job_jsons=list(snakemake.input.jobs))
