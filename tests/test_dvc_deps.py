"""Each stage in dvc.yaml depends on every pipeline module its command imports, directly or not,
so that editing shared code reruns exactly the stages it can affect."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from tests.synthetic import ROOT

PACKAGE = ROOT / "pipeline"
# `python -m pipeline <command>` runs these before the command's own module is imported.
ENTRY = ("__init__", "__main__", "cli", "commands")


def imported_modules(name: str) -> set[str]:
    """pipeline modules that module `name` imports when it loads (module-level imports)."""
    tree = ast.parse((PACKAGE / f"{name}.py").read_text())
    found = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "pipeline":
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pipeline."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("pipeline.")}
    return {module for module in found if (PACKAGE / f"{module}.py").is_file()}


def closure(*roots: str) -> set[str]:
    seen, todo = set(), list(roots)
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo += imported_modules(module)
    return seen


def declared(dvcfile: Path, stage: str) -> set[str]:
    spec = yaml.safe_load(dvcfile.read_text())["stages"][stage]
    deps = spec.get("do", spec)["deps"]
    return {Path(dep).stem for dep in deps if dep.startswith("pipeline/")}


STAGES = ("download", "validate", "preprocess", "train", "evaluate", "export")


@pytest.mark.parametrize("stage", STAGES)
def test_stage_depends_on_its_whole_import_closure(stage):
    """The stage `x` runs pipeline/x.py. Export also depends on every other stage's code: the
    model's provenance names the last commit of that code (export.code_commit), so a change to
    any of it must re-export."""
    needed = closure(*ENTRY, stage)
    if stage == "export":
        needed |= set().union(*(closure(*ENTRY, other) for other in STAGES))
    assert declared(ROOT / "dvc.yaml", stage) == needed, f"dvc.yaml's {stage} deps"


def test_tune_depends_on_its_whole_import_closure():
    assert declared(ROOT / "tune/dvc.yaml", "tune") == closure(*ENTRY, "tune")


def test_closure_follows_indirect_imports():
    """train imports model, which imports files: both are in train's closure."""
    assert {"model", "files", "config", "errors"} <= closure("train")
