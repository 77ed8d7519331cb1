"""Tiny, learnable stand-ins for MNIST: IDX files the tests generate, a mirror, params for them,
and a real git + DVC project around them (used by the tests and by bench/flow_overhead.py)."""

from __future__ import annotations

import configparser
import copy
import gzip
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import yaml

from pipeline.core import idx, workspace
from pipeline.core.paths import ProjectPaths

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


def write_mirror(
    mirror: Path, mirror_dir: str, train_per_class=20, test_per_class=5, seed=0
) -> dict:
    """A mirror folder holding one tiny dataset; returns its params.yaml catalog entry."""
    train_x, train_y = make_split(train_per_class, seed)
    test_x, test_y = make_split(test_per_class, seed + 1)
    arrays = {
        "train_images": train_x,
        "train_labels": train_y,
        "test_images": test_x,
        "test_labels": test_y,
    }
    files = {
        key: {
            "name": FILES[key],
            "md5": write_idx_gz(mirror / mirror_dir / FILES[key], arrays[key]),
        }
        for key in FILES
    }
    return {
        "mirror_dir": mirror_dir,
        "urls": [],
        "files": files,
        "rows": {"train": len(train_y), "test": len(test_y)},
        "classes": [f"c{i}" for i in range(N_CLASSES)],
        "horizontal_flip": False,
        "train": {},  # its own train settings: none beyond the project's (tiny_params adds MNIST's)
    }


# The search of tests' tuned_template: a search killed after its second trial has one left.
TUNED_TRIALS = 3
# The `lenet` arguments of the grid in tests' experimented_template: tiny_params' learning rate
# (0.002), and another.
EXPERIMENTED_GRID = ("grid", "-S", "train.learning_rate=0.002,0.004", "--name", "rate")


def tiny_params(datasets: dict) -> dict:
    """The project's params.yaml with the given datasets and a seconds-long training run."""
    params = copy.deepcopy(yaml.safe_load((ROOT / "params.yaml").read_text()))
    own = dict(params["datasets"]["mnist"]["train"])
    params["datasets"] = datasets
    # The tiny digits stand in for MNIST: MNIST's own train settings, but epochs in the shared
    # `train` (tests change it there; a one-dataset project has no other to keep).
    params["train"]["epochs"] = own.pop("epochs")
    for entry in datasets.values():
        entry["train"] = {**own, **entry.get("train", {})}
    params["download"].update(attempts=2, backoff_seconds=0.01, timeout_seconds=5)
    params["preprocess"]["validation_fraction"] = 0.1
    # Pinned, not the default's: tests compare against other rates (0.001, 0.004, 0.01) and need
    # a visibly different model from each.
    params["train"].update(epochs=2, batch_size=32, learning_rate=0.002)
    params["evaluate"]["misclassified_grid"] = 9
    params["tune"].update(dataset=next(iter(datasets)), algorithm="random", max_trials=2, epochs=1)
    return params


def set_params(project: Path, section: str, **values) -> None:
    """Change keys of one section of `project`'s params.yaml."""
    path = project / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params[section].update(values)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def run_in(project: Path, *command: str, check: bool = True,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`command` in `project`, through the project's own runner (this interpreter first on PATH);
    `env` adds to this process's environment. The tests' one way to run a command."""
    return workspace.run(*command, cwd=project, check=check,
                         env=None if env is None else {**os.environ, **env})


def make_tiny_project(project: Path, params: dict, mirror: Path) -> Path:
    """Copy the pipeline into `project`, with `params`, as a committed git + DVC repository whose
    reference profile was built from `mirror` (the params' data)."""
    project.mkdir()
    shutil.copytree(
        ROOT / "pipeline", project / "pipeline", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("dvc.yaml", ".gitignore", "prefect.toml", "tune/dvc.yaml"):
        (project / name).parent.mkdir(exist_ok=True)
        shutil.copy(ROOT / name, project / name)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    link_web_assets(project)
    run_in(project, "git", "init", "-q", "-b", "main")
    run_in(project, "git", "config", "user.email", "tests@example.invalid")
    run_in(project, "git", "config", "user.name", "tests")
    run_in(project, "dvc", "init", "-q")
    run_in(project, "dvc", "config", "core.analytics", "false")
    with (project / ".dvc" / "config").open("a") as config:  # the offline plots template
        config.write(f"[plots]\n    html_template = {plots_template_setting()}\n")
    # suites/<dataset>.reference.json from the clean mirror, as a maintainer would, once.
    dataset = next(iter(params["datasets"]))
    with_mirror = {**os.environ, "LENET_DATA_MIRROR": mirror.as_uri()}
    for stage in ("download", "reference"):
        workspace.run(
            "python", "-m", "pipeline", stage, "--dataset", dataset, cwd=project, env=with_mirror
        )
    shutil.rmtree(project / "data")
    commit_all(project, "tiny project")
    return project


def link_web_assets(project: Path) -> None:
    """This checkout's installed offline web assets (`lenet assets`), in `project`: the pins
    copied (validate depends on them), node_modules and DVC's plots template linked."""
    ours = ProjectPaths(ROOT)
    assert ours.plots_template.exists(), f"{ours.plots_template}: missing: run `make install`"
    ProjectPaths(project).web_assets.mkdir(parents=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy(ours.web_assets / name, ProjectPaths(project).web_assets / name)
    workspace.share_web_assets(ROOT, project)


def plots_template_setting() -> str:
    """This repository's .dvc/config `plots.html_template` (relative to .dvc/)."""
    config = configparser.ConfigParser()
    config.read(ROOT / ".dvc" / "config")
    return config["plots"]["html_template"]


def commit_all(project: Path, message: str) -> None:
    run_in(project, "git", "add", "-A")
    run_in(project, "git", "commit", "-q", "-m", message)


def copy_project(template: Path, to: Path) -> Path:
    """A copy of a tiny project (its git history and DVC cache included): cheaper than building
    or reproducing one per test. DVC's machine-local state (.dvc/tmp) is left behind."""
    shutil.copytree(
        template, to, symlinks=True, ignore=lambda d, names: ["tmp"] if d.endswith(".dvc") else []
    )
    return to
