"""What changed between two revisions, as DVC sees it: metrics, params, and any tracked file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pipeline import workspace

HEADLINE = ("test.accuracy", "test.loss")


@dataclass(frozen=True)
class Change:
    old: float | None
    new: float | None

    @property
    def delta(self) -> float | None:
        return None if self.old is None or self.new is None else self.new - self.old

    @property
    def relative(self) -> float | None:
        return None if not self.old or self.delta is None else self.delta / abs(self.old)


def verdict(accuracy: Change, tolerance: float) -> str:
    """improved / unchanged / regressed, by test accuracy against a tolerance (absolute)."""
    if accuracy.delta is None:
        return "new" if accuracy.old is None else "removed"
    if accuracy.delta > tolerance:
        return "improved"
    if accuracy.delta < -tolerance:
        return "regressed"
    return "unchanged"


def _dvc_json(*args: str) -> dict:
    return json.loads(workspace.run("dvc", *args, "--json").stdout or "{}")


def revisions(base: str, change: str | None) -> tuple[str, ...]:
    """DVC's diff arguments: base against `change`, or against the workspace when None."""
    return (base,) if change is None else (base, change)


def metric_changes(base: str, change: str | None, datasets: list[str]) -> dict[str, dict[str, Change]]:
    """{dataset: {"test.accuracy": Change, ...}} for metrics/<dataset>.json."""
    diff = _dvc_json("metrics", "diff", *revisions(base, change), "--all")
    changes = {}
    for ds in datasets:
        entries = diff.get(f"metrics/{ds}.json", {})
        changes[ds] = {key: Change(entries.get(key, {}).get("old"), entries.get(key, {}).get("new"))
                       for key in HEADLINE}
    return changes


def param_changes(base: str, change: str | None) -> list[tuple[str, object, object]]:
    diff = _dvc_json("params", "diff", *revisions(base, change))
    return [(key, value.get("old"), value.get("new"))
            for file_changes in diff.values() for key, value in sorted(file_changes.items())]


def read_at(path: Path, rev: str | None) -> str | None:
    """A file's text in the workspace (rev None) or at `rev` (git or DVC-tracked); None if absent."""
    if rev is None:
        return path.read_text() if path.exists() else None
    import dvc.api

    try:
        return dvc.api.read(path.as_posix(), rev=rev)
    except Exception:  # noqa: BLE001  absent at that revision, for whatever reason DVC gives
        return None
