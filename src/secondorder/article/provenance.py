"""Appendix: where every number comes from (the provenance of every artifact the page
was built from, whole, and the settings of each stage of the article's chain)."""

from __future__ import annotations

import pandas as pd

from secondorder import audit
from secondorder.article.facts import Unwritable, paragraph
from secondorder.article.page import Table, bullets
from secondorder.portable import DIFFERENT, IDENTICAL, MISSING, REFERENCES

HEADING = "Appendix: where every number comes from"


def chain(records: list[dict], ends) -> list[dict]:
    """The records of the jobs that made ``ends`` (paths) and of every job upstream of
    them, each after the jobs it read from (in ``records``' order where free), from
    the records' own inputs and outputs."""
    maker = {out: rec for rec in records for out in rec["outputs"]}
    ordered, seen = [], set()

    def visit(rec):
        if id(rec) in seen:
            return
        seen.add(id(rec))
        for path in rec["inputs"]:
            if path in maker:
                visit(maker[path])
        ordered.append(rec)

    for path in ends:
        if path in maker:
            visit(maker[path])
    return ordered


def settings_chain(facts) -> str:
    """Markdown: the settings each job used, traced from the generator to the article's
    predictions, then the job that gathered the fits' table."""
    a = facts.artifacts
    records = facts.records
    maker = {out: rec for rec in records for out in rec["outputs"]}
    upstream = chain(records, a.predictions_csvs)
    summary = maker.get(a.fits_csv)
    if summary is not None and summary not in upstream:
        upstream.append(summary)
    lines = []
    for rec in upstream:
        name = rec["rule"] + "".join(f" `{v}`" for v in rec["wildcards"].values())
        params = ", ".join(f"{k}={v}" for k, v in rec["params"].items()) or "none"
        lines.append(f"**{name}** — params: {params}")
    return bullets(lines)


def reference_name(path: str) -> str:
    """A reference's path as the repository names it
    (:data:`secondorder.portable.REFERENCES`), not the absolute path the workflow used."""
    return next((ref for ref in REFERENCES.values() if str(path).endswith(ref)), str(path))


def same_bits(portable: dict | None) -> str:
    """How many of the published reference's portable artifacts this run reproduced bit
    for bit (``results/audit/portable.json``), and where its code paths differ."""
    if portable is None:
        raise Unwritable("this run compared nothing with a published reference "
                         "(no `results/audit/portable.json`)")
    if portable["reference"] is None:
        return ("**Same bits elsewhere.** This config has no published reference of "
                "portable hashes (`numerics.reference`), so this run was compared with "
                "none.")
    return (f"**Same bits elsewhere.** Of the {portable['compared']} portable artifacts of "
            f"the published reference (`{reference_name(portable['reference'])}`), "
            f"{portable[IDENTICAL]} are identical in this run, {portable[DIFFERENT]} "
            f"different and {portable[MISSING]} missing (portable: the data, the shared "
            "initial weights, every fit and score and the tables built from them, times "
            "and host facts left out; `secondorder audit compare results` lists each)"
            + ("; this run computed on other code paths than the reference's: "
               + "; ".join(portable["settings_differ"]) if portable["settings_differ"]
               else "") + ".")


def render(facts):
    yield ("Each job of the pipeline recorded the sha256 of what it read and wrote, its "
           "settings, the library versions and the commit; the jobs that trained also "
           "recorded the device they computed on (the others name none). The table lists "
           "every artifact this page was built from, "
           f"{sum(len(r['outputs']) for r in facts.records)} of them from "
           f"{len(facts.records)} jobs; `results/audit/manifest.json` holds the full "
           "records, and `secondorder audit verify results` recomputes every hash and "
           "names any file that is missing, changed, or stale.")
    yield paragraph("This paragraph would compare the run with the published reference "
                    "of its config", lambda: same_bits(facts.portable))
    yield Table(pd.DataFrame(audit.table(facts.records)).set_index("artifact"), "provenance")
    yield "The settings of each stage, from the generator to the article's numbers:"
    yield settings_chain(facts)
