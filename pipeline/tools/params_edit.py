"""Write settings into params.yaml in place, keeping its comments and key order.

Used to switch presets (presets/classic.yaml) and to adopt tuned hyperparameters, so that whatever
produced a number, params.yaml alone reproduces it afterwards.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import yaml
from ruamel.yaml import YAML

from pipeline.core.config import ParamsError, flatten, parse_params
from pipeline.core.files import write_text


def load_overrides(path: Path) -> dict[str, object]:
    try:
        tree = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ParamsError(f"{path}: cannot read overrides ({error})") from None
    if not isinstance(tree, dict) or not tree:
        raise ParamsError(f"{path}: expected a mapping of params.yaml keys to values")
    return flatten(tree)


def apply_overrides(params_file: Path, overrides: dict[str, object], check: bool = True) -> dict[str, tuple]:
    """Set each dotted key (its parent mapping must exist; the key itself may be new where the
    validated result allows it, e.g. datasets.mnist.train.batch_size) and return {key: (old, new)}
    that changed.

    The edited file is validated as a whole before it replaces params.yaml; `check=False` leaves
    that to the stages, for the params.yaml of another revision, whose keys this code may not know.
    """
    round_trip = YAML()
    round_trip.preserve_quotes = True
    document = round_trip.load(Path(params_file).read_text())
    changed = {}
    for dotted, value in overrides.items():
        node, *parents = document, *dotted.split(".")[:-1]
        for part in parents:
            if not isinstance(node, dict) or part not in node:
                raise ParamsError(f"{params_file}: no key {dotted!r} to set (only known keys may be set)")
            node = node[part]
        leaf = dotted.split(".")[-1]
        if not isinstance(node, dict) or (leaf not in node and not check):
            raise ParamsError(f"{params_file}: no key {dotted!r} to set (only known keys may be set)")
        # A key new to its mapping (a dataset's own train setting) is checked with the whole file.
        if node.get(leaf) != value or leaf not in node:
            changed[dotted] = (node.get(leaf), value)
            node[leaf] = value
    buffer = io.StringIO()
    round_trip.dump(document, buffer)
    if check:
        parse_params(yaml.safe_load(buffer.getvalue()), params_file)
    if changed:
        write_text(params_file, buffer.getvalue())
    return changed


def set_args(overrides: dict[str, object]) -> list[str]:
    """The same overrides as `dvc exp run -S key=value` arguments."""
    return [
        f"-S{key}={value if isinstance(value, str) else json.dumps(value)}"
        for key, value in overrides.items()
    ]
