# Gather every job's provenance record into one manifest a reader can verify with
# `secondorder audit verify results`.


rule audit:
    input:
        records=upstream_records() + ["results/provenance/article.json"],
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
