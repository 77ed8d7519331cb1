"""Tiny, learnable stand-ins for MNIST: IDX files the tests generate, a mirror, and params for them."""

from __future__ import annotations

import copy
import gzip
from pathlib import Path

import numpy as np
import yaml

from pipeline import idx

ROOT = Path(__file__).resolve().parents[1]
N_CLASSES = 10
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


def make_split(n_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Each class is a bright 6x6 block at its own place on a noisy background."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(N_CLASSES, dtype=np.uint8), n_per_class)
    rng.shuffle(labels)
    images = rng.integers(0, 40, size=(len(labels), 28, 28), dtype=np.uint8)
    for i, label in enumerate(labels):
        row, col = 3 + (label % 5) * 4, 4 + (label // 5) * 12
        images[i, row : row + 6, col : col + 6] = 200 + rng.integers(0, 55)
    return images, labels


def write_idx_gz(path: Path, array: np.ndarray) -> str:
    """Write `array` as a gzip IDX file; returns the md5 of the decompressed content."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = idx.encode(array)
    path.write_bytes(gzip.compress(raw, mtime=0))
    return idx.md5(raw)


def write_mirror(mirror: Path, mirror_dir: str, train_per_class=20, test_per_class=5, seed=0) -> dict:
    """A mirror folder holding one tiny dataset; returns its params.yaml catalog entry."""
    train_x, train_y = make_split(train_per_class, seed)
    test_x, test_y = make_split(test_per_class, seed + 1)
    arrays = {"train_images": train_x, "train_labels": train_y, "test_images": test_x, "test_labels": test_y}
    files = {
        key: {"name": FILES[key], "md5": write_idx_gz(mirror / mirror_dir / FILES[key], arrays[key])}
        for key in FILES
    }
    return {
        "mirror_dir": mirror_dir,
        "urls": [],
        "files": files,
        "rows": {"train": len(train_y), "test": len(test_y)},
        "classes": [f"c{i}" for i in range(N_CLASSES)],
        "horizontal_flip": False,
    }


def tiny_params(datasets: dict) -> dict:
    """The project's params.yaml with the given datasets and a seconds-long training run."""
    params = copy.deepcopy(yaml.safe_load((ROOT / "params.yaml").read_text()))
    params["datasets"] = datasets
    params["download"].update(attempts=2, backoff_seconds=0.01, timeout_seconds=5)
    params["preprocess"]["validation_fraction"] = 0.1
    params["train"].update(epochs=2, batch_size=32)
    params["evaluate"]["misclassified_grid"] = 9
    params["tune"].update(dataset=next(iter(datasets)), algorithm="random", max_trials=2, epochs=1)
    return params
