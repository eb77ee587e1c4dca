from pathlib import Path

from secondorder import article, audit, io

with audit.job(snakemake):
    inp, out = snakemake.input, snakemake.output
    io.write_json(out.config, snakemake.params.config)
    artifacts = {name: str(value) if isinstance(value, str) else list(map(str, value))
                 for name, value in inp.items() if name != "notebook"}
    article.render(inp.notebook, out.notebook, out.html,
                   {**artifacts, "config_json": out.config,
                    "figures_dir": str(Path(out.figures[0]).parent)})
