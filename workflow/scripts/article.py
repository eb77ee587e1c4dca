from secondorder import stages

stages.start(snakemake.log[0])
inp, out = snakemake.input, snakemake.output
stages.render_article(
    inp.notebook, out.notebook, out.html, out.figures,
    parameters={"spirals_csv": inp.spirals, "scaled_csv": inp.scaled, "split_json": inp.split,
                "scaler_json": inp.scaler, "init_json": inp.init, "fits_csv": inp.fits,
                "fit_jsons": list(inp.fit_json), "predictions_csvs": list(inp.predictions)})
