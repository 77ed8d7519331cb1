"""One renderer per generated block, by name: each takes the checkout's root and returns the
block's text. `results` is the writer's own: it needs bench/results/latest.json, which stays on
the machine that measured it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from docgen.blocks.commands import commands_section
from docgen.blocks.costs import (
    fresh_clone_section,
    grid_cost_section,
    setup_cost_section,
    suite_time_section,
)
from docgen.blocks.frontier import frontier_section, time_to_accuracy_section
from docgen.blocks.model import architecture_section, onnx_metadata_section
from docgen.blocks.seeds import glance_section, levers_section, seeds_section
from docgen.blocks.settings import profile_section, tune_section

COMMITTED: dict[str, Callable[[Path], str]] = {
    "grid-cost": grid_cost_section,
    "glance": glance_section,
    "setup-cost": setup_cost_section,
    "fresh-clone": fresh_clone_section,
    "suite-time": suite_time_section,
    "seeds": seeds_section,
    "levers": levers_section,
    "frontier": frontier_section,
    "time-to-accuracy": time_to_accuracy_section,
    "profile": profile_section,
    "onnx-metadata": onnx_metadata_section,
    "architecture": architecture_section,
    "tune": tune_section,
    "commands": commands_section,
}
