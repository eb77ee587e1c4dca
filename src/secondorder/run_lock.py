"""One live run per working directory, and no stale lock after a killed run.

Snakemake's own directory lock (``.snakemake/locks``) records no owner: a run killed
hard (``kill -9``, the OOM killer, a closed terminal, power loss) leaves it behind, and
the next run refuses to start until ``snakemake --unlock``, which cannot tell that lock
from a live run's. The workflow profile (``profiles/default``) therefore turns it off
(``nolock``) and the workflow takes this lock instead, at the start of a run
(``onstart`` in ``workflow/rules/common.smk``):

* an exclusive ``fcntl.flock`` on ``.snakemake/secondorder.lock`` in the working
  directory, held by the main Snakemake process for its whole life and released by
  the kernel when that process ends in any way, a ``kill -9`` included: a killed run
  leaves no lock, and the next plain run resumes;
* the file also names its owner (pid, host, start time, command), written once the
  lock is held, so a second run started while the first lives is refused with a
  message saying which run holds the directory.

The file stays after a run; only the kernel's lock on it counts, never its existence.
Snakemake calls ``onstart`` only in the main process of a real run: not in a dry run
(``-n``), ``--report``, ``--lint``, ``--unlock``, nor in the processes that run single
jobs (started with ``--no-hooks``, locally or on a cluster node), so those neither take
the lock nor are refused by it. On a file system without ``flock`` (some Lustre mounts)
the lock cannot be taken: the run goes on with a warning and is not protected.

The lock is released when the holding process ends, not when the processes it started
do: a job still running after its Snakemake was killed (a SLURM job, or an orphaned
local job) is not covered; Snakemake cancels its cluster jobs on an ordinary stop.
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import os
import socket
import sys
from pathlib import Path

#: The lock file, relative to the working directory (beside Snakemake's metadata).
LOCK_FILE = Path(".snakemake") / "secondorder.lock"

#: The open lock file of this process, kept open (so locked) until the process ends.
_held: dict[str, int] = {}


class RunLocked(RuntimeError):
    """Another live run holds the working directory."""


def owner_record(command=None) -> dict:
    """Who holds the lock: this process's pid, host, start time (UTC, ISO 8601),
    command line and working directory."""
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(command if command is not None else sys.argv),
        "directory": os.getcwd(),
    }


def read_owner(path) -> dict:
    """The owner record in a lock file (empty if it holds none, or none readable)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def describe(owner: dict) -> str:
    """One line naming a lock's owner."""
    if not owner:
        return "another process (its record is not readable)"
    return (f"pid {owner.get('pid')} on host {owner.get('host')}, started "
            f"{owner.get('started')}: {owner.get('command')}")


def acquire(directory=".", command=None) -> Path | None:
    """Take the run lock of ``directory`` for the life of this process.

    Returns the lock file's path; ``None`` (with a warning on stderr) when its file
    system does not support ``flock``. Taking it again in the process that holds it
    returns at once. Raises :class:`RunLocked`, naming the owner, when another live
    process holds it.
    """
    path = Path(directory).resolve() / LOCK_FILE
    if str(path) in _held:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RunLocked(
            f"another run of this workflow is running in {path.parent.parent} "
            f"({describe(read_owner(path))}). This run started no job. Wait for that run "
            "to end, or stop it; a run that was killed leaves no lock behind, so the next "
            "run needs no --unlock.") from None
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
            print(f"Warning: the file system of {path.parent} does not support locks "
                  f"({exc.strerror}); nothing stops a second run in this directory.",
                  file=sys.stderr)
            return None
        raise
    record = json.dumps(owner_record(command), indent=1).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, record, 0)
    os.fsync(fd)
    _held[str(path)] = fd
    return path
