"""Provenance of every artifact, the manifest that gathers it, and ``audit verify``.

Each pipeline job writes one provenance record (``results/provenance/<rule>[/<wildcards>].json``)
when it has written its outputs: the sha256 of every output and input, the rule, its
wildcards and params (the config values it used), library versions, git commit and
whether the tree was dirty, host, SLURM job id when there is one, start and end times,
the numerics it computed with (``numerics``: checked at the job's start,
:mod:`secondorder.numerics`), and for a job that computed with TensorFlow (it trains:
``threads`` given to :func:`job`) the device it computed on; the other jobs claim none.
The ``audit`` rule gathers the records into ``results/audit/manifest.json``, with the
comparison of the run's portable artifacts against the published reference
(``results/audit/portable.json``, :mod:`secondorder.portable`).

``secondorder audit verify [results-dir]`` recomputes every hash and reports each
artifact that is **missing**, **changed** (its bytes differ from what its job wrote),
or **stale** (one of the inputs it was produced from has changed since). It reads only.
``secondorder audit compare [results-dir] [--reference FILE]`` names each portable
artifact identical to the published reference, different or missing
(:func:`secondorder.portable.main_compare`); ``secondorder audit reference`` writes a
reference from a run (:func:`secondorder.portable.reference`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

from secondorder import io, provenance

log = logging.getLogger(__name__)

MANIFEST = Path("audit") / "manifest.json"


def _files(path) -> list[Path]:
    """A file, or every file under a directory (sorted), skipping hidden temporaries."""
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    return [path]


def hashes(paths) -> dict[str, str]:
    """``{path: sha256}`` for each file (directories expanded)."""
    return {str(f): io.sha256(f) for p in paths for f in _files(p)}


def record(*, rule, wildcards, params, inputs, outputs, started, finished,
           with_device=False) -> dict:
    """One job's provenance record (see the module docstring); ``with_device`` for a
    job that computed with TensorFlow."""
    return {"rule": rule, "wildcards": wildcards, "params": params,
            "inputs": hashes(inputs), "outputs": hashes(outputs),
            "started": started, "finished": finished,
            **provenance.environment(with_device=with_device)}


@contextlib.contextmanager
def job(smk, threads: int | None = None):
    """Run a Snakemake script's body: log to its log file and on success write the job's
    provenance record to ``smk.output.provenance`` (written last, atomically; nothing on
    failure).

    ``threads`` marks a job that computes with TensorFlow (one that trains): its thread
    pools are pinned to ``threads`` and its record names the device it computed on
    (:func:`secondorder.provenance.device`). Without ``threads`` the job never imports
    TensorFlow (seconds of start-up) and its record claims no device.

    First it deletes the temporaries a killed earlier attempt of this job left beside
    its outputs (:func:`secondorder.io.remove_stale_temporaries`): Snakemake deletes
    the outputs of an incomplete job before rerunning it, not their temporaries."""
    from secondorder.pipeline.stages import start

    start(smk.log[0], threads)
    removed = io.remove_stale_temporaries(list(smk.output))
    if removed:
        log.warning("removed %d temporary file(s) left by an interrupted earlier run: %s",
                    len(removed), ", ".join(map(str, removed)))
    started = provenance.now()
    t0 = time.perf_counter()
    try:
        yield
    except BaseException:
        log.exception("%s failed", smk.rule)
        raise
    outputs = [p for p in smk.output if p != smk.output.provenance]
    rec = record(rule=smk.rule, wildcards=dict(smk.wildcards.items()),
                 params=dict(smk.params.items()), inputs=list(smk.input),
                 outputs=outputs, started=started, finished=provenance.now(),
                 with_device=bool(threads))
    io.write_json(smk.output.provenance, rec)
    log.info("%s done in %.1f s; provenance in %s", smk.rule, time.perf_counter() - t0,
             smk.output.provenance)


# --- manifest ----------------------------------------------------------------------------

def build_manifest(record_paths, out_json, portable_json=None) -> dict:
    """Gather provenance records into one manifest (artifacts sorted by path); with
    ``portable_json`` (``results/audit/portable.json``, :func:`secondorder.portable.
    write_comparison`) also the comparison with the published reference: its counts
    and the run's code paths where they differ from the reference's."""
    records = [io.read_json(p) for p in sorted(map(str, record_paths))]
    artifacts = {}
    for rec, path in zip(records, sorted(map(str, record_paths))):
        for out, digest in rec["outputs"].items():
            artifacts[out] = {"sha256": digest, "rule": rec["rule"],
                              "wildcards": rec["wildcards"], "record": path}
    manifest = {"created": provenance.now(), "records": records,
                "artifacts": dict(sorted(artifacts.items()))}
    if portable_json is not None:
        comparison = io.read_json(portable_json)
        manifest["portable"] = {k: comparison.get(k) for k in (
            "reference", "sentence", "compared", "identical", "different", "missing",
            "settings_differ")}
    io.write_json(out_json, manifest)
    return manifest


def table(records) -> list[dict]:
    """A human table: one row per artifact with its rule, hash and the job's context
    (``device`` empty for a job that did not compute with TensorFlow)."""
    rows = []
    for rec in sorted(records, key=lambda r: min(r["outputs"]) if r["outputs"] else ""):
        for out, digest in rec["outputs"].items():
            rows.append({"artifact": out, "sha256": digest[:12], "rule": rec["rule"],
                         "inputs": len(rec["inputs"]),
                         "commit": (rec["git"]["commit"] or "")[:10]
                         + ("+dirty" if rec["git"]["dirty"] else ""),
                         "device": rec.get("device", {}).get("type", ""),
                         "finished": rec["finished"]})
    return rows


# --- verify ------------------------------------------------------------------------------

def verify(results_dir="results") -> list[str]:
    """Problems found in ``results_dir`` against its manifest, one line each
    (empty when everything is as produced). Paths in the manifest are relative to the
    directory the workflow ran in, the parent of ``results_dir``."""
    results_dir = Path(results_dir)
    manifest_path = results_dir / MANIFEST
    if not manifest_path.is_file():
        return [f"missing: {manifest_path} (run the pipeline's audit rule first)"]
    manifest = io.read_json(manifest_path)
    base = results_dir.resolve().parent
    problems = []
    current: dict[str, str | None] = {}

    def digest(path):
        if path not in current:
            full = base / path
            current[path] = io.sha256(full) if full.is_file() else None
        return current[path]

    for path, art in manifest["artifacts"].items():
        now = digest(path)
        if now is None:
            problems.append(f"missing: {path}")
        elif now != art["sha256"]:
            problems.append(f"changed: {path} (sha256 {now[:12]} != recorded "
                            f"{art['sha256'][:12]})")
    for rec in manifest["records"]:
        stale_inputs = [p for p, d in rec["inputs"].items() if digest(p) not in (d,)]
        for out in rec["outputs"]:
            if stale_inputs and digest(out) is not None:
                problems.append(f"stale: {out} was produced from inputs that changed or "
                                f"disappeared since: {', '.join(stale_inputs)}")
    return problems


def main_verify(results_dir) -> int:
    problems = verify(results_dir)
    if problems:
        print(f"audit verify: {len(problems)} problem(s) in {results_dir}:")
        for line in problems:
            print(f"  {line}")
        return 1
    manifest = io.read_json(Path(results_dir) / MANIFEST)
    print(f"audit verify: all {len(manifest['artifacts'])} artifacts in {results_dir} match "
          f"the manifest, and each was produced from the inputs recorded for it.")
    return 0

