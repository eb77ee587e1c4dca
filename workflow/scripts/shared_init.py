from secondorder import stages

stages.start(snakemake.log[0])
init = snakemake.params.init
stages.make_shared_init(snakemake.output.npy, snakemake.output.json, seed=init["seed"],
                        low=init["low"], high=init["high"], hidden=snakemake.params.hidden)
