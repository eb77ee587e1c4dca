"""What the portable numerics cost (:mod:`secondorder.numerics`), measured so that it can be
rerun on a quiet machine.

``python -m secondorder.pipeline.numerics_cost gram`` times ``J^T J`` (the product of
our LM's every iteration that sums the most terms) by BLAS ``dsyrk``, whose bits depend
on OpenBLAS's kernel family, beside two sums whose bits cannot (they call no BLAS):
numpy's ``einsum`` without BLAS and an explicit sum over the rows of ``J``'s outer
products in blocks; at the article's size (400 training rows x 2 outputs by 127 weights)
and the tiny config's (80 x 2 by 27).

``python -m secondorder.pipeline.numerics_cost workflow [--what bench scaling default]``
runs the workflow's targets twice in fresh directories, with the portable numerics (the
default) and with ``numerics: {portable: false}``, one mode after the other and
alternating which goes first on each repeat, and prints the wall time of each run, the
bench's own per-iteration and per-epoch times, and the cost study's milliseconds per LM
iteration and Adam epoch, side by side (JSON with ``--out``). ``default`` is the default
target's whole run: long (the study), so it is not in the default list.

Times from a loaded machine are not evidence; run it where nothing else runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]


# --- J^T J by BLAS or by fixed-order sums ------------------------------------------------------

def gram_dsyrk(jac: np.ndarray) -> np.ndarray:
    """``J^T J`` as our LM forms it (:func:`secondorder.optim.lm.linalg.gram`, upper
    triangle), mirrored to the full matrix."""
    from secondorder.optim.lm.linalg import gram

    upper = gram(jac)
    return np.triu(upper) + np.triu(upper, 1).T


def gram_einsum(jac: np.ndarray) -> np.ndarray:
    """``J^T J`` by numpy's ``einsum`` loops (``optimize=False``: no BLAS)."""
    return np.einsum("ki,kj->ij", jac, jac, optimize=False)


def gram_rows(jac: np.ndarray, block: int = 32) -> np.ndarray:
    """``J^T J`` as the sum over rows of ``J``'s outer products, in blocks of rows: numpy
    reduces the outer axis of a block slice after slice, in the rows' order, and adds
    the blocks in order, so each entry's sum has one order whatever the SIMD width."""
    n = jac.shape[1]
    out = np.zeros((n, n))
    for start in range(0, jac.shape[0], block):
        rows = jac[start:start + block]
        out += (rows[:, :, None] * rows[:, None, :]).sum(axis=0)
    return out


GRAMS = {"dsyrk": gram_dsyrk, "einsum": gram_einsum, "rows": gram_rows}


def time_call(fn, *args, repeats: int = 7, number: int | None = None) -> float:
    """Median seconds per call over ``repeats`` timings of ``number`` calls."""
    fn(*args)
    if number is None:
        t0 = time.perf_counter()
        fn(*args)
        number = max(1, int(0.05 / max(time.perf_counter() - t0, 1e-7)))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn(*args)
        times.append((time.perf_counter() - t0) / number)
    return float(np.median(times))


def gram_costs(sizes=((800, 127), (160, 27)), seed: int = 0) -> list[dict]:
    """Per size: microseconds per ``J^T J`` of each way, and each way's largest
    difference from ``dsyrk`` in units of the largest entry."""
    rng = np.random.default_rng(seed)
    rows = []
    for m, n in sizes:
        jac = rng.normal(size=(m, n))
        ref = gram_dsyrk(jac)
        for name, fn in GRAMS.items():
            rows.append({"rows": m, "weights": n, "way": name,
                         "us_per_call": 1e6 * time_call(fn, jac),
                         "max_rel_diff": float(np.max(np.abs(fn(jac) - ref))
                                               / np.max(np.abs(ref)))})
    return rows


# --- the workflow, portable and opted out -------------------------------------------------------

TARGETS = {
    "bench": ["results/bench/summary.json"],
    "scaling": ["results/summary/scaling.csv"],
    "default": [],
}
MODES = {"portable": "numerics:\n  portable: true\n",
         "opt-out": "numerics:\n  portable: false\n"}


