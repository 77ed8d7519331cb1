"""Each stage in dvc.yaml depends on every pipeline module its command imports, directly or not,
so that editing shared code reruns exactly the stages it can affect."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from harness.synthetic import ROOT

PACKAGE = ROOT / "pipeline"
# `python -m pipeline.stages <stage>` runs these before the stage's own module is imported.
ENTRY = ("__init__", "stages", "stages.__main__")


def module_file(name: str) -> Path | None:
    """pipeline/<name>.py, or the package's __init__.py, for a dotted name ("report.figures")."""
    base = PACKAGE.joinpath(*name.split("."))
    return next((f for f in (base.with_suffix(".py"), base / "__init__.py") if f.is_file()), None)


def imported_modules(name: str) -> set[str]:
    """pipeline modules that module `name` imports when it loads (module-level imports), with the
    packages each import runs first (pipeline.pages.figures runs pipeline/pages/__init__.py)."""
    tree = ast.parse(module_file(name).read_text())
    found = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "pipeline":
            base = node.module.removeprefix("pipeline").lstrip(".")
            for alias in node.names:  # a submodule, or a name defined in `base`
                child = f"{base}.{alias.name}".lstrip(".")
                found.add(child if module_file(child) else base)
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("pipeline.") for a in node.names
                      if a.name.startswith("pipeline.")}
    parents = {".".join(m.split(".")[:i]) for m in found if m for i in range(1, m.count(".") + 2)}
    return {module for module in parents if module_file(module)}


def closure(*roots: str) -> set[str]:
    seen, todo = set(), list(roots)
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo += imported_modules(module)
    return seen


def stage_deps(dvcfile: Path, stage: str) -> list[str]:
    spec = yaml.safe_load(dvcfile.read_text())["stages"][stage]
    return spec.get("do", spec)["deps"]


def declared(dvcfile: Path, stage: str) -> set[str]:
    """The pipeline modules among a stage's deps."""
    return {module_name(dep) for dep in stage_deps(dvcfile, stage)
            if dep.startswith("pipeline/") and dep.endswith(".py")}


def data_files(module: str) -> set[str]:
    """The package data a module reads: files of its package (not Python) that it names in a
    string literal, as importlib.resources is given them."""
    path = module_file(module)
    named = {node.value for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    return {file.relative_to(ROOT).as_posix() for file in path.parent.iterdir()
            if file.is_file() and file.suffix not in (".py", ".pyc") and file.name in named}


def module_name(dep: str) -> str:
    """pipeline/report/figures.py -> report.figures; pipeline/report/__init__.py -> report."""
    parts = Path(dep).relative_to("pipeline").with_suffix("").parts
    return ".".join(parts[:-1] if len(parts) > 1 and parts[-1] == "__init__" else parts)


MODEL_STAGES = ("download", "validate", "preprocess", "train", "evaluate", "export")
STAGES = (*MODEL_STAGES, "overview")


@pytest.mark.parametrize("stage", STAGES)
def test_stage_depends_on_its_whole_import_closure(stage):
    """The stage `x` runs pipeline/stages/x.py. Export also depends on the code of every stage that
    makes the model: its provenance names the last commit of that code (export.code_commit), so a
    change to any of it must re-export."""
    needed = closure(*ENTRY, f"stages.{stage}")
    if stage == "export":
        needed |= set().union(*(closure(*ENTRY, f"stages.{other}") for other in MODEL_STAGES))
    assert declared(ROOT / "dvc.yaml", stage) == needed, f"dvc.yaml's {stage} deps"


@pytest.mark.parametrize("stage", STAGES)
def test_stage_depends_on_the_package_data_its_modules_read(stage):
    """A stylesheet or page that a stage's code reads (the overview's overview.css) changes its
    output as its code does."""
    needed = set().union(*(data_files(module) for module in closure(*ENTRY, f"stages.{stage}")))
    data = {dep for dep in stage_deps(ROOT / "dvc.yaml", stage)
            if dep.startswith("pipeline/") and not dep.endswith(".py")}
    assert data == needed, f"dvc.yaml's {stage} deps"


def test_overview_reads_its_stylesheet_and_script_as_package_data():
    assert data_files("stages.overview") == {"pipeline/stages/overview.css",
                                             "pipeline/stages/overview.js"}


def test_tune_depends_on_its_whole_import_closure():
    assert declared(ROOT / "tune/dvc.yaml", "tune") == closure(*ENTRY, "stages.tune")


def test_closure_follows_indirect_imports():
    """train imports model.lenet, which imports core.files: both are in train's closure."""
    assert {"model.lenet", "core.files", "core.config", "core.errors"} <= closure("stages.train")


def test_closure_follows_imports_into_subpackages():
    """overview imports pipeline.pages.figures, which runs pipeline/pages/__init__.py first."""
    assert {"pages", "pages.figures", "pages.html"} <= closure("stages.overview")


@pytest.mark.parametrize("stage", [*STAGES, "tune"])
def test_no_stage_depends_on_tool_report_prefect_or_cli_code(stage):
    """Editing `lenet serve`, the pull-request report, Prefect's flows or predict reruns nothing."""
    dvcfile = ROOT / ("tune/dvc.yaml" if stage == "tune" else "dvc.yaml")
    parts = {name.split(".")[0] for name in declared(dvcfile, stage)}
    assert not parts & {"cli", "tools", "report", "orchestration", "__main__"}
