"""`lenet summary`: the last screen of `make repro`. Per dataset: test accuracy, errors of N and
the change against the committed numbers (git HEAD's metrics/<dataset>.json); then where to look."""

from __future__ import annotations

import json

from pipeline.core import workspace
from pipeline.core.config import Params
from pipeline.core.paths import DatasetPaths, ProjectPaths

NEXT = ("reports/index.html          the run: curves, confusion matrices, model cards",
        "make exp                    the experiments table: changed params, test accuracy",
        "dvc plots show              training curves and confusion matrices as one page")


def committed(path: str, revision: str = "HEAD") -> dict | None:
    try:
        return json.loads(workspace.run("git", "show", f"{revision}:{path}").stdout)
    except (workspace.CommandFailed, OSError, json.JSONDecodeError):
        return None


def lines(params: Params, project: ProjectPaths) -> list[str]:
    out = ["", "test results (metrics/<dataset>.json; change against the committed numbers)"]
    for name, dataset in params.datasets.items():
        path = DatasetPaths(name, project.root).metrics
        if not path.exists():
            out.append(f"  {name:<14} not run yet: dvc repro export@{name}")
            continue
        test = json.loads(path.read_text())["test"]
        before = committed(path.as_posix())
        if before is None:
            change = "nothing committed to compare with"
        else:
            delta = test["accuracy"] - before["test"]["accuracy"]
            change = "same as committed" if delta == 0 else f"{delta:+.2%} against committed"
        out.append(f"  {name:<14} {test['accuracy']:.2%}  {test['errors']} errors of "
                   f"{dataset.rows.test}  {change}")
    return [*out, "", "next:", *(f"  {line}" for line in NEXT)]


def run(params: Params, project: ProjectPaths) -> None:
    print("\n".join(lines(params, project)))
