#!/usr/bin/env bash
# Snakemake runs this inside the environment it has just built from secondorder.yaml
# (`snakemake --sdm conda`): install this package from the repository with the exact
# pins, the pip line of the root environment.yml. SECONDORDER_ROOT is the repository
# root, set by the Snakefile (workflow/rules/common.smk) before any environment is built.
set -euo pipefail
: "${SECONDORDER_ROOT:?set by the Snakefile: the repository root}"
python -m pip install -c "$SECONDORDER_ROOT/requirements/pins.txt" -e "$SECONDORDER_ROOT[test,slurm,bench]"
