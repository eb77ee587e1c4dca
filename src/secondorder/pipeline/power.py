"""Power of the suite's verdict for a planned design, by simulation with the project's
own rule (:mod:`secondorder.pipeline.verdict`).

A *design*: ``problems`` problems, each split ``splits`` times, ``inits`` initial
weight draws per split, LM and ``rivals`` rivals trained from every (split, init), in
``cells`` cells that form the primary family (``cells x rivals`` comparisons, Holm at
``alpha``). Synthetic outcomes (:func:`simulate`) carry what makes a benchmark's
fits dependent (Bouthillier et al. 2021):

* a *split* effect ``u_ps`` shared by every arm (an easy or a hard split);
* an *arm x split* interaction ``v_psa`` (symmetric, mean 0: the split happens to
  suit one arm), the term that makes the inits of a split a cluster;
* *init* noise per fit;
* a planted effect for LM: its mean outcome exceeds each rival's by ``effect``.

Two outcomes. :class:`BinaryOutcome`: success (the target met) with probability
``expit(mu + delta [arm = LM] + u_ps + v_psa)``, ``u ~ N(0, split_sd^2)``,
``v ~ N(0, interaction_sd^2)`` on the logit scale, ``mu`` and ``delta`` solved so that
the *marginal* success rates are ``base`` for a rival and ``base + effect`` for LM
(Gauss-Hermite quadrature of the logit-normal mean); the Bernoulli draw is the init
noise. :class:`ContinuousOutcome`: ``y = mean + effect [arm = LM] + u_ps + v_psa +
e_psia`` with normal terms, parameterised by the standard deviation of one pair's
difference ``sd_difference`` and its intraclass correlation ``icc`` at the split level:
``var(v) = icc sd^2 / 2``, ``var(e) = (1 - icc) sd^2 / 2`` (a pair's difference
``v_ps,LM - v_ps,r + e - e'`` then has variance ``sd^2``, of which a share ``icc`` is
shared by the inits of the split); a time-averaged success in [0, 1] is approximated
this way, unclipped.

:func:`power` runs the rule on ``reps`` simulated replicates at once (one set of sign
vectors for all, as the verdict uses one seed) and returns the rates of every word;
at ``effect = 0`` the rates of ``fails`` and ``holds`` are the rule's error rates.
:func:`power_table` tabulates power over designs and effects; :func:`planned_mde`
finds the effect at which power reaches a target (0.8), with common random numbers
across effects so that power is monotone in the effect.

References: X. Bouthillier et al. (2021), Accounting for variance in machine learning
benchmarks, MLSys. R. Agarwal et al. (2021), Deep reinforcement learning at the edge
of the statistical precipice, NeurIPS. S. Holm (1979), Scand. J. Stat. 6, 65-70.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special

from secondorder.pipeline import inference, verdict

#: Elements of one batch of flipped statistics (replicates x comparisons x sign vectors)
#: that :func:`power` holds in memory at once.
CHUNK = 4_000_000


@dataclass(frozen=True)
class Design:
    """A planned design: ``problems`` x ``splits`` x ``inits`` pairs per cell, LM and
    ``rivals`` rivals on each, ``cells`` cells in the primary family."""

    problems: int
    splits: int
    inits: int
    rivals: int = 3
    cells: int = 1

    def __post_init__(self):
        for name in ("problems", "splits", "inits", "rivals", "cells"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")

    @property
    def arms(self) -> tuple[str, ...]:
        """``lm`` then ``rival_1``, ``rival_2``, ..."""
        return ("lm",) + tuple(f"rival_{k + 1}" for k in range(self.rivals))

    @property
    def clusters(self) -> int:
        return self.problems * self.splits

    @property
    def pairs(self) -> int:
        return self.clusters * self.inits

    @property
    def family_size(self) -> int:
        return self.cells * self.rivals

    def label(self) -> str:
        return f"{self.problems} x {self.splits} x {self.inits}"


def _logit_normal_mean(location: float, sd: float) -> float:
    """``E[expit(location + sd Z)]``, ``Z ~ N(0, 1)``, by 64-point Gauss-Hermite."""
    nodes, weights = np.polynomial.hermite.hermgauss(64)
    return float(weights @ special.expit(location + math.sqrt(2.0) * sd * nodes)
                 / math.sqrt(math.pi))


def _logit_for_rate(rate: float, sd: float) -> float:
    """The location whose logit-normal mean with ``sd`` is ``rate``."""
    return optimize.brentq(lambda x: _logit_normal_mean(x, sd) - rate, -40.0, 40.0,
                           xtol=1e-12)


@dataclass(frozen=True)
class BinaryOutcome:
    """Success or not (higher is better): marginal success rate ``base`` for a rival,
    ``base + effect`` for LM; logit-scale split effect ``split_sd`` shared by the arms
    and arm x split interaction ``interaction_sd``."""

    base: float = 0.5
    split_sd: float = 1.0
    interaction_sd: float = 0.5
    higher_is_better = True

    def draw(self, rng, shape, effect: float) -> np.ndarray:
        """0/1 outcomes of ``shape`` (``(..., problems, splits, inits, arms)``, arm 0
        LM) drawn with ``rng``."""
        *lead, problems, splits, inits, arms = shape
        if not 0 < self.base < 1 or not 0 < self.base + effect < 1:
            raise ValueError(f"need 0 < base < 1 and 0 < base + effect < 1, got base "
                             f"{self.base!r}, effect {effect!r}")
        sd = math.hypot(self.split_sd, self.interaction_sd)
        mu = _logit_for_rate(self.base, sd)
        shift = np.zeros(arms)
        shift[0] = _logit_for_rate(self.base + effect, sd) - mu
        split = rng.normal(0.0, self.split_sd, (*lead, problems, splits, 1, 1))
        interaction = rng.normal(0.0, self.interaction_sd, (*lead, problems, splits, 1, arms))
        chance = special.expit(mu + shift + split + interaction)
        return (rng.random(shape) < chance).astype(float)


@dataclass(frozen=True)
class ContinuousOutcome:
    """A continuous outcome (higher is better): one pair's difference has standard
    deviation ``sd_difference``, a share ``icc`` of its variance at the split level;
    ``split_sd``: the split effect shared by the arms (it cancels in differences)."""

    sd_difference: float = 0.3
    icc: float = 0.3
    split_sd: float = 0.1
    mean: float = 0.5
    higher_is_better = True

    def draw(self, rng, shape, effect: float) -> np.ndarray:
        """Outcomes of ``shape`` (``(..., problems, splits, inits, arms)``, arm 0 LM)
        drawn with ``rng``."""
        *lead, problems, splits, inits, arms = shape
        if not 0 <= self.icc <= 1 or not self.sd_difference >= 0:
            raise ValueError(f"need 0 <= icc <= 1 and sd_difference >= 0, got {self.icc!r}, "
                             f"{self.sd_difference!r}")
        interaction_sd = self.sd_difference * math.sqrt(self.icc / 2.0)
        init_sd = self.sd_difference * math.sqrt((1.0 - self.icc) / 2.0)
        shift = np.zeros(arms)
        shift[0] = effect
        split = rng.normal(0.0, self.split_sd, (*lead, problems, splits, 1, 1))
        interaction = rng.normal(0.0, interaction_sd, (*lead, problems, splits, 1, arms))
        return self.mean + shift + split + interaction + rng.normal(0.0, init_sd, shape)


def simulate(design: Design, outcome, effect: float, reps: int, rng) -> np.ndarray:
    """Synthetic outcomes of ``reps`` replicates of ``design``: an array of shape
    ``(reps, cells, problems, splits, inits, arms)``, arm 0 being LM, every cell
    carrying the same planted ``effect`` (LM's mean minus each rival's)."""
    shape = (int(reps), design.cells, design.problems, design.splits, design.inits,
             len(design.arms))
    return outcome.draw(rng, shape, float(effect))


def simulate_outcomes(design: Design, outcome, effect: float, *,
                      seed: int = 0) -> pd.DataFrame:
    """One replicate of :func:`simulate` as the tidy table the verdict reads: one row
    per fit with ``cell`` (0, 1, ...), ``problem`` (``p0``, ...), ``size``
    (``planned``), ``split``, ``init``, ``arm`` and ``outcome``."""
    values = simulate(design, outcome, effect, 1, np.random.default_rng(seed))[0]
    index = pd.MultiIndex.from_product(
        [range(design.cells), [f"p{k}" for k in range(design.problems)], ["planned"],
         range(design.splits), range(design.inits), design.arms],
        names=["cell", "problem", "size", "split", "init", "arm"])
    return pd.DataFrame({"outcome": values.ravel()}, index=index).reset_index()


def judge(values: np.ndarray, *, higher_is_better: bool, rule: verdict.Rule) -> dict:
    """The rule on simulated outcomes ``(reps, cells, problems, splits, inits, arms)``
    (equal splits, so equal cluster weights): per replicate, every cell x rival is one
    primary family (:func:`verdict.judge_family`). Returns ``theta``, ``p``,
    ``word``, ``alpha_adjusted`` and ``mde`` of shape ``(reps, cells, rivals)`` and
    the cell words ``cell_word`` of shape ``(reps, cells)``."""
    reps, cells, problems, splits, _, arms = values.shape
    sign = 1.0 if higher_is_better else -1.0
    differences = sign * (values[..., :1] - values[..., 1:])
    means = differences.mean(axis=4)                     # reps, cells, P, S, rivals
    means = np.moveaxis(means, -1, 2).reshape(reps, cells, arms - 1, problems * splits)
    test = inference.SignFlip(means, np.full(problems * splits, 1.0 / (problems * splits)),
                              resamples=rule.resamples, seed=rule.seed)
    flat = (reps, cells * (arms - 1))
    judged = verdict.judge_family(test.theta.reshape(flat), test.p_value().reshape(flat),
                                  test.tost(rule.margin).reshape(flat), family="primary",
                                  rule=rule)
    shape = (reps, cells, arms - 1)
    level = judged["alpha_adjusted"].reshape(shape)
    words = judged["word"].reshape(shape)
    return {"theta": test.theta, "p": test.p_value(), "word": words,
            "alpha_adjusted": level, "mde": test.mde(level, rule.power),
            "cell_word": verdict.cell_words(words, axis=-1)}


def power(design: Design, outcome, effect: float, *, rule: verdict.Rule = verdict.Rule(),
          reps: int = 1000, seed: int = 0) -> dict:
    """The rule's behaviour on ``reps`` replicates of ``design`` with LM's planted
    ``effect`` (``np.random.default_rng(seed)``; the same seed gives the same noise
    at every effect).

    Returns the rate of each comparison word over every cell and rival (``better``:
    the power per comparison; ``worse``, ``equivalent``, ``cannot tell``), of each cell
    word (``holds``: every rival beaten; ``fails``, ``cell_equivalent``,
    ``cell_cannot_tell``), ``mc_se`` (the Monte-Carlo standard error of a rate
    ``r``: ``sqrt(r (1 - r) / n)`` with the largest, ``r = 0.5``, over replicates),
    ``mde`` (the median smallest detectable difference the rule states), ``reps`` and
    ``effect``."""
    rng = np.random.default_rng(seed)
    per_rep = design.family_size * min(int(rule.resamples), 2**design.clusters)
    chunk = max(1, CHUNK // per_rep)
    words, cell_words, mdes = [], [], []
    done = 0
    while done < reps:
        size = min(chunk, reps - done)
        values = simulate(design, outcome, effect, size, rng)
        result = judge(values, higher_is_better=outcome.higher_is_better, rule=rule)
        words.append(result["word"].ravel())
        cell_words.append(result["cell_word"].ravel())
        mdes.append(result["mde"].ravel())
        done += size
    words, cell_words = np.concatenate(words), np.concatenate(cell_words)
    out = {w: float(np.mean(words == w)) for w in verdict.WORDS}
    out.update({"holds": float(np.mean(cell_words == "holds")),
                "fails": float(np.mean(cell_words == "fails")),
                "cell_equivalent": float(np.mean(cell_words == "equivalent")),
                "cell_cannot_tell": float(np.mean(cell_words == "cannot tell"))})
    out.update({"mc_se": 0.5 / math.sqrt(reps), "mde": float(np.median(np.concatenate(mdes))),
                "reps": int(reps), "effect": float(effect)})
    return out


def planned_mde(design: Design, outcome, *, rule: verdict.Rule = verdict.Rule(),
                target: float = 0.8, reps: int = 400, seed: int = 0,
                upper: float | None = None, tol: float = 0.005) -> float:
    """The smallest planted effect at which simulated power per comparison
    (:func:`power`'s ``better``) reaches ``target``: bisection on ``[0, upper]`` to
    ``tol`` with the same seed at every effect. ``upper``: ``1 - base`` (less a hair)
    for a binary outcome, else 3 ``sd_difference``; ``inf`` when power at ``upper``
    stays below ``target``."""
    if upper is None:
        upper = (1.0 - outcome.base - 1e-6 if isinstance(outcome, BinaryOutcome)
                 else 3.0 * outcome.sd_difference)

    def reached(effect):
        return power(design, outcome, effect, rule=rule, reps=reps, seed=seed)["better"] >= target

    if not reached(upper):
        return math.inf
    low, high = 0.0, float(upper)
    while high - low > tol:
        middle = 0.5 * (low + high)
        low, high = (low, middle) if reached(middle) else (middle, high)
    return high


def power_table(designs: dict, outcome, effects, *, rule: verdict.Rule = verdict.Rule(),
                reps: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Power over designs (``{name: Design}``) and planted ``effects``: one row per
    design and effect with the design's numbers (``problems``, ``splits``, ``inits``,
    ``clusters``, ``pairs``, ``rivals``, ``cells``, ``family_size``), ``effect``,
    ``better`` (power per comparison), ``holds`` (every rival of a cell beaten),
    ``fails`` and ``mde`` (the median stated by the rule), and ``mc_se``."""
    rows = []
    for name, design in designs.items():
        for effect in effects:
            result = power(design, outcome, effect, rule=rule, reps=reps, seed=seed)
            rows.append({"design": name, "problems": design.problems,
                         "splits": design.splits, "inits": design.inits,
                         "clusters": design.clusters, "pairs": design.pairs,
                         "rivals": design.rivals, "cells": design.cells,
                         "family_size": design.family_size, "effect": float(effect),
                         **{k: result[k] for k in ("better", "holds", "fails", "mde",
                                                   "mc_se")}})
    return pd.DataFrame(rows)


def _design(text: str) -> tuple[str, tuple[int, int, int]]:
    name, _, shape = text.partition("=")
    try:
        problems, splits, inits = (int(v) for v in shape.lower().split("x"))
    except ValueError:
        raise ValueError(f"a design reads NAME=PROBLEMSxSPLITSxINITS, got {text!r}") from None
    return name, (problems, splits, inits)


def main(argv=None) -> pd.DataFrame:
    """``python -m secondorder.pipeline.power --design a=2x1x3 --design b=4x10x5 ...``:
    prints, per outcome, design and primary family (``cells`` x ``rivals``), the
    simulated power per comparison (``better``) and per cell (``holds``) at each
    effect, and the planned MDE (power 0.8 per comparison); returns the table."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--design", action="append", type=_design, required=True)
    parser.add_argument("--effects", type=float, nargs="+", default=[0.1, 0.15, 0.2, 0.3])
    parser.add_argument("--outcomes", nargs="+", choices=["binary", "continuous"],
                        default=["binary", "continuous"])
    parser.add_argument("--cells", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rivals", type=int, default=3)
    parser.add_argument("--base", type=float, default=0.5)
    parser.add_argument("--split-sd", type=float, default=1.0)
    parser.add_argument("--interaction-sd", type=float, default=0.5)
    parser.add_argument("--sd-difference", type=float, default=0.3)
    parser.add_argument("--icc", type=float, default=0.3)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--mde-reps", type=int, default=400)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rule = verdict.Rule(alpha=args.alpha, resamples=args.resamples, seed=args.seed)
    outcomes = {"binary": BinaryOutcome(args.base, args.split_sd, args.interaction_sd),
                "continuous": ContinuousOutcome(args.sd_difference, args.icc)}
    rows = []
    for kind in args.outcomes:
        for name, shape in args.design:
            for cells in args.cells:
                design = Design(*shape, rivals=args.rivals, cells=cells)
                table = power_table({name: design}, outcomes[kind], args.effects, rule=rule,
                                    reps=args.reps, seed=args.seed)
                row = {"outcome": kind, "design": f"{name}: {design.label()}",
                       "clusters": design.clusters, "pairs": design.pairs,
                       "holm_over": design.family_size}
                for r in table.itertuples():
                    row[f"{r.effect:g}"] = f"{r.better:.2f} ({r.holds:.2f})"
                row["mde_80"] = round(planned_mde(design, outcomes[kind], rule=rule,
                                                  reps=args.mde_reps, seed=args.seed), 3)
                rows.append(row)
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    return table


if __name__ == "__main__":
    main()