def run_mode(what: str, mode: str, configs, cores: int, keep: Path | None) -> dict:
    """One run of ``what`` in a fresh directory with ``mode``'s numerics: its wall time
    and what its bench or cost-study table says."""
    workdir = Path(tempfile.mkdtemp(prefix=f"numerics-{what}-{mode}-"))
    overlay = workdir / "numerics.yaml"
    overlay.write_text(MODES[mode] + "  reference: null\n")
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory",
           str(workdir), "--cores", str(cores), "--configfile", *map(str, configs),
           str(overlay), "--", *TARGETS[what]]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"{what} ({mode}) failed:\n{proc.stderr[-3000:]}")
    out = {"what": what, "mode": mode, "wall_s": wall}
    results = workdir / "results"
    if what == "bench":
        out["bench"] = json.loads((results / "bench" / "summary.json").read_text())
    if what == "scaling":
        import pandas as pd

        out["scaling"] = pd.read_csv(results / "summary" / "scaling.csv").to_dict("records")
    if keep is not None:
        shutil.copytree(results, keep / f"{what}-{mode}")
    shutil.rmtree(workdir, ignore_errors=True)
    return out


def workflow_costs(what=("bench", "scaling"), configs=None, cores: int = 2,
                   repeats: int = 1, keep: Path | None = None) -> list[dict]:
    """:func:`run_mode` for each target and mode, ``repeats`` times, alternating which
    mode runs first."""
    configs = configs or [ROOT / "config" / "config.yaml"]
    runs = []
    for r in range(repeats):
        for target in what:
            order = list(MODES) if r % 2 == 0 else list(MODES)[::-1]
            for mode in order:
                runs.append({"repeat": r, **run_mode(target, mode, configs, cores, keep)})
    return runs


def side_by_side(runs: list[dict]) -> list[str]:
    """Lines of text: each target's wall time and its own timings, portable beside
    opted out."""
    lines = []
    for target in dict.fromkeys(r["what"] for r in runs):
        by_mode = {m: [r for r in runs if r["what"] == target and r["mode"] == m]
                   for m in MODES}
        walls = {m: np.median([r["wall_s"] for r in rs]) for m, rs in by_mode.items()}
        lines.append(f"{target}: wall {walls['portable']:.1f} s portable, "
                     f"{walls['opt-out']:.1f} s opted out "
                     f"({walls['portable'] / walls['opt-out']:.2f}x)")
        if target == "scaling":
            for row_p, row_o in zip(by_mode["portable"][0]["scaling"],
                                    by_mode["opt-out"][0]["scaling"]):
                lines.append(f"  hidden {row_p['hidden']} {row_p['engine']}: "
                             f"{row_p['ms_per_iter']:.3g} ms per iteration portable, "
                             f"{row_o['ms_per_iter']:.3g} opted out; peak memory "
                             f"{row_p['peak_mem_mb']:.3g} / {row_o['peak_mem_mb']:.3g} MB")
        if target == "bench":
            p, o = by_mode["portable"][0]["bench"], by_mode["opt-out"][0]["bench"]
            for key in sorted(set(p) & set(o)):
                if isinstance(p[key], (int, float)) and key.endswith(("_s", "_ms")):
                    lines.append(f"  {key}: {p[key]:.4g} portable, {o[key]:.4g} opted out")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("gram", help="J^T J by dsyrk and by BLAS-free sums")
    wf = sub.add_parser("workflow", help="the workflow's targets, portable and opted out")
    wf.add_argument("--what", nargs="+", default=["bench", "scaling"], choices=list(TARGETS))
    wf.add_argument("--configfile", nargs="+", default=None)
    wf.add_argument("--cores", type=int, default=2)
    wf.add_argument("--repeats", type=int, default=1)
    wf.add_argument("--out", help="write every run's numbers as JSON")
    args = parser.parse_args(argv)
    if args.command == "gram":
        for row in gram_costs():
            print(f"{row['rows']}x{row['weights']} {row['way']:7} {row['us_per_call']:9.1f} "
                  f"us/call, max relative difference from dsyrk {row['max_rel_diff']:.1e}")
        return 0
    runs = workflow_costs(args.what, args.configfile, args.cores, args.repeats)
    if args.out:
        Path(args.out).write_text(json.dumps(runs, indent=2, default=str))
    print("\n".join(side_by_side(runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
