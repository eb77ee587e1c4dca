"""Progress lines of long jobs: percent done and time left (secondorder.progress)."""

import re

from secondorder.progress import Progress, duration, format_progress, study_callback


def test_duration():
    assert duration(4.4) == "4 s"
    assert duration(125) == "2 min 05 s"
    assert duration(3725) == "1 h 02 min"
    assert duration(float("nan")) == "?"


def test_format_progress_percent_and_time_left():
    assert format_progress(400, 1000, 12, "epochs") == (
        "40% done (400/1000 epochs), 12 s elapsed, about 18 s left")
    assert format_progress(0, 10, 3) == "0% done, 3 s elapsed, time left unknown"
    assert format_progress(10, 10, 65) == "100% done, 1 min 05 s elapsed"


def test_progress_clock():
    now = [100.0]
    p = Progress(50, "fits", clock=lambda: now[0])
    now[0] = 110.0
    assert p.line(25) == "50% done (25/50 fits), 10 s elapsed, about 10 s left"


def test_study_callback_batched_and_one_by_one():
    now, lines = [0.0], []
    batched = study_callback(("epoch", 1000), 50, batched=True, say=lines.append,
                             clock=lambda: now[0])
    now[0] = 30.0
    batched({"epoch": 250, "running": 50, "elapsed_s": 29.0})
    assert lines[-1].startswith("25% done, 30 s elapsed, about 1 min 30 s left")
    assert "epoch 250" in lines[-1]

    lines.clear()
    seq = study_callback(("evaluations", 300), 4, batched=False, say=lines.append,
                         every_s=0, clock=lambda: now[0])
    now[0] = 40.0
    seq({"evaluations": 150, "ssq_train": 3.5})      # half of the first of 4 fits
    seq({"fits_done": 1, "fits": 4})
    now[0] = 50.0
    seq({"evaluations": 300})                        # all of the second
    assert [re.match(r"(\d+)/4 fits done, (\d+)% done", ln).groups() for ln in lines] == [
        ("0", "12"), ("1", "25"), ("1", "50")]
    # its clock started at 30 s; the pace since the first report (at 40 s, 12.5%):
    # 37.5% in 10 s, so the other 50% in about 13 s
    assert "20 s elapsed, about 13 s left" in lines[-1]


def test_time_left_leaves_out_the_set_up_before_the_first_report():
    """A batch reports first after TensorFlow compiled (20 s here); the time left goes
    by the pace after that (10% in 2 s), not by the average since the start."""
    now, lines = [0.0], []
    cb = study_callback(("iteration", 100), 50, batched=True, say=lines.append, every_s=0,
                        clock=lambda: now[0])
    now[0] = 20.0
    cb({"iteration": 10, "running": 50})
    now[0] = 22.0
    cb({"iteration": 20, "running": 50})
    assert lines[-1].startswith("20% done, 22 s elapsed, about 16 s left"), lines


def test_study_callback_rate_limits_its_lines():
    now, lines = [0.0], []
    cb = study_callback(("iteration", 100), 8, batched=True, say=lines.append,
                        every_s=2.0, clock=lambda: now[0])
    for i in range(10):
        now[0] = i * 0.5
        cb({"iteration": 10 * (i + 1), "running": 8})
    assert len(lines) == 3  # at 0, 2 and 4 s
