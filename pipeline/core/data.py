"""Loading a dataset's raw IDX splits and its processed arrays."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.core import idx
from pipeline.core.config import Dataset
from pipeline.core.errors import PipelineError
from pipeline.core.files import atomic_path

SPLITS = ("train", "test")


@dataclass(frozen=True)
class RawSplit:
    images: np.ndarray  # (N, 28, 28) uint8
    labels: np.ndarray  # (N,) uint8


def load_raw_split(raw_dir: Path, dataset: Dataset, split: str) -> RawSplit:
    images_file = raw_dir / getattr(dataset.files, f"{split}_images").name
    labels_file = raw_dir / getattr(dataset.files, f"{split}_labels").name
    images, labels = idx.read(images_file), idx.read(labels_file)
    if images.ndim != 3:
        raise idx.IdxError(
            f"{images_file}: expected images (N, rows, cols), got shape {images.shape}"
        )
    if labels.ndim != 1:
        raise idx.IdxError(f"{labels_file}: expected labels (N,), got shape {labels.shape}")
    if len(images) != len(labels):
        raise idx.IdxError(
            f"{images_file} holds {len(images)} images but {labels_file} {len(labels)} labels"
        )
    return RawSplit(images, labels)


PROCESSED_SPLITS = ("train", "val", "test")
CONSTANTS = ("mean", "std", "pad")


def save_processed(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An .npz whose bytes depend only on the arrays (np.savez stamps the current time into the
    zip), so identical inputs give an identical file and DVC's run cache can recognise it."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for key, array in arrays.items():
            entry = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with archive.open(entry, "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, np.asanyarray(array), allow_pickle=False)


def load_processed(path: Path, splits: tuple[str, ...] = PROCESSED_SPLITS) -> dict[str, np.ndarray]:
    """The preprocess stage's arrays for `splits` (others are never read from disk: np.load is
    lazy); allow_pickle=False so a crafted file cannot run code."""
    keys = [f"{axis}_{split}" for split in splits for axis in ("x", "y")] + list(CONSTANTS)
    with np.load(path, allow_pickle=False) as archive:
        missing = [key for key in keys if key not in archive]
        if missing:
            raise PipelineError(f"{path}: missing arrays {missing}; rerun the preprocess stage")
        return {key: archive[key] for key in keys}
