"""Resume state: a killed training run continues from its last completed epoch, to the same bytes.

After every epoch the train stage saves everything the remaining epochs depend on: the model's
variables (weights, batch-norm statistics and the augmentation layer's seed state), the
optimizer's (step count, which also drives the learning-rate schedule, and its moments) and the
per-epoch logs. Shuffling is a pure function of (seed, epoch) (`epoch_batches`), so nothing else
carries over from one epoch to the next.

The state lives in .lenet/resume/, outside DVC's outputs (DVC deletes those before a stage runs),
and carries a key over everything that decides the numbers: the params the stage reads, the
training data's md5, the source of every pipeline module the process loaded and the library
versions. A state whose key differs is deleted, never used; the stage deletes its state when it
completes. The tuning search resumes the same way, from keras-tuner's own project folder
(`claim_folder`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

import pipeline
from pipeline.core import code
from pipeline.core.files import atomic_path

log = logging.getLogger(__name__)


def fingerprint(settings: dict, data_file: Path, versions: dict[str, str]) -> str:
    """sha256 over the settings, the data's content and the pipeline code this process loaded."""
    digest = hashlib.sha256(json.dumps([settings, versions], sort_keys=True).encode())
    with open(data_file, "rb") as handle:
        digest.update(hashlib.file_digest(handle, "md5").digest())
    loaded = sorted(Path(module.__file__) for name, module in list(sys.modules.items())
                    if name.split(".")[0] == "pipeline" and getattr(module, "__file__", None))
    digest.update(code.digest(loaded, Path(pipeline.__file__).parents[1]).encode())
    return digest.hexdigest()


@dataclass
class Progress:
    """What the epochs completed so far leave behind, besides the variables."""

    epochs_done: int = 0
    history: list[dict[str, float]] = field(default_factory=list)  # Keras's logs, one per epoch


class ResumeState:
    """One training run's resume file: save after each epoch, restore at start, drop at the end."""

    def __init__(self, path: Path, key: str):
        self.path, self.key = path, key

    def restore(self, model: keras.Model) -> Progress:
        """Load a matching state into `model` (and its optimizer); a stale one is deleted."""
        if not self.path.exists():
            return Progress()
        try:
            with np.load(self.path, allow_pickle=False) as state:
                stored = {name: state[name] for name in state.files}  # all read before any use
            meta = json.loads(str(stored.pop("meta")))
            if meta["key"] != self.key:
                log.info("%s was left by a run of other params, data or code: starting afresh",
                         self.path)
                self.drop()
                return Progress()
            _build_optimizer(model)
            pairs = _matched(model.variables, stored, "model")
            pairs += _matched(model.optimizer.variables, stored, "optimizer")
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:  # damaged: ignore it
            log.warning("%s is unreadable (%s): starting afresh", self.path, error)
            self.drop()
            return Progress()
        for variable, value in pairs:  # only once everything matched: never half-restored
            variable.assign(value)
        return Progress(meta["epochs_done"], meta["history"])

    def save(self, model: keras.Model, progress: Progress) -> None:
        arrays = {f"model_{i}": np.asarray(v) for i, v in enumerate(model.variables)}
        arrays |= {f"optimizer_{i}": np.asarray(v) for i, v in enumerate(model.optimizer.variables)}
        meta = {"key": self.key, "epochs_done": progress.epochs_done, "history": progress.history}
        with atomic_path(self.path) as tmp:
            np.savez(tmp, meta=np.array(json.dumps(meta)), **arrays)

    def drop(self) -> None:
        self.path.unlink(missing_ok=True)


def claim_folder(folder: Path, key: str) -> Path:
    """`folder`, emptied first unless a run with the same key left it (a resumable state)."""
    stamp = folder / "KEY"
    if folder.exists() and (not stamp.exists() or stamp.read_text() != key):
        log.info("%s was left by a run of other params, data or code: starting afresh", folder)
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stamp.write_text(key)
    return folder


def _build_optimizer(model: keras.Model) -> None:
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)


def _matched(variables, stored: dict[str, np.ndarray], prefix: str) -> list[tuple]:
    """(variable, stored value) pairs, in order; ValueError unless every shape matches."""
    names = sorted((k for k in stored if k.startswith(prefix + "_")),
                   key=lambda k: int(k.rsplit("_", 1)[1]))
    if len(names) != len(variables):
        raise ValueError(f"{len(names)} {prefix} variables stored, the model has {len(variables)}")
    for variable, name in zip(variables, names, strict=True):
        if tuple(stored[name].shape) != tuple(variable.shape):
            raise ValueError(f"{variable.path}: stored shape {stored[name].shape}, "
                             f"model {variable.shape}")
    return [(variable, stored[name]) for variable, name in zip(variables, names, strict=True)]


class SaveEachEpoch(keras.callbacks.Callback):
    """Saves the resume state at the end of every epoch and says so (the line tests wait for)."""

    def __init__(self, state: ResumeState, progress: Progress, epochs: int, label: str):
        super().__init__()
        self.state, self.progress, self.epochs, self.label = state, progress, epochs, label

    def on_epoch_end(self, epoch, logs=None):
        self.progress.epochs_done = epoch + 1
        self.progress.history.append({k: float(v) for k, v in (logs or {}).items()})
        self.state.save(self.model, self.progress)
        log.info("%s: epoch %d/%d done, resume state saved", self.label, epoch + 1, self.epochs)


def epoch_batches(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, first_epoch: int,
                  epochs: int):
    """Batches of epochs first_epoch..epochs-1, each epoch's order a pure function of
    (seed, epoch): stateless, so epoch 7 is shuffled the same whether or not the run restarted
    at epoch 5 (Keras's own shuffle draws from a random state that a new process resets)."""
    import tensorflow as tf

    images, labels = tf.constant(x), tf.constant(y)
    n = len(y)
    in_full_batches = n // batch_size * batch_size

    def shuffled(epoch):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(n, dtype=tf.int64), seed=tf.stack([tf.constant(seed, tf.int64), epoch]))
        # Whole batches as rows of one tensor, then the remainder: no per-image dataset elements.
        batches = tf.data.Dataset.from_tensor_slices(
            tf.reshape(order[:in_full_batches], [-1, batch_size]))
        if in_full_batches < n:
            batches = batches.concatenate(tf.data.Dataset.from_tensors(order[in_full_batches:]))
        return batches

    batches = tf.data.Dataset.range(first_epoch, epochs).flat_map(shuffled)
    return batches.map(lambda i: (tf.gather(images, i), tf.gather(labels, i)),
                       num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
