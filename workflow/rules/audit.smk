# Gather every job's provenance record into one manifest a reader can verify with
# `secondorder audit verify results`.


rule audit:
    input:
        records=upstream_records() + ["results/provenance/article.json"],
    output:
        manifest=report(
            "results/audit/manifest.json",
            caption=caption("manifest"),
            category="audit",
        ),
    log:
        "logs/audit.log",
    benchmark:
        "benchmarks/audit.tsv"
    conda:
        SOFTWARE_ENV
    script:
        "../scripts/audit.py"
