"""The pictures of the reports: confusion matrices and training curves, of any revision."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np

from pipeline.report.diff import confusion_at, curve_at


def confusion_figure(ds: str, classes: list[str], rev: str | None, title: str):
    matrix = confusion_at(ds, classes, rev)
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


def curves_figure(ds: str, series: tuple[tuple[str | None, str, str], ...]):
    """Train and validation accuracy per epoch; one (revision, label, line style) per series."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    drawn = False
    for rev, label, style in series:
        for split in ("train", "eval"):
            values = curve_at(ds, rev, split, "accuracy")
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
