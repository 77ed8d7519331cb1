"""Before a stage runs by hand: are its inputs there? If not, say which stage makes them.

`dvc repro` runs stages in order, so their inputs exist; `lenet train --dataset mnist` in a fresh
clone would otherwise end in a traceback about data/processed/mnist.npz. The inputs and their
makers are read from dvc.yaml, the one definition of the DAG (not from DVC: importing it costs a
stage more than the check)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from pipeline.core.errors import PipelineError
from pipeline.core.paths import ProjectPaths


class MissingInput(PipelineError):
    """A stage's input does not exist yet."""


def _paths(entries: list, key: str | None) -> list[str]:
    found = []
    for entry in entries or []:
        path = next(iter(entry)) if isinstance(entry, dict) else entry
        found.append(path.replace("${key}", key) if key else path)
    return found


def stage_io(dvc_yaml: Path, key: str | None) -> dict[str, tuple[list[str], list[str]]]:
    """{stage address: (deps, outs)} for every stage of dvc.yaml, its foreach entries expanded
    for the dataset `key` only."""
    stages = yaml.safe_load(dvc_yaml.read_text()).get("stages", {})
    io = {}
    for name, spec in stages.items():
        body = spec.get("do", spec)
        address = f"{name}@{key}" if "foreach" in spec and key else name
        outs = [*body.get("outs", []), *body.get("metrics", []), *body.get("plots", [])]
        io[address] = (_paths(body.get("deps"), key), _paths(outs, key))
    return io


def missing_inputs(stage: str, key: str | None, project: ProjectPaths) -> list[str]:
    """One line per input of `stage` that does not exist: the path, and what makes it."""
    if not project.dvc_yaml.exists():
        return []
    io = stage_io(project.dvc_yaml, key)
    address = f"{stage}@{key}" if f"{stage}@{key}" in io else stage
    deps, _ = io.get(address, ([], []))
    lines = []
    for dep in deps:
        if (project.root / dep).exists():
            continue
        makers = [other for other, (_, outs) in io.items()
                  if any(dep == out or dep.startswith(out.rstrip("/") + "/")
                         or out.startswith(dep.rstrip("/") + "/") for out in outs)]
        if makers:
            lines.append(f"{dep}: not found; run `dvc repro {makers[0]}` first "
                         f"(or `dvc repro {address}`, which runs what it needs)")
        else:
            lines.append(f"{dep}: not found, and no stage makes it (restore it from git)")
    return lines


def require_inputs(stage: str) -> Callable:
    """A Command precheck: refuse to start `stage` while an input is missing."""
    def precheck(ctx) -> None:
        key = getattr(ctx.options, "dataset", None)
        missing = missing_inputs(stage, key, ProjectPaths())
        if missing:
            raise MissingInput("\n  ".join(["inputs missing:", *missing]))
    return precheck
