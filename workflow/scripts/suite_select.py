from pathlib import Path

from secondorder import audit
from secondorder.pipeline.suite import files

with audit.job(snakemake):
    files.write_selection(list(snakemake.input.fits), list(snakemake.input.records),
                          Path(snakemake.output.selected).parent,
                          suite=snakemake.params.suite, scope=snakemake.wildcards.scope)
