from secondorder import audit
from secondorder.pipeline.suite import files

with audit.job(snakemake, threads=snakemake.threads):
    w = snakemake.wildcards
    files.write_job(snakemake.output, suite=snakemake.params.suite, scope=w.scope,
                    phase=w.phase, problem=w.problem, size=w.size, part=w.part,
                    selected_csv=snakemake.input.get("selected"))
