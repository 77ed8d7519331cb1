"""Reproducibility switches and the environment facts recorded beside (not inside) the metrics."""

from __future__ import annotations

import os
import platform
from importlib import metadata

LIBRARIES = ("tensorflow", "keras", "numpy", "onnx", "onnxruntime", "dvc", "great-expectations")


def seed_everything(seed: int) -> None:
    """One seed for weights, shuffling and augmentation; deterministic kernels on."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def device() -> str:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return f"GPU ({', '.join(g.name for g in gpus)})" if gpus else f"CPU ({os.cpu_count()} cores)"


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found
