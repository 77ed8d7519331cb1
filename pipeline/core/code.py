"""The identity of the pipeline's code, one implementation for its three uses:

    digest        sha256 over files' relative paths and bytes
    stage_code    the pipeline/ files a dvc.yaml stage lists as deps (its import closure)
    last_commit   the last commit that changed given files, flagged when the tree differs there

resume (the modules a training process loaded), the export's provenance (every stage's code: the
last commit that changed it) and a worker's check that it runs the coordinator's code (the whole
package and dvc.yaml) pick their files; how a set of files is identified is the same.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import yaml

from pipeline.core import workspace
from pipeline.core.paths import ProjectPaths


def digest(files: Iterable[Path], root: Path) -> str:
    """sha256 over each file's path relative to `root` and its bytes, in the given order."""
    total = hashlib.sha256()
    for path in files:
        name = Path(path).resolve().relative_to(root.resolve()).as_posix()
        total.update(name.encode() + b"\0" + Path(path).read_bytes() + b"\0")
    return total.hexdigest()


def package_sources(project: ProjectPaths) -> list[Path]:
    """Every module of the pipeline package, subpackages included, in a stable order."""
    return sorted(project.code.rglob("*.py"))


def stage_code(project: ProjectPaths, stage: str) -> list[str]:
    """The pipeline/ files that dvc.yaml's `stage` depends on."""
    spec = yaml.safe_load(project.dvc_yaml.read_text())["stages"][stage]
    return sorted(dep for dep in spec.get("do", spec)["deps"]
                  if isinstance(dep, str) and dep.startswith("pipeline/"))


def last_commit(project: ProjectPaths, files: list[str]) -> str:
    try:
        commit = workspace.run(
            "git", "log", "-1", "--format=%H", "--", *files, cwd=project.root
        ).stdout
        dirty = workspace.run("git", "status", "--porcelain", "--", *files, cwd=project.root).stdout
    except (workspace.CommandFailed, OSError):
        return "unknown (not a git checkout)"
    return commit.strip() + (" with uncommitted changes" if dirty.strip() else "")
