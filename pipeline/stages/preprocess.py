"""Preprocess stage: pad 28x28 to LeNet-5's 32x32, normalise, split off a stratified validation set.

The normalisation constants come from the training split only (never validation or test) and are
saved beside the arrays, so the export stage can bake the same arithmetic into the ONNX model.
"""

from __future__ import annotations

import numpy as np

from pipeline.core.config import Dataset, Preprocess
from pipeline.core.data import load_raw_split, save_processed
from pipeline.core.paths import DatasetPaths


def stratified_split(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation): `fraction` of each class, drawn with a seeded generator."""
    rng = np.random.default_rng(seed)
    val = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        val.append(rng.permutation(members)[: round(len(members) * fraction)])
    val_idx = np.sort(np.concatenate(val)) if val else np.array([], dtype=np.int64)
    train_idx = np.setdiff1d(np.arange(len(labels)), val_idx)
    return train_idx, val_idx


def normalisation(images: np.ndarray, method: str) -> tuple[float, float]:
    """(mean, std) such that (pixel - mean) / std is the network's input."""
    if method == "unit":
        return 0.0, 255.0
    pixels = images.astype(np.float64)
    return float(pixels.mean()), float(pixels.std())


def transform(images: np.ndarray, pad: int, mean: float, std: float) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 28+2*pad, 28+2*pad, 1), padded with background zeros."""
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad)))
    return ((padded.astype(np.float32) - np.float32(mean)) / np.float32(std))[..., np.newaxis]


def run(dataset: Dataset, settings: Preprocess, seed: int, paths: DatasetPaths) -> dict[str, int]:
    train = load_raw_split(paths.raw, dataset, "train")
    test = load_raw_split(paths.raw, dataset, "test")
    train_idx, val_idx = stratified_split(train.labels, settings.validation_fraction, seed)
    mean, std = normalisation(train.images[train_idx], settings.normalize)
    arrays = {
        "x_train": transform(train.images[train_idx], settings.pad, mean, std),
        "y_train": train.labels[train_idx].astype(np.int64),
        "x_val": transform(train.images[val_idx], settings.pad, mean, std),
        "y_val": train.labels[val_idx].astype(np.int64),
        "x_test": transform(test.images, settings.pad, mean, std),
        "y_test": test.labels.astype(np.int64),
        "mean": np.float32(mean),
        "std": np.float32(std),
        "pad": np.int64(settings.pad),
    }
    save_processed(paths.processed, arrays)
    return {"train": len(train_idx), "validation": len(val_idx), "test": len(test.labels)}
