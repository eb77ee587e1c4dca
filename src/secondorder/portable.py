"""What a run promises to compute bit for bit on every machine, and the portable hash that
checks it against a published reference.

**The promise.** On any x86-64 Linux machine whose CPU has AVX2 and FMA, computing on
that CPU (a GPU is outside the promise), with the pinned versions
(``requirements/pins.txt``) and the portable numerics on (the default,
:mod:`secondorder.numerics`), a run of a given config gives every *portable artifact* the
same portable hash as the published reference of that config
(``reference/portable-hashes/<config>.json``, :data:`REFERENCES`):

* the data (``results/data/``: spirals, split, scaler, scaled inputs) and the shared
  initial weights (``results/init/``);
* every fit of the article (``results/fits/<arm>/``: weights, history, ``fit.json``) and
  its scores (``results/eval/``);
* the study (``results/study/``: every fit's row, thinned history and weights) and the
  tables built from the fits (``results/summary/fits.csv``, ``robustness.csv``,
  ``rounding.csv``);

each apart from the columns and keys that hold times or host facts
(:data:`NON_PORTABLE_FIELDS`). So the article's numbers apart from its times are the
same everywhere, since it reads them from those files. **Not promised**
(:data:`NOT_PORTABLE`, each with its reason): times and host facts (the provenance
records, the manifest, ``fit.json``'s environment), the cost study and the benchmark
(times and memory), the suite (its fits stop at a time cap), and the article's own
files (they show times, and the run's date). A CPU without AVX2 and FMA, a machine that
holds its own ``OPENBLAS_CORETYPE``, or a run with ``numerics: {portable: false}``
computes on other code paths; its jobs' records say so (``numerics.portable`` false, with
the reason), and ``secondorder audit compare`` names the differing kernel or setting.

**The portable hash** of an artifact (:func:`portable_hash`): for ``.csv`` the sha256 of
its text with the :data:`NON_PORTABLE_FIELDS` columns removed (the cells as written, rows
in file order, ``,`` and ``\\n``); for ``.json`` the sha256 of its content with those
keys removed at any depth, serialised with sorted keys and no spaces (``json.dumps``,
which writes each float's shortest exact repr); for any other file (``.npy``) the sha256
of its bytes. The lists below are the one declaration of what is portable.
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import io as _io
import json
from pathlib import Path

from secondorder import io

#: Artifacts not promised to be the same on another machine, by pattern (``fnmatch`` on
#: the path as the workflow writes it, ``results/...``), with the reason.
NOT_PORTABLE = {
    "results/provenance/*": "each job's host, times, library versions and git state",
    "results/audit/*": "the manifest gathers the provenance records; portable.json is "
                       "the comparison with the reference itself",
    "results/summary/scaling.csv": "the cost study: milliseconds and peak memory",
    "results/bench/*": "the speed benchmark: times",
    "results/suite/*": "the suite's fits stop at a time cap (suite.scopes.<scope>.cap_s), "
                       "so what they compute depends on the machine's speed",
    "results/article/*": "the article and its figures show times and the run's date",
    "results/report.html": "Snakemake's report: times and the run's date",
}

#: Columns (CSV) and keys (JSON, at any depth) that hold times or host facts: removed
#: before the portable hash. Times: a fit's own compute (``time_s``), its batch's
#: (``batch_wall_s``, ``compile_s``), a job's start and end; host facts: the device,
#: versions, git state, host name, scheduler ids and the numerics record.
NON_PORTABLE_FIELDS = (
    "time_s", "batch_wall_s", "compile_s", "median_time_s", "median_batch_wall_s",
    "started", "finished", "created",
    "device", "versions", "package", "host", "git", "slurm_job_id", "slurm_node",
    "numerics",
)

#: A machine's own BLAS settings (never overridden): part of what a run was made with.
MACHINE_BLAS_SETTINGS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

#: The committed references (``secondorder audit reference``), by the config they hold.
REFERENCES = {
    "default": "reference/portable-hashes/default.json",
    "test": "reference/portable-hashes/test.json",
}


def not_portable(path: str) -> str | None:
    """Why ``path`` (``results/...``) is not promised, None when it is portable."""
    path = str(path)
    return next((why for pattern, why in NOT_PORTABLE.items()
                 if fnmatch.fnmatch(path, pattern)), None)


def _drop_fields(obj):
    if isinstance(obj, dict):
        return {k: _drop_fields(v) for k, v in obj.items() if k not in NON_PORTABLE_FIELDS}
    if isinstance(obj, list):
        return [_drop_fields(v) for v in obj]
    return obj


def canonical_bytes(path) -> bytes:
    """The bytes the portable hash is taken of (module docstring)."""
    path = Path(path)
    if path.suffix == ".json":
        content = _drop_fields(io.read_json(path))
        return json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
    if path.suffix == ".csv":
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        if not rows:
            return b""
        keep = [i for i, name in enumerate(rows[0]) if name not in NON_PORTABLE_FIELDS]
        out = _io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for row in rows:
            writer.writerow([row[i] for i in keep if i < len(row)])
        return out.getvalue().encode()
    return path.read_bytes()


def portable_hash(path) -> str:
    """sha256 of :func:`canonical_bytes`: equal on every machine the promise covers."""
    return hashlib.sha256(canonical_bytes(path)).hexdigest()


def artifacts(results_dir) -> list[str]:
    """The portable artifacts under ``results_dir``, as ``results/...`` paths (the way
    the workflow names them), sorted; hidden temporaries skipped."""
    results_dir = Path(results_dir)
    found = []
    for p in results_dir.rglob("*"):
        if p.is_file() and not p.name.startswith("."):
            name = "results/" + p.relative_to(results_dir).as_posix()
            if not_portable(name) is None:
                found.append(name)
    return sorted(found)


def hashes(results_dir) -> dict[str, str]:
    """``{artifact: portable hash}`` of every portable artifact under ``results_dir``."""
    base = Path(results_dir).parent
    return {name: portable_hash(base / name) for name in artifacts(results_dir)}


# --- the machine a run was made on -------------------------------------------------------------

def made_with(results_dir) -> dict:
    """What the run under ``results_dir`` computed with, from its provenance records:
    the CPU, each OpenBLAS's kernel family, numpy's exp target, the numerics mode, the
    settings requested, the machine's own BLAS settings, the pins and the commit; and
    how many of its jobs judged themselves portable (``numerics.portable``, with the
    reasons of those that did not)."""
    records = [io.read_json(p) for p in sorted(Path(results_dir, "provenance").rglob("*.json"))]
    numerics = [r["numerics"] for r in records if "numerics" in r]
    kernels = sorted({f"{lib['library']}: {lib['architecture']}" for n in numerics
                      for lib in n["chosen"]["openblas"]})
    why = sorted({w for n in numerics if not n["portable"] for w in n["why"]})
    first = numerics[0] if numerics else {}
    commits = sorted({(r.get("git") or {}).get("commit") or "unknown" for r in records})
    return {
        "cpu": sorted({f"{n['chosen']['cpu']['model']} ("
                       f"{'AVX-512' if n['chosen']['cpu'].get('avx512f') else 'no AVX-512'}, "
                       f"{n['chosen']['cpu'].get('libc')})" for n in numerics}),
        "openblas": kernels,
        "numpy_exp": sorted({n["chosen"]["numpy"]["exp"] for n in numerics}),
        "mode": sorted({n["mode"] for n in numerics}),
        "requested": first.get("requested", {}),
        "blas_settings": {v: first.get("held", {})[v] for v in MACHINE_BLAS_SETTINGS
                          if v in first.get("held", {})},
        "pins_sha256": sorted({(r.get("package") or {}).get("pins_sha256") or "unknown"
                               for r in records}),
        "commit": commits,
        "jobs": len(records), "jobs_portable": sum(n["portable"] for n in numerics),
        "not_portable_because": why,
    }


def reference(results_dir) -> dict:
    """A reference for ``results_dir``'s run (``secondorder audit reference``): its
    portable hashes, what it was made with, and the declared lists it was made under."""
    return {"about": "portable hashes of a run's artifacts (secondorder.portable); "
                     "check a run against them with `secondorder audit compare`",
            "made_with": made_with(results_dir),
            "not_portable": NOT_PORTABLE, "non_portable_fields": list(NON_PORTABLE_FIELDS),
            "artifacts": hashes(results_dir)}


#: What :func:`compare` says about each artifact of the reference.
IDENTICAL, DIFFERENT, MISSING = "identical", "different", "missing"


def settings_differ(run: dict, ref: dict) -> list[str]:
    """The ways the run's code paths differ from the reference's (its BLAS kernels, the
    numerics mode, the machine's BLAS settings, pins, and the reasons its jobs gave for
    not being portable: another glibc, a canary with other bits): where these differ,
    differences are expected."""
    out = []
    labels = {"openblas": "OpenBLAS kernels", "mode": "numerics mode",
              "blas_settings": "the machine's own BLAS settings",
              "pins_sha256": "pins (sha256)", "numpy_exp": "numpy's exp target",
              "not_portable_because": "why jobs said they are not portable"}
    for key, label in labels.items():
        if run.get(key) != ref.get(key):
            out.append(f"{label}: this run {run.get(key)!r}, the reference "
                       f"{ref.get(key)!r}")
    return out


def compare(results_dir, reference_json) -> dict:
    """Each artifact of the reference ``identical``, ``different`` or ``missing`` in
    ``results_dir``, portable artifacts of the run the reference does not list
    (``extra``: another config), the counts, and :func:`settings_differ`."""
    ref = io.read_json(reference_json)
    base = Path(results_dir).parent
    status = {}
    for name, digest in sorted(ref["artifacts"].items()):
        path = base / name
        status[name] = (MISSING if not path.is_file() else
                        IDENTICAL if portable_hash(path) == digest else DIFFERENT)
    extra = [a for a in artifacts(results_dir) if a not in ref["artifacts"]]
    counts = {s: sum(v == s for v in status.values()) for s in (IDENTICAL, DIFFERENT,
                                                                  MISSING)}
    return {"reference": str(reference_json), "artifacts": status, "extra": extra,
            **counts, "compared": len(status),
            "settings_differ": settings_differ(made_with(results_dir), ref["made_with"]),
            "run": made_with(results_dir), "reference_made_with": ref["made_with"]}


def summary_line(result: dict) -> str:
    """One sentence: how many of the reference's artifacts this run matches."""
    return (f"{result[IDENTICAL]} of {result['compared']} portable artifacts identical to "
            f"the reference ({result['reference']}), {result[DIFFERENT]} different, "
            f"{result[MISSING]} missing")


