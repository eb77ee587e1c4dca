from secondorder import audit, io
from secondorder.pipeline import bench

with audit.job(snakemake, threads=snakemake.threads):
    summary = bench.run_bench(**snakemake.params.bench, lm_arm=snakemake.params.lm_arm)
    io.write_json(snakemake.output.summary, summary)
    table = bench.bench_table(summary)
    io.write_csv(snakemake.output.table, table)
    print(table.to_string(index=False))
