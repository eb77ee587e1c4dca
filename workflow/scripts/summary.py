from secondorder import stages

stages.start(snakemake.log[0])
stages.summarize(snakemake.input.fits, snakemake.input.metrics, snakemake.output[0])
