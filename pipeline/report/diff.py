"""What changed between two revisions, as DVC sees it: metrics, params, per-image predictions,
training curves; and whether the workspace's committed results are stale."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.core import dag, metrics
from pipeline.core.paths import DatasetPaths, ProjectPaths

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


def revisions(base: str, change: str | None) -> tuple[str, ...]:
    """DVC's diff arguments: base against `change`, or against the workspace when None."""
    return (base,) if change is None else (base, change)


def metric_changes(
    base: str, change: str | None, datasets: list[str]
) -> dict[str, dict[str, Change]]:
    """{dataset: {"test.accuracy": Change, ...}} for metrics/<dataset>.json."""
    diff = dag.dvc_json("metrics", "diff", *revisions(base, change), "--all")
    changes = {}
    for ds in datasets:
        entries = diff.get(f"metrics/{ds}.json", {})
        changes[ds] = {key: Change(entries.get(key, {}).get("old"), entries.get(key, {}).get("new"))
                       for key in HEADLINE}
    return changes


def param_changes(base: str, change: str | None) -> list[tuple[str, object, object]]:
    diff = dag.dvc_json("params", "diff", *revisions(base, change))
    return [(key, value.get("old"), value.get("new"))
            for file_changes in diff.values() for key, value in sorted(file_changes.items())]


@functools.cache  # one report asks for the same files several times; each DVC read costs seconds
def read_at(path: Path, rev: str | None) -> str | None:
    """A file's text in the workspace (rev None) or at `rev` (git or DVC-tracked); None if
    absent."""
    if rev is None:
        return path.read_text() if path.exists() else None
    import dvc.api

    try:
        return dvc.api.read(path.as_posix(), rev=rev)
    except Exception:  # noqa: BLE001  absent at that revision, for whatever reason DVC gives
        return None


def per_class_at(ds: str, rev: str | None) -> dict[str, dict[str, float]] | None:
    """{class: {"precision", "recall", "f1"}} from reports/eval/<ds>/per_class.json at `rev` (or,
    before that file existed, from metrics/<ds>.json's "per_class")."""
    text = read_at(DatasetPaths(ds).per_class, rev)
    if text is not None:
        return json.loads(text)
    text = read_at(DatasetPaths(ds).metrics, rev)
    return None if text is None else json.loads(text).get("per_class")


def predictions_at(ds: str, rev: str | None) -> tuple[np.ndarray, np.ndarray] | None:
    """(actual, predicted) class names per test image at `rev` (metrics.predictions)."""
    text = read_at(DatasetPaths(ds).confusion, rev)
    return None if text is None else metrics.predictions(text)


def confusion_at(ds: str, classes: list[str], rev: str | None) -> np.ndarray | None:
    """The confusion matrix (rows: actual, columns: predicted, in `classes` order) at `rev`."""
    text = read_at(DatasetPaths(ds).confusion, rev)
    return None if text is None else metrics.confusion_of(text, classes)


def curve_at(ds: str, rev: str | None, split: str, metric: str) -> list[float] | None:
    """One value per epoch from dvclive's TSV (split "train" or "eval", i.e. validation)."""
    text = read_at(DatasetPaths(ds).training_curve(split, metric), rev)
    return None if text is None else metrics.curve(text)


def curves_at(ds: str, rev: str | None) -> dict[str, list[float] | None]:
    """Accuracy per epoch at `rev`: {"train": ..., "eval": ...} (eval: the validation split)."""
    return {split: curve_at(ds, rev, split, "accuracy") for split in ("train", "eval")}


# `dvc status` reasons that mean "the committed results are not what this code and these params
# produce"; missing outputs (a checkout without the DVC remote's data) are not among them.
STALE = ("modified", "new", "changed command")
# Stages that only present results (reports/index.html): they change no number, and their folder
# deps hold other stages' cached outputs, so a checkout without the remote's data shows them
# "modified".
PRESENTATION_STAGES = ("overview",)


def stale_stages() -> list[str]:
    """'stage: reason' for each stage of the pipeline (dvc.yaml; not the tuning search, not the
    presentation) whose dvc.lock entry no longer matches the code, params or command in the
    workspace."""
    status = dag.dvc_json("status", str(ProjectPaths().dvc_yaml))
    stale = []
    for stage, reasons in status.items():
        if stage in PRESENTATION_STAGES:
            continue
        for reason in reasons:
            if reason == "changed command":
                stale.append(f"{stage}: command changed")
            elif isinstance(reason, dict):
                for kind, entries in reason.items():
                    if kind != "changed deps":
                        continue
                    for dep, what in entries.items():
                        changes = what.items() if isinstance(what, dict) else [(dep, what)]
                        stale += [
                            f"{stage}: {name} {state}" for name, state in changes if state in STALE
                        ]
    return stale
