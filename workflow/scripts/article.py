from pathlib import Path

from secondorder import audit
from secondorder.pipeline import stages

with audit.job(snakemake):
    inp, out = snakemake.input, snakemake.output
    stages.render_article(
        inp.notebook, out.notebook, out.html,
        parameters={"spirals_csv": inp.spirals, "scaled_csv": inp.scaled,
                    "split_json": inp.split, "scaler_json": inp.scaler,
                    "init_json": inp.init, "fits_csv": inp.fits,
                    "robustness_csv": inp.robustness,
                    "rounding_csv": inp.rounding, "scaling_csvs": list(inp.scaling),
                    "study_history_csvs": list(inp.study_history),
                    "study_weights_npys": list(inp.study_weights),
                    "success_accuracy": snakemake.params.success_accuracy,
                    "bench_jsons": list(inp.bench),
                    "suite_jsons": list(inp.suite),
                    "fit_jsons": list(inp.fit_json),
                    "predictions_csvs": list(inp.predictions),
                    "provenance_jsons": list(inp.records),
                    "figures_dir": str(Path(out.figures[0]).parent)})
