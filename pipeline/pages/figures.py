"""The pictures of the pages: a confusion matrix and training curves, drawn from numbers the
caller read (the overview from the workspace, the pull-request report from two revisions)."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np


def confusion_figure(matrix: np.ndarray | None, classes: list[str], title: str):
    if matrix is None:
        return None
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


def curves_figure(ds: str, series: list[tuple[str, str, dict[str, list[float] | None]]]):
    """Train and validation accuracy per epoch; one (label, line style, {"train": values,
    "eval": values}) per series (eval: the validation split)."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    drawn = False
    for label, style, curves in series:
        for split in ("train", "eval"):
            values = curves.get(split)
            if not values:
                continue
            name = "validation" if split == "eval" else "train"
            ax.plot(range(1, len(values) + 1), values, style,
                    label=f"{label}: {name}" if label else name)
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
