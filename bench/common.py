"""What the measuring scripts share, defined once: the checkout they measure, params.yaml's
datasets, where results go (the layout docgen reads, docgen/results.py), what the train stage
recorded about a run, and the KEY=VALUE setting of their command lines.

bench/ measures and writes JSON; docgen renders the docs from it. A measuring script imports this
module, pipeline, harness and docgen, never another measuring script (tests/test_layout.py)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

import yaml

from docgen import results
from docgen.results import metrics_accuracy, params_sha256
from pipeline.core.paths import DatasetPaths, ProjectPaths

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ProjectPaths(ROOT)
# params.yaml's datasets, as it names them: every one is measured
DATASETS = results.dataset_names(ROOT)
RESULTS = ROOT / results.RESULTS
LATEST_RESULTS = ROOT / results.LATEST_RESULTS  # python -m bench.run
SEEDS_RESULTS = ROOT / results.SEEDS_RESULTS  # python -m bench.seeds
TIME_TO_ACCURACY = ROOT / results.TIME_TO_ACCURACY  # python -m bench.time_to_accuracy
CLASSIC_METRICS = ROOT / results.CLASSIC_METRICS  # python -m bench.run, the classic preset

__all__ = ["CLASSIC_METRICS", "DATASETS", "LATEST_RESULTS", "PROJECT", "RESULTS", "ROOT",
           "SEEDS_RESULTS", "TIME_TO_ACCURACY", "fresh_clone_file", "grid_cost_file",
           "median_epoch", "metrics_accuracy", "newcomer_env", "params_sha256", "setting",
           "suite_time_file", "train_facts"]


def fresh_clone_file(kind: str) -> Path:
    """python -m bench.fresh_clone's results: bench/results/fresh_clone-<warm|cold>.json."""
    return results.fresh_clone_file(kind, ROOT)


def grid_cost_file(kind: str) -> Path:
    """python -m bench.grid_cost's results: bench/results/grid_cost-<tiny|real>.json."""
    return results.grid_cost_file(kind, ROOT)


def suite_time_file() -> Path:
    """python -m bench.suite_time's results: bench/results/suite_time.json."""
    return results.suite_time_file(ROOT)


def newcomer_env(*also: str) -> dict[str, str]:
    """This process's environment as a newcomer's fresh clone should see it: this checkout's .venv
    off PATH and no PYTHONPATH or VIRTUAL_ENV (the clone's make builds and uses its own), nor the
    variables named in `also`."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "VIRTUAL_ENV", *also)}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(ROOT)))
    return env


def setting(text: str) -> tuple[str, object]:
    """KEY=VALUE from the command line; VALUE is read as YAML (0.999, true, [1, 2], cosine)."""
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected KEY=VALUE, e.g. train.ema_momentum=0.999"
        )
    return key, yaml.safe_load(value)


def train_facts(ds: str, root: Path = ROOT) -> dict:
    """What the train stage recorded about its run in the checkout at `root`."""
    return json.loads((DatasetPaths(ds, root).runtime / "train.json").read_text())


def median_epoch(ds: str, root: Path = ROOT) -> float | None:
    """Seconds per epoch, the first (which traces the graph) left out; None when DVC restored the
    model from its run cache (an earlier run of the same params trained it, and timed it there)."""
    if not (DatasetPaths(ds, root).runtime / "train.json").is_file():
        return None
    epochs = train_facts(ds, root)["epoch_seconds"]
    return statistics.median(epochs[1:] or epochs)
