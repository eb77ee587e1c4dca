"""The exact versions the results were produced with: ``requirements/pins.txt``.

``pyproject.toml`` states compatible ranges (what the code works with); the pins file is
a pip constraints file with one ``name==version`` per package the pipeline installs
(``secondorder[test,slurm,bench]`` and everything those pull in). The README's install
commands, ``.ci/run`` and ``environment.yml`` pass it with ``-c``; provenance records its
sha256. Regenerate it from a working environment, after a deliberate upgrade:

    secondorder pins > requirements/pins.txt
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PINS_PATH = ROOT / "requirements" / "pins.txt"
#: The extras the README's test command installs (the article needs none).
EXTRAS = ("test", "slurm", "bench")
#: Installer tools, left out as ``pip freeze`` does (pinning them would also clash with
#: the build requirements of packages built from source).
TOOLS = ("pip", "setuptools", "wheel")

HEADER = """\
# Exact versions of every package the pipeline installs: secondorder[{extras}] and
# everything it pulls in, transitively. pyproject.toml holds the compatible ranges.
# Install with:  pip install -c requirements/pins.txt -e ".[{extras}]"
# Regenerate (after a deliberate upgrade) from a working environment with:
#   secondorder pins > requirements/pins.txt
# python {python} ({system} {machine})
"""


def _canonical(name: str) -> str:
    from packaging.utils import canonicalize_name

    return canonicalize_name(name)


def closure(name: str = "secondorder", extras=EXTRAS) -> dict[str, str]:
    """``{canonical name: installed version}`` of every distribution ``name[extras]``
    needs here, transitively (markers evaluated for this interpreter and platform);
    ``name`` itself and the installer :data:`TOOLS` are left out. Requirements that are not installed are skipped."""
    from packaging.requirements import Requirement

    found: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    todo = [(name, extra) for extra in ("", *extras)]
    while todo:
        dist_name, extra = todo.pop()
        key = _canonical(dist_name)
        if (key, extra) in seen:
            continue
        seen.add((key, extra))
        try:
            dist = importlib.metadata.distribution(dist_name)
        except importlib.metadata.PackageNotFoundError:
            continue
        if key != _canonical(name) and key not in TOOLS:
            found[key] = dist.version
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({"extra": extra}):
                continue
            if req.marker is None and extra:
                continue  # an unconditional requirement: handled with extra ""
            todo += [(req.name, e) for e in ("", *req.extras)]
    return dict(sorted(found.items()))


def render(extras=EXTRAS) -> str:
    """The text of the pins file for the environment this runs in."""
    head = HEADER.format(extras=",".join(extras), python=platform.python_version(),
                         system=platform.system(), machine=platform.machine())
    return head + "".join(f"{k}=={v}\n" for k, v in closure(extras=extras).items())


def read(path=PINS_PATH) -> dict[str, str]:
    """``{canonical name: version}`` of a pins file (comments and blank lines skipped)."""
    pins = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            if not sep:
                raise ValueError(f"{path}: expected 'name==version', got {line!r}")
            pins[_canonical(name.split("[")[0].strip())] = version.strip()
    return pins


def python_version(path=PINS_PATH) -> str | None:
    """The Python version the pins were frozen with (from the header), e.g. ``3.11.7``."""
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.startswith("# python "):
            return line.split()[2]
    return None


def sha256(path=PINS_PATH) -> str | None:
    """sha256 of the pins file, ``None`` when it is not there (e.g. a wheel install)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None
