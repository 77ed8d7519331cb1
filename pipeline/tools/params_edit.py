"""Write settings into params.yaml in place, keeping its comments, key order and layout.

Used to switch presets (presets/classic.yaml) and to adopt tuned hyperparameters, so that whatever
produced a number, params.yaml alone reproduces it afterwards. A preset may say "every dataset":
`datasets: {"*": {train: {epochs: 2}}}` sets `datasets.<name>.train.epochs` for each dataset the
params.yaml it is applied to defines (a key a file names for one dataset wins over its `*`).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import yaml
from ruamel.yaml import YAML

from pipeline.core.config import ParamsError, flatten, parse_params
from pipeline.core.files import write_text

EVERY_DATASET = "datasets.*."


def round_trip() -> YAML:
    """A ruamel loader/dumper that writes params.yaml and dvc.yaml back byte for byte where
    nothing changed: their indented lists, long lines and quotes as written."""
    loader = YAML()
    loader.preserve_quotes = True
    loader.indent(mapping=2, sequence=4, offset=2)
    loader.width = 4096
    return loader


def dump(document) -> str:
    buffer = io.StringIO()
    round_trip().dump(document, buffer)
    return buffer.getvalue()


def load_overrides(path: Path) -> dict[str, object]:
    try:
        tree = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ParamsError(f"{path}: cannot read overrides ({error})") from None
    if not isinstance(tree, dict) or not tree:
        raise ParamsError(f"{path}: expected a mapping of params.yaml keys to values")
    return flatten(tree)


def for_every_dataset(overrides: dict[str, object], datasets) -> dict[str, object]:
    """`datasets.*.<key>` as `datasets.<name>.<key>` for each of `datasets` (params.yaml's
    names), before the keys the overrides give for one dataset by name, which win."""
    expanded = {f"datasets.{name}.{key.removeprefix(EVERY_DATASET)}": value
                for key, value in overrides.items() if key.startswith(EVERY_DATASET)
                for name in datasets}
    return expanded | {key: value for key, value in overrides.items()
                       if not key.startswith(EVERY_DATASET)}


def apply_overrides(
    params_file: Path, overrides: dict[str, object], check: bool = True
) -> dict[str, tuple]:
    """Set each dotted key (its parent mapping must exist; the key itself may be new where the
    validated result allows it, e.g. datasets.mnist.train.batch_size) and return {key: (old, new)}
    that changed.

    The edited file is validated as a whole before it replaces params.yaml; `check=False` leaves
    that to the stages, for the params.yaml of another revision, whose keys this code may not know.
    """
    document = round_trip().load(Path(params_file).read_text())
    overrides = for_every_dataset(overrides, document.get("datasets") or {})
    changed = {}
    for dotted, value in overrides.items():
        node, *parents = document, *dotted.split(".")[:-1]
        for part in parents:
            if not isinstance(node, dict) or part not in node:
                raise ParamsError(
                    f"{params_file}: no key {dotted!r} to set (only known keys may be set)"
                )
            node = node[part]
        leaf = dotted.split(".")[-1]
        if not isinstance(node, dict) or (leaf not in node and not check):
            raise ParamsError(
                f"{params_file}: no key {dotted!r} to set (only known keys may be set)"
            )
        # A key new to its mapping (a dataset's own train setting) is checked with the whole file.
        if node.get(leaf) != value or leaf not in node:
            changed[dotted] = (node.get(leaf), value)
            node[leaf] = value
    text = dump(document)
    if check:
        parse_params(yaml.safe_load(text), params_file)
    if changed:
        write_text(params_file, text)
    return changed


def set_args(overrides: dict[str, object], params: dict | None = None) -> list[str]:
    """The same overrides as `dvc exp run -S key=value` arguments. With `params` (params.yaml as
    a tree), `datasets.*` keys name each of its datasets, and a key it lacks is `++key=value`
    (DVC refuses to add a key without it)."""
    if params is not None:
        overrides = for_every_dataset(overrides, params.get("datasets") or {})
    args = []
    for key, value in overrides.items():
        new = params is not None and not _has(params, key)
        args.append(f"-S{'++' if new else ''}{key}="
                    f"{value if isinstance(value, str) else json.dumps(value)}")
    return args


def _has(tree: dict, dotted: str) -> bool:
    node = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True
