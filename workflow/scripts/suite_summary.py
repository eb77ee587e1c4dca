from secondorder import audit
from secondorder.pipeline.suite import files

with audit.job(snakemake):
    files.write_summary(list(snakemake.input.fits), list(snakemake.input.records),
                        out=snakemake.output, suite=snakemake.params.suite,
                        scope=snakemake.wildcards.scope,
                        job_jsons=list(snakemake.input.jobs))
