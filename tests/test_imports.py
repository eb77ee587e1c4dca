"""Imports run one way: ``config`` imports nothing of ``optim`` (or of ``pipeline``),
the checks on problems and initial weights live in ``problem/`` and import neither,
and ``optim`` imports ``config`` and ``problem``. The import graph is read from the
sources (every ``import``, those inside functions included, since a lazy import closes
a circle as well as a top-level one), and a fresh interpreter imports the modules in
the orders the old circle ``config`` <-> ``optim.arms`` <-> ``optim.first_order`` made
fragile."""

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
    assert "secondorder.config" in GRAPH["secondorder.optim.arms"]
    assert "secondorder.problem.checks" in GRAPH["secondorder.optim.first_order"]
    assert "secondorder.optim.lm.result" in GRAPH["secondorder.optim.lm.solver"]  # relative
    assert "secondorder.optim.lm_network" in GRAPH["secondorder.optim.arms"]  # lazy


def test_config_imports_nothing_of_optim_or_pipeline():
    below = reachable(GRAPH, "secondorder.config")
    assert not {m for m in below if m.startswith(("secondorder.optim",
                                                  "secondorder.pipeline"))}, below


@pytest.mark.parametrize("module", ["secondorder.problem.checks", "secondorder.problem.data",
                                    "secondorder.problem.model"])
def test_the_problem_checks_import_nothing_of_config_optim_or_pipeline(module):
    below = reachable(GRAPH, module)
    assert not {m for m in below if m.startswith(("secondorder.config", "secondorder.optim",
                                                  "secondorder.pipeline"))}, below


@pytest.mark.parametrize("module", ["secondorder.config", "secondorder.optim.arms",
                                    "secondorder.optim.first_order",
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
    """Each order imports cleanly, and importing ``config`` alone loads no ``optim``."""
    code = ("import sys\n" + "".join(f"import {m}\n" for m in order)
            + "from secondorder.config import check_arm\n"
            + "from secondorder.problem.checks import check_init, check_problem\n")
    if order[0] == "secondorder.config":
        code = ("import sys\nimport secondorder.config\n"
                "assert not [m for m in sys.modules if m.startswith('secondorder.optim')]\n"
                + code)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
