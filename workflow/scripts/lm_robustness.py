from secondorder import audit, io
from secondorder.pipeline import lm_robustness

with audit.job(snakemake, threads=snakemake.threads):
    table, summary = lm_robustness.run_benchmark(**dict(snakemake.params.items()))
    io.write_csv(snakemake.output.table, table)
    io.write_json(snakemake.output.summary, summary)
    solvers = lm_robustness.summary_table(table)
    io.write_csv(snakemake.output.solvers, solvers)
    print(solvers.to_string(index=False))
