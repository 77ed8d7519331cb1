"""Train stage: LeNet-5 on the processed arrays, deterministic for a given params.yaml."""

from __future__ import annotations

import logging
import shutil
import time

import keras
import numpy as np
from dvclive import Live
from dvclive.keras import DVCLiveCallback

from pipeline.core.config import Dataset, Params
from pipeline.core.data import load_processed
from pipeline.core.files import NoRoom, writing
from pipeline.core.paths import DatasetPaths
from pipeline.model import resume
from pipeline.model.lenet import (
    build_training_model,
    classifier_of,
    compile_model,
    count_trainable,
    save,
)
from pipeline.runtime import machine, profile

log = logging.getLogger(__name__)

# Validation is forward passes only: in batches this large it took 0.24 s per epoch instead of
# 0.33 s at the training batch of 256 (6,000 MNIST images, the 2-core Zen 4 EPYC).
VALIDATION_BATCH = 2048


class EpochTimer(keras.callbacks.Callback):
    """Wall time of each epoch, for the throughput figure (epoch 1 includes graph tracing)."""

    def __init__(self):
        super().__init__()
        self.durations: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.durations.append(time.perf_counter() - self._start)


def run(name: str, dataset: Dataset, params: Params, paths: DatasetPaths) -> dict:
    profile.seed_everything(params.seed, params.reproducibility)
    arrays = load_processed(paths.processed)
    x_train, y_train = arrays["x_train"], arrays["y_train"]
    validation = (arrays["x_val"], arrays["y_val"]) if len(arrays["y_val"]) else None
    cfg = params.train_for(name)
    steps_per_epoch = int(np.ceil(len(x_train) / cfg.batch_size))

    model = build_training_model(
        x_train.shape[1:], len(dataset.classes), params.model, cfg, flip=dataset.horizontal_flip
    )
    compile_model(model, cfg, steps_per_epoch)
    weights = count_trainable(classifier_of(model))
    device = machine.device()
    log.info(
        "%s: LeNet-5 (%d trainable weights), %d images, %d epochs, on %s",
        name, weights, len(x_train), cfg.epochs, device,
    )
    settings = {"dataset": name, "seed": params.seed, "model": params.model.model_dump(),
                "train": cfg.model_dump(), "flip": dataset.horizontal_flip,
                "profile": params.reproducibility.model_dump()}
    state = resume.ResumeState(
        paths.resume_state, resume.fingerprint(settings, paths.processed, machine.versions()))
    progress = state.restore(model)
    resumed_after = progress.epochs_done
    if resumed_after:
        log.info("%s: resuming after epoch %d/%d from %s", name, resumed_after, cfg.epochs,
                 paths.resume_state)
    timer = EpochTimer()
    started = time.perf_counter()
    try:
        with writing(paths.train_log), Live(dir=str(paths.train_log), dvcyaml=False,
                                            save_dvc_exp=False, report=None) as live:
            curves = DVCLiveCallback(live=live)
            # the finished epochs' curves, as logged
            for epoch, logs in enumerate(progress.history):
                curves.on_epoch_end(epoch, logs)
            model.fit(
                resume.epoch_batches(x_train, y_train, cfg.batch_size, params.seed, resumed_after,
                                     cfg.epochs),
                steps_per_epoch=steps_per_epoch, epochs=cfg.epochs, initial_epoch=resumed_after,
                shuffle=False,  # epoch_batches shuffles; Keras would only warn that it cannot
                validation_data=validation, validation_batch_size=VALIDATION_BATCH,
                callbacks=[curves, resume.SaveEachEpoch(state, progress, cfg.epochs, name), timer],
                verbose=2,
            )
    except NoRoom:  # no half-written curves left behind (a resumed run replays them)
        shutil.rmtree(paths.train_log, ignore_errors=True)
        raise
    wall = time.perf_counter() - started
    save(model, paths.keras_model)
    steady = timer.durations[1:] or timer.durations
    facts = {
        **machine.facts(params.reproducibility),
        "trainable_weights": weights,
        "train_images": len(x_train),
        "epochs": cfg.epochs,
        "resumed_after_epoch": resumed_after,
        "wall_seconds": round(wall, 2),
        "epoch_seconds": [round(d, 3) for d in timer.durations],
        "images_per_second": round(len(x_train) / float(np.median(steady)), 1) if steady else None,
    }
    machine.record(paths, "train", facts)
    state.drop()
    return facts
