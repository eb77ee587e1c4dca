# Gather every job's provenance record into one manifest a reader can verify with
# `secondorder audit verify results`, with the comparison of the run's portable artifacts
# against the published reference (`secondorder audit compare results` says the same).


rule portable_hashes:
    input:
        records=upstream_records(),
        reference=numerics_reference(),
    output:
        json="results/audit/portable.json",
        provenance="results/provenance/portable_hashes.json",
    log:
        "logs/portable_hashes.log",
    benchmark:
        "benchmarks/portable_hashes.tsv"
    conda:
        SOFTWARE_ENV
    script:
        "../scripts/portable_hashes.py"


rule audit:
    input:
        records=upstream_records()
        + [
            "results/provenance/article.json",
            "results/provenance/portable_hashes.json",
        ],
        portable="results/audit/portable.json",
    output:
        manifest=in_report("results/audit/manifest.json", "manifest"),
    log:
        "logs/audit.log",
    benchmark:
        "benchmarks/audit.tsv"
    conda:
        SOFTWARE_ENV
    script:
        "../scripts/audit.py"
