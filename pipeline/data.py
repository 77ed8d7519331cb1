"""Loading a dataset's raw IDX splits and its processed arrays."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline import idx
from pipeline.config import Dataset
from pipeline.errors import PipelineError

SPLITS = ("train", "test")


@dataclass(frozen=True)
class RawSplit:
    images: np.ndarray  # (N, 28, 28) uint8
    labels: np.ndarray  # (N,) uint8
    images_file: Path
    labels_file: Path


def load_raw_split(raw_dir: Path, dataset: Dataset, split: str) -> RawSplit:
    images_file = raw_dir / getattr(dataset.files, f"{split}_images").name
    labels_file = raw_dir / getattr(dataset.files, f"{split}_labels").name
    images, labels = idx.read(images_file), idx.read(labels_file)
    if images.ndim != 3:
        raise idx.IdxError(f"{images_file}: expected images (N, rows, cols), got shape {images.shape}")
    if labels.ndim != 1:
        raise idx.IdxError(f"{labels_file}: expected labels (N,), got shape {labels.shape}")
    if len(images) != len(labels):
        raise idx.IdxError(
            f"{images_file} holds {len(images)} images but {labels_file} {len(labels)} labels"
        )
    return RawSplit(images, labels, images_file, labels_file)


PROCESSED_KEYS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test", "mean", "std", "pad")


def load_processed(path: Path) -> dict[str, np.ndarray]:
    """The preprocess stage's arrays; allow_pickle=False so a crafted file cannot run code."""
    with np.load(path, allow_pickle=False) as archive:
        missing = [key for key in PROCESSED_KEYS if key not in archive]
        if missing:
            raise PipelineError(f"{path}: missing arrays {missing}; rerun the preprocess stage")
        return {key: archive[key] for key in PROCESSED_KEYS}
