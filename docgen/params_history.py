"""What an older commit's params.yaml trained, read with today's code: older schemas migrated to
today's shape (the same settings), then validated."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml

from pipeline.core import workspace
from pipeline.core.config import ParamsError, parse_params
from pipeline.tools.params_edit import apply_overrides

# Train keys added since (params.yaml's shared `train` gives every key a default), each with the
# value that trains as the code before the key did: what a params.yaml without it trained.
ADDED_TRAIN_KEYS = {"warmup_epochs": 0}  # 0: the cosine schedule without a warm-up


def upgrade(raw: dict) -> dict:
    """An older params.yaml in today's shape, the same settings: `validate` is `validation`, a
    train setting given as {dataset: value} is each dataset's own `datasets.<name>.train`, and a
    train key added since (ADDED_TRAIN_KEYS) has the value that trained as before it."""
    raw = dict(raw)
    if "validate" in raw:
        raw["validation"] = raw.pop("validate")
    shared = {}
    for key, value in raw.get("train", {}).items():
        if isinstance(value, dict):
            for name, own in value.items():
                raw["datasets"][name].setdefault("train", {})[key] = own
        else:
            shared[key] = value
    raw["train"] = {**ADDED_TRAIN_KEYS, **shared}
    return raw


def trained_settings(root: Path, commit: str, overrides: dict[str, object]) -> dict | None:
    """What a seeds run trained: params.yaml of `commit` with the run's overrides, as validated
    today (a key added since takes its default, which must be what the older code did); None
    where that file no longer validates (a key since renamed or retyped)."""
    with tempfile.TemporaryDirectory() as scratch:
        params_file = Path(scratch) / "params.yaml"
        params_file.write_text(
            workspace.run("git", "show", f"{commit}:params.yaml", cwd=root).stdout
        )
        try:
            apply_overrides(params_file, overrides, check=False)
            return parse_params(
                upgrade(yaml.safe_load(params_file.read_text())), params_file
            ).resolved()
        except ParamsError:
            return None
