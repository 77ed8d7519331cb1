"""The pipeline's stages as DVC sees them, through its Python API (the graph) or its --json
answers (status), never its console text: their names in dependency order, which are out of date."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.core import workspace
from pipeline.core.paths import ProjectPaths


def stages_in_order(project: ProjectPaths) -> list[str]:
    """The root dvc.yaml's stages (what a plain `dvc repro` runs: not tune/dvc.yaml's search),
    upstream first (DVC's graph points from a stage to its dependencies)."""
    import networkx as nx
    from dvc.repo import Repo

    with Repo(str(project.root)) as repo:
        graph = repo.index.graph
        return [stage.addressing for stage in reversed(list(nx.topological_sort(graph)))
                if Path(stage.dvcfile.path).resolve() == project.dvc_yaml.resolve()]


def dvc_json(*args: str, cwd: Path | None = None) -> dict:
    """A DVC command's --json answer (DVC's machine-readable output)."""
    return json.loads(workspace.run("dvc", *args, "--json", cwd=cwd).stdout or "{}")


def out_of_date(target: str, root: Path) -> list[str]:
    """The stages that `dvc repro target` would run or restore: `dvc status --with-deps`."""
    return list(dvc_json("status", target, "--with-deps", cwd=root))
