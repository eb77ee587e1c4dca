"""Imports run one way, problem <- optim <- pipeline: the library below the pipeline
(``optim/``, ``problem/``) never imports the pipeline's ``config`` (it checks settings
against the settings schema itself, :mod:`secondorder.schema`), ``problem/`` imports
nothing of ``optim/``, and ``config`` reads the optimizer registry
(:mod:`secondorder.optim.arms`) but nothing of ``pipeline/``. The import graph is read
from the sources (every ``import``, those inside functions included, since a lazy
import closes a circle as well as a top-level one), and a fresh interpreter imports the
modules in the orders an import circle would make fragile."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import secondorder

PACKAGE = Path(secondorder.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """``module -> secondorder modules it imports`` (anywhere in the file)."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets.add(base)
                targets |= {f"{base}.{alias.name}" for alias in node.names}
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def reachable(graph, start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


GRAPH = import_graph()


def test_the_graph_sees_known_imports():
    """The reader of the graph is right on imports known to be there (so the tests
    below cannot pass by reading nothing)."""
    assert "secondorder.optim.arms" in GRAPH["secondorder.config"]
    assert "secondorder.schema" in GRAPH["secondorder.optim.arms"]
    assert "secondorder.problem.checks" in GRAPH["secondorder.optim.first_order"]
    assert "secondorder.optim.lm.result" in GRAPH["secondorder.optim.lm.solver"]  # relative
    assert "secondorder.optim.quasi_newton" in GRAPH["secondorder.optim.arms"]  # lazy


LIBRARY = sorted(m for m in GRAPH if m.startswith(("secondorder.optim",
                                                    "secondorder.problem")))


@pytest.mark.parametrize("module", LIBRARY)
def test_the_library_below_the_pipeline_never_imports_config(module):
    """``optim/`` and ``problem/`` import neither the pipeline's config nor the pipeline
    (directly or through anything they import): a library user's settings are checked
    against the settings schema by the library itself (:mod:`secondorder.schema`)."""
    below = reachable(GRAPH, module) | {module}
    assert not {m for m in below if m.startswith(("secondorder.config",
                                                  "secondorder.pipeline"))}, below


@pytest.mark.parametrize("module", sorted(m for m in LIBRARY
                                          if m.startswith("secondorder.problem")))
def test_problems_import_nothing_of_optim(module):
    """Imports go one way, problem <- optim <- pipeline: no problem module reaches
    ``optim`` (the MGH problems give their residuals; the solvers' Jacobian of them
    lives with the benchmark that uses it)."""
    below = reachable(GRAPH, module)
    assert not {m for m in below if m.startswith("secondorder.optim")}, below


def test_a_wrong_import_fails_the_walk():
    """The walk finds an import of config three modules down (so the tests above can
    fail)."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"secondorder.config"}, "secondorder.config": set()}
    assert "secondorder.config" in reachable(graph, "a")


def test_config_imports_nothing_of_the_pipeline():
    below = reachable(GRAPH, "secondorder.config")
    assert not {m for m in below if m.startswith("secondorder.pipeline")}, below


@pytest.mark.parametrize("module", ["secondorder.config", "secondorder.schema",
                                    "secondorder.optim.arms", "secondorder.optim.first_order",
                                    "secondorder.problem.checks"])
def test_no_import_circle_through(module):
    assert module not in reachable(GRAPH, module)


@pytest.mark.parametrize("order", [
    ["secondorder.config", "secondorder.optim.arms"],
    ["secondorder.optim.first_order", "secondorder.config"],
    ["secondorder.optim.arms", "secondorder.optim.first_order"],
    ["secondorder.problem.checks", "secondorder.optim.arms"],
])
def test_modules_import_in_any_order_in_a_fresh_interpreter(order):
    """Each order imports cleanly, and importing the optimizers loads no ``config``."""
    code = ("import sys\n" + "".join(f"import {m}\n" for m in order)
            + "from secondorder.optim.arms import Arm\n"
            + "from secondorder.problem.checks import check_init, check_problem\n")
    if order[0] != "secondorder.config":
        code = ("import sys\nimport secondorder.optim.arms\n"
                "assert 'secondorder.config' not in sys.modules\n" + code)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
