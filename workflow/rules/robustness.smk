# The MGH robustness benchmark of our LM (not in the default target):
# `snakemake --cores all lm_robustness`. The 37 Moré-Garbow-Hillstrom least-squares
# problems from x0, 10 x0 and 100 x0, by our LM (every damping x scaling option set),
# MINPACK and scipy's trf, in one job (src/secondorder/lm_robustness.py).


rule lm_robustness:
    output:
        table="results/bench/lm_robustness.csv",
        summary="results/bench/lm_robustness_summary.json",
        solvers=in_report("results/bench/lm_robustness_solvers.csv", "lm_robustness"),
        provenance="results/provenance/lm_robustness.json",
    log:
        "logs/lm_robustness.log",
    benchmark:
        "benchmarks/lm_robustness.tsv"
    conda:
        SOFTWARE_ENV
    threads: 2  # the baseline machine's cores; pins TensorFlow's thread pools
    resources:
        mem_mb=4000,
        runtime=minutes(120),
    params:
        starts=[1, 10, 100],
        jit_compile=True,
    script:
        "../scripts/lm_robustness.py"
