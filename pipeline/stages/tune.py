"""Tune stage: a keras-tuner search over the space declared in params.yaml's `tune` section.

It sees only the training and validation splits (the test arrays are never loaded), is seeded,
and writes the winner as a params.yaml fragment that `lenet apply` adopts, so the
accuracy the next `dvc repro` reports is reproducible from params.yaml alone.
"""

from __future__ import annotations

import csv
import json
import logging
import shutil
from pathlib import Path

import keras
import keras_tuner as kt
import matplotlib.pyplot as plt
import numpy as np
import yaml
from keras_tuner.src import utils as tuner_files

from pipeline.core.config import Params, SearchDimension
from pipeline.core.data import load_processed
from pipeline.core.errors import PipelineError
from pipeline.core.files import atomic_open, write_json, write_text
from pipeline.core.paths import DatasetPaths, ProjectPaths
from pipeline.model import resume
from pipeline.model.lenet import build_training_model, compile_model
from pipeline.runtime import machine, profile

log = logging.getLogger(__name__)
OUT_DIR = ProjectPaths().tune_reports
TUNERS = {"random": kt.RandomSearch, "hyperband": kt.Hyperband, "bayesian": kt.BayesianOptimization}


def _save_json_atomically(path, obj) -> str:
    """keras-tuner's `utils.save_json`, written beside the file and renamed onto it: its own
    truncates oracle.json and trial.json before writing them, so a search killed while saving
    (right after a trial) left an empty oracle.json that the resumed search could not read."""
    text = json.dumps(obj)
    write_text(Path(path), text)
    return text


tuner_files.save_json = _save_json_atomically  # looked up at each save by keras-tuner's modules


class TuneError(PipelineError):
    """The search could not run or produced no completed trial."""


def sample(hp: kt.HyperParameters, name: str, dim: SearchDimension):
    if dim.type == "choice":
        return hp.Choice(name, dim.values)
    if dim.type == "int":
        return hp.Int(
            name, int(dim.min), int(dim.max), step=int(dim.step or 1), sampling=dim.sampling
        )
    return hp.Float(name, dim.min, dim.max, step=dim.step, sampling=dim.sampling)


def train_key(params: Params, key: str) -> str:
    """Where params.yaml gives the searched dataset's `train.<x>`: its own datasets.<name>.train
    when that has the key, else the shared `train` (params.yaml's one resolution rule)."""
    section, field = key.split(".", 1)
    if section == "train" and getattr(params.dataset(params.tune.dataset).train, field) is not None:
        return f"datasets.{params.tune.dataset}.train.{field}"
    return key


def with_overrides(params: Params, values: dict[str, object]) -> Params:
    """params with {"train.learning_rate": ...}-style values applied where the searched dataset's
    value comes from (train_key), validated as a whole: the trial trains exactly what it names."""
    tree = params.model_dump()
    for key, value in values.items():
        *parents, field = train_key(params, key).split(".")
        node = tree
        for part in parents:
            node = node[part]
        node[field] = value
    return Params.model_validate(tree)


class LeNetHyperModel(kt.HyperModel):
    def __init__(self, params: Params, input_shape, n_classes: int, flip: bool, n_train: int):
        super().__init__()
        self.params, self.input_shape, self.n_classes = params, input_shape, n_classes
        self.flip, self.n_train = flip, n_train

    def trial_params(self, hp: kt.HyperParameters) -> Params:
        space = self.params.tune.space
        return with_overrides(self.params, {k: sample(hp, k, dim) for k, dim in space.items()})

    def build(self, hp):
        # Every trial starts from the same random state, so its score depends on its
        # hyperparameters alone: not on the trials before it, nor on a restart in between.
        keras.utils.set_random_seed(self.params.seed)
        trial = self.trial_params(hp)
        train = trial.train_for(self.params.tune.dataset)
        model = build_training_model(
            self.input_shape, self.n_classes, trial.model, train, self.flip
        )
        steps = int(np.ceil(self.n_train / train.batch_size))
        compile_model(model, train.model_copy(update={"epochs": self.params.tune.epochs}), steps)
        return model

    def fit(self, hp, model, *args, **kwargs):
        batch_size = self.trial_params(hp).train_for(self.params.tune.dataset).batch_size
        return model.fit(*args, batch_size=batch_size, **kwargs)