def main_compare(results_dir, reference_json) -> int:
    """``secondorder audit compare``: print each artifact's status; exit 1 on any
    difference or missing artifact, saying where the run's code paths differ from the
    reference's."""
    result = compare(results_dir, reference_json)
    for name, state in result["artifacts"].items():
        print(f"{state:9}  {name}")
    for name in result["extra"]:
        print(f"{'extra':9}  {name} (portable, not in the reference: another config?)")
    print(summary_line(result))
    for line in result["settings_differ"]:
        print(f"note: {line}")
    if result["settings_differ"] and (result[DIFFERENT] or result[MISSING]):
        print("note: this run computed on other code paths than the reference's, so "
              "differences there are expected, not a broken promise")
    return 1 if result[DIFFERENT] or result[MISSING] else 0


def write_comparison(results_dir, reference_json, out_json) -> dict:
    """``results/audit/portable.json``: :func:`compare` with the reference, or, without
    one (``numerics.reference: null``), the run's portable hashes alone; with the counts
    and a ``sentence`` for the article."""
    if reference_json is None:
        result = {"reference": None, "compared": 0, IDENTICAL: 0, DIFFERENT: 0,
                  MISSING: 0, "settings_differ": [], "run": made_with(results_dir),
                  "artifacts": {}, "extra": artifacts(results_dir),
                  "sentence": "no published reference for this config"}
    else:
        result = compare(results_dir, reference_json)
        result["sentence"] = summary_line(result)
    io.write_json(out_json, result)
    return result
