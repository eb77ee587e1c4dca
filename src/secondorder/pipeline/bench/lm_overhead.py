"""The LM loop's overhead: the study's LM job per fit-iteration against its floor.

The study's LM job (:func:`secondorder.pipeline.study.train_block`) trains the ``lm``
arm, with the study's Jacobian (``study.lm_jacobian``: closed form), from
``study.n_inits`` initial weights in one batch on the raw inputs. :func:`lm_overhead`
runs that job as the study does (every option the arm's, but ``max_iter``) and
reports seconds per fit-iteration: the batch's compute (``batch_wall_s``, compilation
and callbacks excluded) over the iterations its fits ran.

The floor (:func:`floor_per_iteration`) is what one such iteration cannot avoid: the
residuals at a point, the Jacobian there (the closed-form provider reuses the forward
pass the residuals made, as the loop's does at an accepted point), ``J^T r``, ``J^T J``
by BLAS ``dsyrk`` and one Cholesky factorisation and solve of the damped ``n x n``
system (LAPACK ``dpotrf``, ``dpotrs``), timed in a tight loop over the same initial
weights (another point at each call, so that no forward pass is reused across
points). ``ratio`` is the loop's time over the floor's: what the loop adds (the trial
point's validation SSQ, the damping rule, the tests, numpy's bookkeeping), and the
Jacobian the floor counts at every iteration though the loop evaluates it only where
a step is taken.

Run it as ``python -m secondorder.pipeline.bench.lm_overhead`` (JSON on stdout). To
compare two versions of the code in one session, interleaved, give each version's
``src`` folder: ``python -m secondorder.pipeline.bench.lm_overhead --src A --src B
--rounds 3`` runs this file's code in a fresh process per measurement with
``PYTHONPATH`` set to each folder in turn (it uses only the study's public functions,
so it runs against an older checkout too). Times are only comparable on a quiet machine with
the BLAS threads fixed (``OPENBLAS_NUM_THREADS``, as the workflow's jobs set them).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np


def study_lm_arm(config: dict) -> dict:
    """The ``lm`` arm as the study trains it (:func:`secondorder.pipeline.study.study_arm`)."""
    from secondorder.pipeline.study import study_arm

    return study_arm(config["arms"]["lm"], config["study"])


def loop_per_iteration(arm: dict, problem, seeds, *, low: float, high: float) -> dict:
    """Train ``arm`` from ``seeds`` as the study's job does; ``fit_iterations`` (summed
    over the fits) and ``loop_s`` (the batch's compute per fit-iteration)."""
    from secondorder.pipeline.study import train_block
    from secondorder.problem.model import ARTICLE

    fits = train_block(arm, problem, seeds, ARTICLE, low=low, high=high)
    failed = [fit for fit in fits if isinstance(fit, Exception)]
    if failed:
        raise failed[0]
    iterations = sum(fit.iterations for fit in fits)
    return {"fit_iterations": iterations,
            "loop_s": fits[0].batch_wall_s / max(iterations, 1)}


def floor_per_iteration(problem, W, mu: float, *, repeats: int) -> float:
    """Seconds of one iteration's unavoidable products (see the module text) at the
    rows of ``W``, one point after the other: the median over ``repeats`` passes over
    the rows, per row."""
    from scipy.linalg.lapack import dpotrf, dpotrs

    from secondorder.optim.lm.linalg import gram
    from secondorder.optim.lm_network import mlp_residuals_numpy
    from secondorder.problem.model import ARTICLE

    residuals, jacobian, _ = mlp_residuals_numpy(problem, ARTICLE)

    def products(w):
        r = residuals(w)
        jac = jacobian(w)
        matrix = gram(jac)
        matrix[np.diag_indices_from(matrix)] += mu
        factor, _ = dpotrf(matrix, lower=0, clean=0, overwrite_a=1)
        return dpotrs(factor, jac.T @ r, lower=0)[0]

    products(W[0])  # first calls: BLAS threads, workspace
    passes = []
    for _ in range(max(int(repeats), 1)):
        tic = time.perf_counter()
        for w in W:
            products(w)
        passes.append((time.perf_counter() - tic) / len(W))
    return statistics.median(passes)


def lm_overhead(config: dict, *, max_iter: int | None = None, n_inits: int | None = None,
                repeats: int = 3) -> dict:
    """The study's LM job (``config``'s ``lm`` arm, the study's Jacobian and number of
    initial weights, the raw inputs) and its floor: ``fits``, ``fit_iterations``,
    ``loop_s`` and ``floor_s`` (seconds per fit-iteration) and ``ratio``.
    ``max_iter`` (default: the arm's) and ``n_inits`` (default: the study's) make it
    shorter; ``repeats`` passes time the floor."""
    from secondorder.pipeline.bench.scoring import article_problems
    from secondorder.problem.model import ARTICLE, init_weights

    arm = study_lm_arm(config)
    if max_iter is not None:
        arm = {**arm, "max_iter": int(max_iter)}
    seeds = list(range(1, 1 + (n_inits or config["study"]["n_inits"])))
    low, high = config["init"]["low"], config["init"]["high"]
    problem = article_problems()[0]
    loop = loop_per_iteration(arm, problem, seeds, low=low, high=high)
    W = np.stack([init_weights(s, ARTICLE, low, high) for s in seeds])
    floor = floor_per_iteration(problem, W, arm["mu0"], repeats=repeats)
    return {"fits": len(seeds), "max_iter": arm["max_iter"],
            "damping": arm["damping"], "jacobian": arm["jacobian"], **loop,
            "floor_s": floor, "ratio": loop["loop_s"] / floor}


def interleaved(sources, *, rounds: int, args: list[str]) -> list[dict]:
    """:func:`lm_overhead` of each ``src`` folder in turn, ``rounds`` times, each in a
    fresh process running this file's code (read from stdin) with ``PYTHONPATH`` set to
    that folder: one dict per measurement, with its ``src`` and ``round``."""
    with open(__file__, encoding="utf-8") as fh:
        code = fh.read()
    rows = []
    for round_ in range(rounds):
        for src in sources:
            env = {**os.environ, "PYTHONPATH": os.path.abspath(src)}
            out = subprocess.run([sys.executable, "-", *args], input=code, env=env,
                                 check=True, capture_output=True, text=True)
            rows.append({"src": src, "round": round_, **json.loads(out.stdout)})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--max-iter", type=int, default=None,
                        help="iterations of each fit at most (default: the arm's)")
    parser.add_argument("--inits", type=int, default=None,
                        help="initial weights (default: the study's n_inits)")
    parser.add_argument("--repeats", type=int, default=3, help="passes timing the floor")
    parser.add_argument("--src", action="append", default=[],
                        help="a src folder to measure (repeat to compare, interleaved)")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    if args.src:
        own = ["--config", args.config, "--repeats", str(args.repeats)]
        own += [] if args.max_iter is None else ["--max-iter", str(args.max_iter)]
        own += [] if args.inits is None else ["--inits", str(args.inits)]
        print(json.dumps(interleaved(args.src, rounds=args.rounds, args=own), indent=1))
        return
    from secondorder.config import load

    print(json.dumps(lm_overhead(load(args.config), max_iter=args.max_iter,
                                 n_inits=args.inits, repeats=args.repeats)))


if __name__ == "__main__":
    main()
