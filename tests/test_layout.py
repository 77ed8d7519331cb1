"""The layout's rules (pipeline/__init__.py): which package may import which, no import cycles,
and predict free of TensorFlow. Imports inside functions count: they run too."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

from harness.synthetic import ROOT

PACKAGE = ROOT / "pipeline"
# What each part may import of pipeline (besides itself). Lowest first, as in pipeline/__init__.py.
ALLOWED = {
    "core": set(),
    "runtime": {"core"},
    "model": {"core", "runtime"},
    "pages": {"core"},
    "command": {"core", "runtime"},
    "stages": {"core", "runtime", "model", "pages", "command"},
    "tools": {"core", "runtime", "pages"},
    "report": {"core", "pages"},
    "orchestration": {"core", "runtime", "tools"},
    "cli": {"core", "command", "stages", "tools", "report", "orchestration", "pages"},
    "__main__": {"cli"},
    "__init__": set(),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(name: str) -> tuple[set[str], set[str]]:
    """(pipeline modules, top-level third-party packages) that module `name` imports anywhere."""
    ours, theirs = set(), set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] == "pipeline":
                base = node.module.removeprefix("pipeline").lstrip(".")
                for alias in node.names:
                    child = f"{base}.{alias.name}".lstrip(".")
                    ours.add(child if child in MODULES else base or "__init__")
            else:
                theirs.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "pipeline":
                    ours.add(alias.name.removeprefix("pipeline").lstrip(".") or "__init__")
                else:
                    theirs.add(alias.name.split(".")[0])
    return ours, theirs


def part(module: str) -> str:
    return module.split(".")[0]


GRAPH = nx.DiGraph([(m, o) for m in MODULES for o in imports(m)[0] if o != m])
GRAPH.add_nodes_from(MODULES)


def test_the_graph_sees_imports_inside_functions():
    """cli imports the report inside `lenet report`'s function only."""
    assert GRAPH.has_edge("cli", "report")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_each_module_imports_only_what_its_package_may(module):
    allowed = ALLOWED[part(module)] | {part(module), "__init__"}
    wrong = sorted(o for o in imports(module)[0] if part(o) not in allowed)
    assert not wrong, (
        f"pipeline.{module} imports {wrong}; {part(module)} may import {sorted(allowed)}"
    )


def test_no_import_cycles():
    assert list(nx.simple_cycles(GRAPH)) == []


def test_stages_never_import_tools_report_orchestration_or_the_cli():
    reached = set().union(*(nx.descendants(GRAPH, m) | {m} for m in MODULES if part(m) == "stages"))
    assert not {part(m) for m in reached} & {"tools", "report", "orchestration", "cli"}


def test_predict_never_imports_tensorflow():
    reached = nx.descendants(GRAPH, "tools.predict") | {"tools.predict"}
    heavy = {m for m in reached if imports(m)[1] & {"tensorflow", "keras", "tf2onnx"}}
    assert not heavy, f"predict reaches {sorted(heavy)}, which import TensorFlow or Keras"
