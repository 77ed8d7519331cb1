"""Evaluate stage: the test-set numbers the project reports, plus the plots that explain them.

metrics/<dataset>.json holds the headline numbers only (test accuracy, loss, errors, macro F1):
that file is what `dvc metrics diff` and `dvc exp show` compare. Per-class scores go to
reports/eval/<dataset>/per_class.json; timings and versions to reports/runtime/.
"""

from __future__ import annotations

import time

import keras
import matplotlib.pyplot as plt  # headless machines get the Agg backend automatically
import numpy as np

from pipeline.core.config import Dataset, Params
from pipeline.core.data import load_processed
from pipeline.core.files import atomic_path, write_json
from pipeline.core.metrics import confusion_matrix, per_class_scores
from pipeline.core.paths import DatasetPaths

# Registers the project's own Keras objects (the loss, the augmentation layer, the pooling layers
# AveragePooling2x2 and ConvAveragePool), which Keras needs to load a saved model.
from pipeline.model import lenet as _registers_custom_objects  # noqa: F401
from pipeline.runtime import machine, profile

PREDICT_BATCH = 1000


def save_misclassified_grid(target, images, y_true, y_pred, classes: list[str], count: int) -> None:
    """A grid of the first `count` misclassified test images, titled 'true -> predicted'."""
    wrong = np.flatnonzero(y_true != y_pred)[:count]
    cols = max(1, int(np.ceil(np.sqrt(max(len(wrong), 1)))))
    rows = max(1, int(np.ceil(len(wrong) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.8 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong, strict=False):
        ax.imshow(images[i], cmap="gray_r")
        ax.set_title(f"{classes[y_true[i]]}\n-> {classes[y_pred[i]]}", fontsize=7)
    fig.suptitle(
        f"{len(wrong)} of {int((y_true != y_pred).sum())} misclassified test images", fontsize=9
    )
    fig.tight_layout()
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def run(name: str, dataset: Dataset, params: Params, paths: DatasetPaths) -> dict:
    started = time.perf_counter()
    profile.seed_everything(params.seed, params.reproducibility)
    arrays = load_processed(paths.processed)
    x_test, y_test = arrays["x_test"], arrays["y_test"]
    model = keras.saving.load_model(paths.keras_model)
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=PREDICT_BATCH, verbose=0)
    y_pred = np.argmax(model.predict(x_test, batch_size=PREDICT_BATCH, verbose=0), axis=1)
    matrix = confusion_matrix(y_test, y_pred, len(dataset.classes))

    per_class = per_class_scores(matrix, dataset.classes)
    # The headline numbers only: every key here is a column of `dvc exp show` and
    # `dvc metrics diff`.
    metrics = {
        "test": {
            "accuracy": round(float(accuracy), 6),
            "loss": round(float(loss), 6),
            "errors": int((y_pred != y_test).sum()),
            "macro_f1": round(sum(c["f1"] for c in per_class.values()) / len(per_class), 6),
        },
    }
    write_json(paths.metrics, metrics)
    write_json(paths.per_class, per_class)
    write_json(
        paths.confusion,
        [
            {"actual": dataset.classes[a], "predicted": dataset.classes[p]}
            for a, p in zip(y_test, y_pred)
        ],
    )
    pad = int(arrays["pad"])
    side = x_test.shape[1]
    raw_view = x_test[:, pad : side - pad, pad : side - pad, 0] * arrays["std"] + arrays["mean"]
    save_misclassified_grid(
        paths.misclassified, raw_view, y_test, y_pred, dataset.classes,
        params.evaluate.misclassified_grid,
    )
    machine.record(paths, "evaluate", {**machine.facts(params.reproducibility),
                                       "wall_seconds": round(time.perf_counter() - started, 2)})
    return metrics
