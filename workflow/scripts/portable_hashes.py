from pathlib import Path

from secondorder import audit, portable

with audit.job(snakemake):
    out = Path(snakemake.output.json)
    # the config's reference (a list of one), or none (numerics.reference: null)
    reference = list(snakemake.input.reference)
    portable.write_comparison(out.parents[1], reference[0] if reference else None, out)
