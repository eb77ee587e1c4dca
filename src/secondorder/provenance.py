"""What produced an artifact: library versions (and the sha256 of the pins file), host, git
state, times, the numerics the job computed with (:func:`secondorder.numerics.job_record`:
what was requested, held and chosen, and whether it is portable), and for a job that
computed with TensorFlow the device it computed on.

Naming the device means asking TensorFlow (importing it takes seconds), so only the jobs
that train record it (:func:`environment` with ``with_device=True``); a job that never
touched TensorFlow (the data, evaluation, summary, article and audit jobs) claims no
device."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import socket
import subprocess
from pathlib import Path

#: Libraries whose versions the results depend on.
LIBRARIES = ("secondorder", "tensorflow", "keras", "numpy", "scipy", "pandas",
             "matplotlib", "snakemake", "papermill", "nbconvert")


def installed_version(name: str) -> str | None:
    """The installed version of the distribution ``name``, ``None`` if it is absent."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions() -> dict:
    """Python and library versions (``None`` for a library that is not installed)."""
    return {"python": platform.python_version(),
            **{name: installed_version(name) for name in LIBRARIES}}


def device() -> dict:
    """The device TensorFlow computes on: the first GPU if one is visible, else the CPU."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return {"type": "GPU", "name": details.get("device_name", gpus[0].name),
                "tf_device": "/GPU:0"}
    return {"type": "CPU", "name": cpu_model(), "tf_device": "/CPU:0",
            "cores": os.cpu_count()}


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_state(root=None) -> dict:
    """Commit of the working tree and whether it has uncommitted changes."""
    root = Path(root or Path(__file__).resolve().parents[2])

    def git(*args):
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def scheduler() -> dict:
    """SLURM job id and node when running under SLURM, else empty."""
    keys = {"SLURM_JOB_ID": "slurm_job_id", "SLURMD_NODENAME": "slurm_node"}
    return {name: os.environ[var] for var, name in keys.items() if var in os.environ}


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def package() -> dict:
    """This package's version and the sha256 of the pins file (the exact versions of
    every dependency, ``requirements/pins.txt``; ``None`` when it is not there)."""
    from secondorder import pins

    return {"name": "secondorder", "version": installed_version("secondorder"),
            "pins_sha256": pins.sha256()}


def environment(with_device: bool = False) -> dict:
    """Everything above in one dict for a ``fit.json`` or provenance record; with
    ``with_device`` also the device TensorFlow computes on (:func:`device`: only for a
    job that computed with TensorFlow, which has imported it anyway). ``numerics`` is the
    job-start check's record (a process that never ran it gets the host-only check)."""
    from secondorder import numerics

    return {"versions": versions(), "package": package(),
            **({"device": device()} if with_device else {}),
            "host": socket.gethostname(), "git": git_state(), **scheduler(),
            "numerics": numerics.job_record()}
