from secondorder import audit
from secondorder.pipeline import stages

stages.start(snakemake.log[0])
audit.build_manifest(snakemake.input.records, snakemake.output.manifest,
                     portable_json=snakemake.input.portable)
