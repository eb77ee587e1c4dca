from pathlib import Path

from secondorder import audit, portable

with audit.job(snakemake):
    out = Path(snakemake.output.json)
    # the config's reference, or none (numerics.reference: null)
    portable.write_comparison(out.parents[1], snakemake.input.reference or None, out)
