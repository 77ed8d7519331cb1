"""The files the blocks are rendered from: where the benchmarks keep their results (the layout
that bench/ writes and this package reads), params.yaml's datasets, the committed metrics and
model cards, and which `python -m bench.seeds` run describes today's params.yaml."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml

from docgen.params_history import trained_settings
from pipeline.core import workspace
from pipeline.core.config import load_params
from pipeline.core.paths import DatasetPaths, ProjectPaths

RESULTS = Path("bench/results")
LATEST_RESULTS = RESULTS / "latest.json"  # python -m bench.run
SEEDS_RESULTS = RESULTS / "seeds"  # python -m bench.seeds [--set KEY=VALUE ...]
TIME_TO_ACCURACY = RESULTS / "time_to_accuracy.json"  # python -m bench.time_to_accuracy
CLASSIC_METRICS = RESULTS / "classic-metrics"  # python -m bench.run: the classic preset's
# python -m bench.grid_cost: what 20 seeds would take on 1, 5 and 20 machines
PROJECTED_MACHINES = (1, 5, 20)
PROJECTED_SEEDS = 20


def fresh_clone_file(kind: str, root: Path) -> Path:
    """python -m bench.fresh_clone's results: bench/results/fresh_clone-<warm|cold>.json."""
    return root / RESULTS / f"fresh_clone-{kind}.json"


def grid_cost_file(kind: str, root: Path) -> Path:
    """python -m bench.grid_cost's results: `kind` is tiny (synthetic data) or real."""
    return root / RESULTS / f"grid_cost-{kind}.json"


def suite_time_file(root: Path) -> Path:
    """python -m bench.suite_time's results: `make test` from fresh clones, per interpreter."""
    return root / RESULTS / "suite_time.json"


def dataset_names(root: Path) -> list[str]:
    """params.yaml's datasets, in its order."""
    return list(yaml.safe_load(ProjectPaths(root).params.read_text()).get("datasets") or {})


def params_sha256(root: Path) -> str:
    """Which params.yaml a run measured: seed statistics are shown only beside the same params."""
    return hashlib.sha256(ProjectPaths(root).params.read_bytes()).hexdigest()


def metrics_accuracy(root: Path, ds: str) -> float:
    """Test accuracy in metrics/<ds>.json of the checkout at `root`."""
    return json.loads(DatasetPaths(ds, root).metrics.read_text())["test"]["accuracy"]


def model_card(root: Path, ds: str) -> dict:
    return json.loads(DatasetPaths(ds, root).model_card_json.read_text())


def latest_results(root: Path) -> dict | None:
    """bench/results/latest.json, where `make bench` ran on this machine."""
    path = root / LATEST_RESULTS
    return json.loads(path.read_text()) if path.is_file() else None


def seed_runs(root: Path) -> list[dict]:
    """Every `python -m bench.seeds` run kept in bench/results/seeds/, oldest commit first (by the
    commit's date: the files are named by its hash)."""
    runs = [json.loads(path.read_text()) for path in sorted((root / SEEDS_RESULTS).glob("*.json"))]
    return sorted(runs, key=lambda run: int(workspace.run(
        "git", "show", "-s", "--format=%ct", run["commit"], cwd=root).stdout))


def describes_params(root: Path, run: dict, settings: dict | None) -> bool:
    """Whether a seeds run measured the params.yaml at `root` (`settings`, as validated): a run
    without --set on these very bytes, or a lever since adopted: the settings it trained are
    params.yaml's, and its own training of the first seed gave the committed metrics exactly (the
    same training, not only the same keys)."""
    if not run["overrides"]:
        return run["params_sha256"] == params_sha256(root)
    if trained_settings(root, run["commit"], run["overrides"]) != settings:
        return False
    first = run["seeds"][min(run["seeds"], key=int)]
    return all(accuracy == metrics_accuracy(root, ds) for ds, accuracy in first.items())


def current_seed_run(root: Path) -> dict | None:
    """The last `python -m bench.seeds` run that measured this params.yaml (`describes_params`)."""
    runs = seed_runs(root)
    # Validated once, and only where a lever needs comparing (a run without one compares bytes).
    settings = (
        load_params(ProjectPaths(root).params).resolved()
        if any(r["overrides"] for r in runs)
        else None
    )
    current = [run for run in runs if describes_params(root, run, settings)]
    return current[-1] if current else None
