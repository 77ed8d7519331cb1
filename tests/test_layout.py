"""The layout's rules (pipeline/__init__.py): which package may import which, no import cycles,
and predict free of TensorFlow; bench/ measures and docgen/ renders, and docgen never imports
bench. Imports inside functions count: they run too."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

from harness.synthetic import ROOT

PACKAGES = ("pipeline", "harness", "bench", "docgen")
# What each part of pipeline may import of pipeline (besides itself). Lowest first, as in
# pipeline/__init__.py.
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
# Outside pipeline (the first rule whose name `module` is or starts with): what a module may
# import. bench/ measures and writes JSON, docgen/ renders the docs from it: a measuring script
# imports pipeline, harness, docgen and bench.common, never another measuring script; docgen never
# imports bench. The lab's scripts (bench/lab/) share bench.lab.common too.
OUTSIDE_RULES = {
    "docgen": {"pipeline", "docgen"},
    "harness": {"pipeline", "harness"},
    "bench.common": {"pipeline", "docgen"},
    "bench.lab.common": {"pipeline", "docgen", "bench.common"},
    "bench.lab": {"pipeline", "harness", "docgen", "bench.common", "bench.lab.common"},
    "bench": {"pipeline", "harness", "docgen", "bench.common"},
}


def within(module: str, name: str) -> bool:
    """Whether `module` is the module or package `name`, or inside it."""
    return module == name or module.startswith(f"{name}.")


def may_import(module: str) -> set[str]:
    return next(allowed for name, allowed in OUTSIDE_RULES.items() if within(module, name))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


def imports(name: str) -> tuple[set[str], set[str]]:
    """(modules of PACKAGES, top-level third-party packages) that module `name` imports
    anywhere; a name imported from a package is its module where it is one, else the package."""
    ours, theirs = set(), set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] in PACKAGES:
                for alias in node.names:
                    child = f"{node.module}.{alias.name}"
                    ours.add(child if child in MODULES else node.module)
            else:
                theirs.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PACKAGES:
                    ours.add(alias.name)
                else:
                    theirs.add(alias.name.split(".")[0])
    return ours, theirs


def part(module: str) -> str:
    """pipeline.core.config -> core; pipeline -> __init__."""
    return module.split(".")[1] if module.count(".") else "__init__"


PIPELINE = sorted(m for m in MODULES if m.split(".")[0] == "pipeline")
OUTSIDE = sorted(m for m in MODULES if m.split(".")[0] != "pipeline")
GRAPH = nx.DiGraph([(m, o) for m in MODULES for o in imports(m)[0] if o != m])
GRAPH.add_nodes_from(MODULES)


def test_the_graph_sees_imports_inside_functions():
    """cli imports the report inside `lenet report`'s function only; docgen builds the model
    inside the architecture block's."""
    assert GRAPH.has_edge("pipeline.cli", "pipeline.report")
    assert GRAPH.has_edge("docgen.blocks.model", "pipeline.model.lenet")


def test_the_graph_holds_bench_and_docgen():
    assert {"bench.run", "bench.seeds", "bench.lab.epoch_cost", "docgen.writer"} <= set(MODULES)
    assert GRAPH.has_edge("bench.seeds", "bench.common")


@pytest.mark.parametrize("module", PIPELINE)
def test_each_module_imports_only_what_its_package_may(module):
    allowed = ALLOWED[part(module)] | {part(module), "__init__"}
    wrong = sorted(o for o in imports(module)[0]
                   if o.split(".")[0] != "pipeline" or part(o) not in allowed)
    assert not wrong, f"{module} imports {wrong}; {part(module)} may import {sorted(allowed)}"


@pytest.mark.parametrize("module", OUTSIDE)
def test_bench_docgen_and_harness_import_only_what_they_may(module):
    """bench measures, docgen renders: docgen imports no bench module, and no bench module
    imports another measuring script (bench.common is what they share)."""
    allowed = may_import(module)
    wrong = sorted(o for o in imports(module)[0] if not any(within(o, a) for a in allowed))
    assert not wrong, f"{module} imports {wrong}; it may import {sorted(allowed)}"


def test_docgen_never_reaches_bench():
    reached = set().union(*(nx.descendants(GRAPH, m) for m in MODULES if m.startswith("docgen")))
    assert not {m for m in reached if m.split(".")[0] == "bench"}


def test_no_import_cycles():
    assert list(nx.simple_cycles(GRAPH)) == []


def test_stages_never_import_tools_report_orchestration_or_the_cli():
    stages = [m for m in PIPELINE if part(m) == "stages"]
    reached = set().union(*(nx.descendants(GRAPH, m) | {m} for m in stages))
    assert not {part(m) for m in reached} & {"tools", "report", "orchestration", "cli"}


def test_predict_never_imports_tensorflow():
    reached = nx.descendants(GRAPH, "pipeline.tools.predict") | {"pipeline.tools.predict"}
    heavy = {m for m in reached if imports(m)[1] & {"tensorflow", "keras", "tf2onnx"}}
    assert not heavy, f"predict reaches {sorted(heavy)}, which import TensorFlow or Keras"
