"""Counting the results: the confusion matrix and the per-epoch curves, however they are stored.
One implementation for the evaluate stage (from arrays), the overview and the pull-request report
(from reports/eval/<dataset>/confusion.json and dvclive's TSVs, of the workspace or a revision)."""

from __future__ import annotations

import json

import numpy as np


def confusion_matrix(actual: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Rows: actual class index, columns: predicted class index."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(actual), np.asarray(predicted)), 1)
    return matrix


def predictions(confusion_json: str) -> tuple[np.ndarray, np.ndarray]:
    """(actual, predicted) class names per test image, in test-set order: the evaluate stage's
    confusion.json has one row per image."""
    rows = json.loads(confusion_json)
    return np.array([r["actual"] for r in rows]), np.array([r["predicted"] for r in rows])


def confusion_of(confusion_json: str, classes: list[str]) -> np.ndarray:
    """The confusion matrix of a confusion.json, in `classes` order."""
    actual, predicted = predictions(confusion_json)
    index = {name: i for i, name in enumerate(classes)}
    return confusion_matrix([index[a] for a in actual], [index[p] for p in predicted], len(classes))


def curve(tsv: str) -> list[float]:
    """One value per epoch from a dvclive TSV (a header line, then step<TAB>value rows)."""
    return [float(line.split("\t")[1]) for line in tsv.strip().splitlines()[1:]]
