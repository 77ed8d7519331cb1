"""pipeline/core/metrics.py: counting the test results."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.core.metrics import confusion_matrix, per_class_scores


def test_confusion_matrix_counts_actual_rows_and_predicted_columns():
    matrix = confusion_matrix(np.array([0, 0, 0, 0, 1, 1]), np.array([0, 0, 0, 1, 1, 1]), 3)
    assert matrix.tolist() == [[3, 1, 0], [0, 2, 0], [0, 0, 0]]



def test_per_class_scores_by_hand_and_zero_for_a_class_never_seen():
    scores = per_class_scores(np.array([[3, 1, 0], [0, 2, 0], [0, 0, 0]]), ["a", "b", "never"])
    assert scores["a"] == {"precision": 1.0, "recall": 0.75, "f1": pytest.approx(0.857143)}
    assert scores["b"] == {"precision": pytest.approx(0.666667), "recall": 1.0, "f1": 0.8}
    assert scores["never"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
