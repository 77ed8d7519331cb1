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


def per_class_scores(matrix: np.ndarray, classes: list[str]) -> dict[str, dict[str, float]]:
    """Precision, recall and F1 of each class from a confusion matrix (rows actual, columns
    predicted), rounded to 6 places; 0 where a class was never predicted or never seen."""
    true_pos = np.diag(matrix).astype(np.float64)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
    precision = np.divide(true_pos, predicted, out=np.zeros_like(true_pos), where=predicted > 0)
    recall = np.divide(true_pos, actual, out=np.zeros_like(true_pos), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(true_pos), where=denom > 0)
    return {
        name: {
            "precision": round(float(p), 6),
            "recall": round(float(r), 6),
            "f1": round(float(f), 6),
        }
        for name, p, r, f in zip(classes, precision, recall, f1, strict=True)
    }


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
