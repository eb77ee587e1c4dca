"""Reading and writing artifacts: every write is atomic (temporary file, then rename).

A reader of ``results/`` never sees a half-written file: each writer here writes to a
temporary file in the destination's directory, flushes it to disk and renames it over
the destination (``os.replace`` is atomic on POSIX within one file system). A writer
killed before the rename leaves its hidden temporary behind; the pipeline's jobs remove
those of their own outputs when they start (:func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd


#: ``tempfile.mkstemp`` names: prefix, 8 random characters, suffix.
_RANDOM = "[a-z0-9_]{8}"


def temporary_pattern(path) -> re.Pattern:
    """The names :func:`atomic_path` gives its temporaries for ``path``:
    ``.<stem>.<8 random characters>.tmp<suffix>`` in the same directory."""
    path = Path(path)
    return re.compile(rf"\.{re.escape(path.stem)}\.{_RANDOM}\.tmp{re.escape(path.suffix)}")


def stale_temporaries(path) -> list[Path]:
    """Temporaries of ``path`` left beside it by a writer that was killed (SIGKILL,
    power loss) between creating and renaming them; sorted."""
    path = Path(path)
    pattern = temporary_pattern(path)
    try:
        names = os.listdir(path.parent)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(path.parent / n for n in names if pattern.fullmatch(n))


def remove_stale_temporaries(paths) -> list[Path]:
    """Delete the leftover temporaries of each of ``paths`` (see :func:`stale_temporaries`);
    return what was deleted. Call it only where no other process writes those paths
    (a pipeline job does, at its start, for its own outputs)."""
    removed = []
    for path in paths:
        for tmp in stale_temporaries(path):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                removed.append(tmp)
    return removed


def _write_error(path, err: OSError) -> OSError:
    """``err`` again (same errno, so the same ``OSError`` subclass) with a message that
    names the destination ``path``."""
    reason = err.strerror or str(err)
    return OSError(err.errno, f"cannot write {path}: {reason}") if err.errno else \
        OSError(f"cannot write {path}: {reason}")


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success rename it to ``path``.

    On any error the temporary file is removed and ``path`` is left as it was. A
    failure to create, flush or rename the file (read-only or full file system, a
    parent that is a file, ...) raises ``OSError`` (the subclass its errno maps to)
    naming ``path``; errors raised by the body itself pass through unchanged.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.",
                                   suffix=f".tmp{path.suffix}")
    except OSError as err:
        raise _write_error(path, err) from err
    os.close(fd)
    try:
        yield Path(tmp)
        try:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except OSError as err:
            raise _write_error(path, err) from err
    except BaseException:
        with contextlib.suppress(OSError):  # never hide the error that got us here
            os.unlink(tmp)
        raise


def write_bytes(path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        try:
            Path(tmp).write_bytes(data)
        except OSError as err:  # a full disk shows up here, while writing
            raise _write_error(path, err) from err


def write_text(path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def to_jsonable(obj):
    """Convert numpy scalars and arrays (recursively) into plain JSON types."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not np.isfinite(obj):
        return None  # JSON has no NaN/Inf; null is what a reader can parse
    return obj


def write_json(path, obj) -> None:
    """Pretty, key-sorted JSON (stable bytes for identical content)."""
    write_text(path, json.dumps(to_jsonable(obj), indent=2, sort_keys=True) + "\n")


def read_json(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def write_csv(path, frame: pd.DataFrame) -> None:
    """CSV whose floats round-trip exactly (pandas writes the shortest exact repr)."""
    buf = io.StringIO()
    frame.to_csv(buf, index=False, lineterminator="\n")
    write_text(path, buf.getvalue())


def read_csv(path) -> pd.DataFrame:
    return pd.read_csv(path)


def write_npy(path, array) -> None:
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    write_bytes(path, buf.getvalue())


def read_npy(path) -> np.ndarray:
    return np.load(path, allow_pickle=False)


def sha256(path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