def run(params: Params) -> dict:
    cfg = params.tune
    dataset = params.dataset(cfg.dataset)
    paths = DatasetPaths(cfg.dataset)
    arrays = load_processed(paths.processed, splits=("train", "val"))  # never the test split
    if not len(arrays["y_val"]):
        raise TuneError("tuning needs a validation split: set preprocess.validation_fraction > 0")
    profile.seed_everything(params.seed, params.reproducibility)
    hypermodel = LeNetHyperModel(params, arrays["x_train"].shape[1:], len(dataset.classes),
                                 dataset.horizontal_flip, len(arrays["y_train"]))
    direction = "max" if cfg.objective == "val_accuracy" else "min"
    budget = (
        {"max_epochs": cfg.epochs}
        if cfg.algorithm == "hyperband"
        else {"max_trials": cfg.max_trials}
    )
    settings = {
        "seed": params.seed,
        "tune": cfg.model_dump(),
        "model": params.model.model_dump(),
        "train": params.train_for(cfg.dataset).model_dump(),
        "flip": dataset.horizontal_flip,
        "profile": params.reproducibility.model_dump(),
    }
    # keras-tuner's own project folder is the resume state: a killed search reloads it and
    # retries the trial that was running.
    workdir = resume.claim_folder(ProjectPaths().tune_resume, resume.fingerprint(
        settings, paths.processed, machine.versions()))
    tuner = TUNERS[cfg.algorithm](
        hypermodel, objective=kt.Objective(cfg.objective, direction), seed=params.seed,
        directory=str(workdir), project_name="lenet", overwrite=False, **budget,
    )
    done = sum(t.status == "COMPLETED" for t in tuner.oracle.trials.values())
    if done:
        log.info("resuming the search: %d trial(s) done in %s", done, workdir)
    log.info("%s search on %s: %s", cfg.algorithm, cfg.dataset, ", ".join(cfg.space))
    tuner.search(arrays["x_train"], arrays["y_train"], epochs=cfg.epochs,
                 validation_data=(arrays["x_val"], arrays["y_val"]), verbose=0,
                 callbacks=[_TrialLogger()])
    trials = [t for t in tuner.oracle.trials.values() if t.status == "COMPLETED"]
    if not trials:
        failed = [t for t in tuner.oracle.trials.values() if t.status != "COMPLETED"]
        reason = failed[0].message if failed else "no trial ran"
        raise TuneError(f"no trial completed ({len(failed)} failed): {reason}")
    best = tuner.oracle.get_best_trials(1)[0]
    best_values = {k: best.hyperparameters.get(k) for k in cfg.space}
    summary = _write_outputs(cfg.objective, trials, best, best_values, direction, params)
    shutil.rmtree(workdir)
    return summary


class _TrialLogger(keras.callbacks.Callback):
    def on_train_end(self, logs=None):
        log.info("trial done: %s", {k: round(float(v), 4) for k, v in (logs or {}).items()})


def _nested(values: dict[str, object], params: Params) -> dict:
    """The winners as a params.yaml tree, each at the key the searched dataset's value comes from
    (train_key): `lenet apply` then makes that dataset train exactly the winner."""
    tree: dict = {}
    for key, value in values.items():
        *parents, field = train_key(params, key).split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[field] = value.item() if isinstance(value, np.generic) else value
    return tree


def _write_outputs(objective, trials, best, best_values, direction, params: Params) -> dict:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    header = "# Best hyperparameters of the last `dvc repro tune/dvc.yaml`.\n"
    header += "# Adopt with: lenet apply reports/tune/best_params.yaml\n"
    write_text(
        OUT_DIR / "best_params.yaml",
        header + yaml.safe_dump(_nested(best_values, params), sort_keys=False),
    )
    keys = list(best_values)
    ordered = sorted(trials, key=lambda t: int(t.trial_id))
    with atomic_open(OUT_DIR / "trials.csv") as handle:
        writer = csv.writer(handle)
        writer.writerow(["trial", *keys, objective])
        for trial in ordered:
            writer.writerow(
                [trial.trial_id, *(trial.hyperparameters.get(k) for k in keys), trial.score]
            )
    scores = np.array([t.score for t in ordered], dtype=float)
    best_so_far = (
        np.maximum.accumulate(scores) if direction == "max" else np.minimum.accumulate(scores)
    )
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(range(1, len(scores) + 1), scores, "o", label="trial")
    ax.plot(range(1, len(scores) + 1), best_so_far, "-", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(objective)
    ax.legend()
    fig.tight_layout()
    with atomic_open(OUT_DIR / "search.png", "wb") as handle:
        fig.savefig(handle, format="png", dpi=100)
    plt.close(fig)
    summary = {"best_trial": best.trial_id, f"best_{objective}": float(best.score),
               "completed_trials": len(trials)}
    write_json(OUT_DIR / "summary.json", summary)
    return summary
