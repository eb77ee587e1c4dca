from secondorder import audit
from secondorder.pipeline.suite import files

with audit.job(snakemake):
    files.write_design(snakemake.output.design, suite=snakemake.params.suite,
                       scope=snakemake.wildcards.scope)
