# The speed benchmark (not in the default target): `snakemake bench --cores 2`.
# Every engine from the shared init on the article's problem, timed in one job.


rule bench:
    output:
        summary=in_report("results/bench/summary.json", "bench"),
        table="results/bench/table.csv",
        provenance="results/provenance/bench.json",
    log:
        "logs/bench.log",
    benchmark:
        "benchmarks/bench.tsv"
    conda:
        SOFTWARE_ENV
    threads: 2  # the baseline machine's cores; pins TensorFlow's thread pools
    resources:
        mem_mb=4000,
        runtime=minutes(60),
    params:
        bench=config["bench"],
        lm_arm=config["arms"]["lm"],
    script:
        "../scripts/bench.py"
