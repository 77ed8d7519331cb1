"""`lenet exp` (`make exp`): the experiments table a person compares, at a terminal's width.

`dvc exp show` lists every param, metric and dependency hash (over 200 columns here), and names a
metric `metrics/mnist.json:test.accuracy` because every dataset's file has the same keys. This
reads the same data from `dvc exp show --json` (DVC's machine-readable answer) and shows, per
experiment: the params that differ between the rows, then each dataset's test accuracy and errors.
`dvc exp show` remains the full view.
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.core import workspace
from pipeline.core.config import flatten

HEADLINE = (("accuracy", "acc"), ("errors", "err"))


def rows(shown: list[dict]) -> list[tuple[str, dict, dict]]:
    """(name, flat params, {dataset: test metrics}) for the workspace, each baseline commit and
    its experiments, in DVC's order."""
    found = []

    def add(name: str, data: dict | None) -> None:
        data = data or {}
        params = flatten(((data.get("params") or {}).get("params.yaml") or {}).get("data") or {})
        metrics = {Path(path).stem: (entry.get("data") or {}).get("test", {})
                   for path, entry in (data.get("metrics") or {}).items()
                   if path.startswith("metrics/")}
        found.append((name, params, metrics))

    for commit in shown:
        rev = commit["rev"]
        add(commit.get("name") or (rev if rev == "workspace" else rev[:7]), commit.get("data"))
        for group in commit.get("experiments") or []:
            for run in group.get("revs") or []:
                add(f"  {run.get('name') or run['rev'][:7]}", run.get("data"))
    return found


def changed_params(table: list[tuple[str, dict, dict]]) -> list[str]:
    keys = sorted({key for _, params, _ in table for key in params})
    return [key for key in keys if len({json.dumps(p.get(key)) for _, p, _ in table}) > 1]


def cell(value, metric: bool = False) -> str:
    """A param as params.yaml writes it; a metric with four decimals."""
    if value is None:
        return "-"
    if metric and isinstance(value, float):
        return f"{value:.4f}"
    return value if isinstance(value, str) else json.dumps(value)


def render(table: list[tuple[str, dict, dict]]) -> str:
    params = changed_params(table)
    datasets = sorted({ds for _, _, metrics in table for ds in metrics})
    header = ["experiment", *(key.removeprefix("datasets.") for key in params),
              *(f"{ds} {short}" for ds in datasets for _, short in HEADLINE)]
    body = [
        [
            name,
            *(cell(p.get(key)) for key in params),
            *(
                cell(m.get(ds, {}).get(metric), metric=True)
                for ds in datasets
                for metric, _ in HEADLINE
            ),
        ]
        for name, p, m in table
    ]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)).rstrip()
             for row in [header, *body]]
    note = ("params: those that differ between the rows; acc, err: test accuracy and errors\n"
            "(metrics/<dataset>.json). Every column: dvc exp show")
    return "\n".join([*lines, "", note])


def run(extra: list[str]) -> None:
    shown = json.loads(workspace.run("dvc", "exp", "show", "--json", *extra).stdout or "[]")
    print(render(rows(shown)))
