from secondorder import stages

stages.start(snakemake.log[0])
stages.make_spirals(snakemake.output[0], snakemake.params.n_samples)
