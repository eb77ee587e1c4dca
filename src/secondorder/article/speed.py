"""Speed: the benchmark's goals and table, when the configuration shows it."""

from __future__ import annotations

from secondorder.article.page import Table, bullets, pct
from secondorder.pipeline import bench
from secondorder.pipeline.bench.scoring import N_SAMPLES

HEADING = "Speed"

#: How the article names each goal of :data:`secondorder.pipeline.bench.TARGETS`
#: (``{peer}``: the best peer of the run).
GOALS = {
    "lm_vs_article_call": "LM (the `lm` arm's options) speed-up over the article's call "
                          "(as it ran)",
    "lm_vs_best_peer": "LM (the `lm` arm's options) speed-up over the best peer ({peer})",
    "lm_fast_vs_article_call": "LM (the fastest documented option set) speed-up over the "
                               "article's call",
    "lm_fast_vs_best_peer": "LM (the fastest documented option set) speed-up over the "
                            "best peer ({peer})",
    "adam_compiled_vs_fit": "compiled Adam speed-up over model.fit (per epoch)",
}


def findings(summary: dict) -> str:
    """Bullet points from ``results/bench/summary.json``: each goal, reached or not."""
    peer = summary.get("best_peer") or "none reached the target"
    lines = [f"Measured on {summary['device']['name']} ({summary['device']['type']})."]
    for name, goal in summary["targets"].items():
        value = goal["value"]
        shown = "not reached" if value is None else f"{value:.3g}"
        verdict = {True: "met", False: "**not met**", None: "not measurable"}[goal["met"]]
        label = GOALS.get(name, name).format(peer=peer)
        lines.append(f"{label}: {shown} (goal {goal['op']} {goal['threshold']:g}): {verdict}.")
    settings = summary.get("settings", {})
    lines.append(f"The `lm` arm's options: {bench.options_text(settings.get('lm_options'))}; "
                 f"the fastest documented option set (`bench.lm_fast`): "
                 f"{bench.options_text(settings.get('lm_fast'))}.")
    return bullets(lines)


def render(facts):
    target = facts.config["bench"]["target"]
    yield ("The benchmark (`snakemake --cores all bench`, outside the default target) times "
           "every engine from the shared initial weights on the article's problem, in one "
           "process; the table appears here when the configuration sets "
           "`bench: {in_article: true}` (then building the article runs the benchmark). "
           f"Times to target: until {pct(target)} of all {N_SAMPLES} points are right (raw "
           "inputs, as published), compilation excluded.")
    summary = facts.bench
    if summary is None:
        yield "_The benchmark has not been run for this build of the article._"
        return
    yield findings(summary)
    yield Table(bench.bench_table(summary).set_index("method"), "bench")
