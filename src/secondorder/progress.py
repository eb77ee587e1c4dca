"""Progress a person can follow in a long job's log: percent done and time left.

:func:`format_progress` writes one line, e.g.
``40% done (400/1000 epochs), 12 s elapsed, about 18 s left``; :class:`Progress`
keeps the clock of one job; :func:`study_callback` turns the progress reports of the
optimizers (a counter such as ``epoch``, ``iteration`` or ``evaluations`` against the
arm's budget for it, and ``fits_done`` for fits trained one after another) into such
lines.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Callable

log = logging.getLogger(__name__)


def duration(seconds: float) -> str:
    """``4 s``, ``2 min 05 s``, ``1 h 02 min``."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def format_progress(done: float, total: float, elapsed_s: float, unit: str = "",
                    left_s: float | None = None) -> str:
    """One line: percent of ``total`` done, time elapsed, and the time left: ``left_s``
    when given, else as if the rest goes at the average pace so far (unknown until
    something is done)."""
    fraction = min(max(done / total, 0.0), 1.0) if total else 0.0
    count = f" ({done:g}/{total:g}{' ' + unit if unit else ''})" if unit else ""
    text = f"{fraction:.0%} done{count}, {duration(elapsed_s)} elapsed"
    if fraction >= 1:
        return text
    if left_s is None and fraction <= 0:
        return f"{text}, time left unknown"
    if left_s is None:
        left_s = elapsed_s * (1 - fraction) / fraction
    return f"{text}, about {duration(left_s)} left"


class Progress:
    """The clock of one job of ``total`` units: :meth:`line` formats the progress
    after ``done`` units (see :func:`format_progress`)."""

    def __init__(self, total: float, unit: str = "", clock: Callable[[], float] = time.monotonic):
        self.total, self.unit, self.clock = total, unit, clock
        self.start = clock()

    def elapsed(self) -> float:
        return self.clock() - self.start

    def line(self, done: float, left_s: float | None = None) -> str:
        return format_progress(done, self.total, self.elapsed(), self.unit, left_s)


def _details(info: dict) -> str:
    """The scalar entries of a progress report (lowest value of an array)."""
    parts = []
    for key, value in info.items():
        if key in ("fits_done", "fits", "x", "best_x", "mu", "status"):
            continue
        if hasattr(value, "__len__") and not isinstance(value, str):
            try:
                value = float(min(value))
            except (TypeError, ValueError):
                continue
        parts.append(f"{key} {value:.6g}" if isinstance(value, float) else f"{key} {value}")
    return "  ".join(parts)


def study_callback(budget: tuple[str, float], n_fits: int, *, batched: bool,
                   say: Callable[[str], None] = log.info, every_s: float = 2.0,
                   clock: Callable[[], float] = time.monotonic) -> Callable[[dict], None]:
    """A ``progress(info)`` callback for one study job of ``n_fits`` fits of an arm
    whose reports count ``budget = (counter, value)``: the report's counter and the
    arm's budget for it (:attr:`secondorder.optim.arms.Arm.budget`, e.g. ``("epoch",
    10000)``). It logs the percent of the job done and the time left, at most every
    ``every_s`` seconds (always when a fit ends). Batched fits run together, so the
    budget fraction of the batch is the job's; fits trained one after another count as
    ``(fits done + fraction of the current one) / n_fits``. The fraction is against the
    budget (epochs, iterations, evaluations): fits that stop early finish sooner than
    the estimate. The time left goes by the pace since the first report, so that the
    set-up before it (TensorFlow's compilation) does not inflate it."""
    counter, total = budget
    progress = Progress(1.0, clock=clock)
    state = {"fits": 0, "said": -math.inf, "first": None}

    def callback(info: dict) -> None:
        if "fits_done" in info:
            state["fits"] = int(info["fits_done"])
            fraction, force = state["fits"] / max(n_fits, 1), True
        else:
            within = min(info[counter] / total, 1.0) if counter in info and total else 0.0
            fraction = within if batched else (state["fits"] + within) / max(n_fits, 1)
            force = False
        now = clock()
        if state["first"] is None:
            state["first"] = (now, fraction)
        first_t, first_f = state["first"]
        left = ((now - first_t) * (1 - fraction) / (fraction - first_f)
                if fraction > first_f and now > first_t else None)
        if force or now - state["said"] >= every_s:
            state["said"] = now
            fits = "" if batched else f"{state['fits']}/{n_fits} fits done, "
            text = f"{fits}{progress.line(fraction, left)}"
            extra = _details(info)
            say(f"{text}  | {extra}" if extra else text)

    return callback
