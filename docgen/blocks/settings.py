"""The blocks from committed settings: docs/reproducibility.md's `profile` (params.yaml beside
presets/fast.yaml) and docs/design.md's `tune` (the committed search against today's
params.yaml)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import yaml

from docgen.markdown import markdown_table, percent, title
from pipeline.core.config import flatten
from pipeline.core.paths import ProjectPaths

PROFILE_SETTINGS = {
    "cpu_isa": "oneDNN's instruction-set ceiling (`ONEDNN_MAX_CPU_ISA`)",
    "intra_op_threads": "threads inside one op (0: one per core)",
    "inter_op_threads": "ops run side by side (0: TensorFlow's default)",
    "onednn": "TensorFlow's oneDNN kernels (`TF_ENABLE_ONEDNN_OPTS`)",
    "accuracy_band": "where the profile cannot be honoured: "
                     "the test-accuracy change `verify` allows",
}


def profile_section(root: Path) -> str:
    """docs/reproducibility.md: the profile in params.yaml beside presets/fast.yaml."""
    default = yaml.safe_load(ProjectPaths(root).params.read_text())["reproducibility"]
    fast = yaml.safe_load((root / "presets/fast.yaml").read_text()).get("reproducibility", {})
    rows = [[f"`{key}`", PROFILE_SETTINGS.get(key, ""), f"`{json.dumps(value)}`",
             f"`{json.dumps(fast[key])}`" if key in fast else "as params.yaml"]
            for key, value in default.items()]
    table = markdown_table(
        ["setting", "what it pins", "params.yaml (portable)", "presets/fast.yaml"], rows
    )
    return (f"{table}\n\nGenerated from `params.yaml` and `presets/fast.yaml` "
            "by `python -m docgen`.")


ABSENT = object()


def shown(value: object) -> str:
    if value is ABSENT:
        return "no such key"
    return f"`{value:.4g}`" if isinstance(value, float) else f"`{json.dumps(value)}`"


def tune_section(root: Path) -> str:
    """docs/design.md: the committed tuning search, from its own outputs (tune/dvc.lock,
    reports/tune/), against today's params.yaml."""
    lock = yaml.safe_load((root / "tune/dvc.lock").read_text())["stages"]["tune"]
    searched = lock["params"]["params.yaml"]
    tune = searched["tune"]
    reports = ProjectPaths(root).tune_reports
    summary = json.loads((reports / "summary.json").read_text())
    best = flatten(yaml.safe_load((reports / "best_params.yaml").read_text()))
    with open(reports / "trials.csv", newline="") as trials_file:
        scores = [float(row[tune["objective"]]) for row in csv.DictReader(trials_file)]
    raw = yaml.safe_load(ProjectPaths(root).params.read_text())
    today, today_datasets = flatten(raw), set(raw["datasets"])
    ds = tune["dataset"]

    def now(key: str) -> tuple[str, object]:
        """Today's key and value for a key as the search's params.yaml named it: a train setting
        is the searched dataset's own where it has one; {dataset: value} is
        datasets.<name>.train."""
        _, name, *rest = key.split(".") if key.startswith("train.") else ("", "", "")
        if rest and rest[0] in today_datasets:
            own = f"datasets.{rest[0]}.train.{name}"
            return own, today.get(own, ABSENT)
        own = f"datasets.{ds}.train.{name}"
        if name and own in today:
            return own, today[own]
        return key, today.get(key, ABSENT)

    def today_cell(key: str) -> str:
        key_today, value = now(key)
        return shown(value) + (f" as `{key_today}`" if key_today != key else "")

    rows = [
        [f"`{key}`", shown(value), today_cell(key), "" if now(key)[1] == value else "differs"]
        for key, value in flatten(
            {k: searched[k] for k in ("model", "train") if k in searched}
        ).items()
    ]
    table = markdown_table(
        ["setting", "at the search (tune/dvc.lock)", "params.yaml today", ""], rows
    )
    winner = ", ".join(f"`{key}`: {shown(value)}" for key, value in best.items())
    return (
        f"The search: {tune['algorithm']}, {summary['completed_trials']} trials of "
        f"{tune['epochs']} epochs on {title(ds)}, objective {tune['objective']} (training and "
        f"validation splits only). Its best trial, {summary['best_trial']}, reached "
        f"{percent(summary['best_val_accuracy'])} {tune['objective']} with {winner}; the trials "
        f"ranged from {percent(min(scores))} to {percent(max(scores))}. It searched around the "
        f"settings of its time, not today's:\n\n{table}\n\nGenerated from `tune/dvc.lock` and "
        f"`reports/tune/` by `python -m docgen`."
    )
