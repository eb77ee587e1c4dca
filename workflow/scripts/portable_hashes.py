from pathlib import Path

from secondorder import audit, portable

with audit.job(snakemake):
    out = Path(snakemake.output.json)
    portable.write_comparison(out.parents[1], snakemake.params.reference, out)
