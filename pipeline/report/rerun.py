"""Like-for-like results for CI without a DVC remote: both sides rerun with the same reduced
settings, each in a scratch checkout that shares this repository's DVC cache."""

from __future__ import annotations

import sys
from pathlib import Path

from pipeline.core import workspace
from pipeline.core.config import load_params
from pipeline.core.errors import PipelineError
from pipeline.core.paths import ProjectPaths

REDUCED_REFS = {"base": "refs/lenet/reduced-base", "change": "refs/lenet/reduced-change"}


class UncommittedChanges(PipelineError):
    """--reduced reruns commits; uncommitted edits would silently be left out."""


def pull() -> None:
    """The pipeline's outputs from the DVC remote (the base's are read from it on demand). Only
    dvc.yaml's: the tuning search's outputs are not what a report compares, and may never have
    been pushed (then a plain `dvc pull` fails)."""
    workspace.run("dvc", "pull", str(ProjectPaths().dvc_yaml))


def rerun_reduced(base: str, preset: Path) -> tuple[str, str]:
    """Run the pipeline with `preset` applied at `base` and at HEAD, each in its own scratch
    checkout (the workspace, its params.yaml included, is not touched); returns the two refs
    that hold the results, to compare with each other. Only up to each dataset's evaluate stage:
    the report compares metrics, confusion matrices and training curves, not the exported models
    or the overview page."""
    dirty = workspace.run("git", "status", "--porcelain", "--untracked-files=no").stdout
    if dirty:
        raise UncommittedChanges(
            "--reduced compares commits: commit or stash these first:\n" + dirty
        )
    preset = preset.resolve()
    for side, revision in (("base", base), ("change", "HEAD")):
        with workspace.scratch_checkout(revision) as checkout:
            workspace.run(sys.executable, "-m", "pipeline", "apply", str(preset), cwd=checkout)
            datasets = load_params(ProjectPaths(checkout).params).datasets
            workspace.run("dvc", "repro", *[f"evaluate@{name}" for name in datasets], cwd=checkout)
            workspace.run("git", "add", "-A", cwd=checkout)
            workspace.run(
                "git",
                "-c",
                "user.name=lenet report",
                "-c",
                "user.email=report@lenet.invalid",
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                f"{revision} with {preset.name}",
                cwd=checkout,
            )
            workspace.run("git", "update-ref", REDUCED_REFS[side], "HEAD", cwd=checkout)
    return REDUCED_REFS["base"], REDUCED_REFS["change"]
