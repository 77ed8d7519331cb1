"""The report's pictures: confusion matrices and training curves of two revisions."""

from __future__ import annotations

import io
import json

import matplotlib.pyplot as plt
import numpy as np

from pipeline.paths import DatasetPaths
from pipeline.report.diff import read_at


def confusion_figure(ds: str, classes: list[str], rev: str | None, title: str):
    text = read_at(DatasetPaths(ds).confusion, rev)
    if text is None:
        return None
    index = {name: i for i, name in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes)), dtype=int)
    for row in json.loads(text):
        matrix[index[row["actual"]], index[row["predicted"]]] += 1
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    ax.imshow(np.log1p(matrix), cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        if count:
            ax.text(j, i, str(count), ha="center", va="center", fontsize=6)
    ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=6)
    ax.set_yticks(range(len(classes)), classes, fontsize=6)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def curves_figure(ds: str, base: str, change: str | None):
    fig, ax = plt.subplots(figsize=(5, 3.2))
    drawn = False
    for rev, label, style in ((base, "base", "--"), (change, "this change", "-")):
        for split in ("train", "eval"):
            text = read_at(DatasetPaths(ds).training_curve(split, "accuracy"), rev)
            if text is None:
                continue
            rows = [line.split("\t") for line in text.strip().splitlines()[1:]]
            ax.plot([int(r[0]) + 1 for r in rows], [float(r[1]) for r in rows], style,
                    label=f"{label}: {'validation' if split == 'eval' else 'train'}")
            drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{ds}: training curves", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()
