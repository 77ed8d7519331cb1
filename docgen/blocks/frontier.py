"""docs/design.md's time-to-accuracy blocks: the frontier (every seeds run that recorded its
training seconds: what it cost against what it reached, per dataset) and the measured ratio of
the defaults' training time to the old defaults' (bench/results/time_to_accuracy.json)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from docgen.blocks.seeds import cpu_text
from docgen.markdown import change_text, markdown_table, percent, title
from docgen.results import SEEDS_RESULTS, TIME_TO_ACCURACY, dataset_names, seed_runs
from docgen.targets import ACCURACY_FLOORS


def frontier_section(root: Path) -> str:
    """Per dataset, its seeds runs with training seconds, cheapest first."""
    runs = [run for run in seed_runs(root) if run.get("train_seconds")]
    if not runs:
        return "No seeds run has recorded training seconds yet (`python -m bench.seeds`)."
    parts = []
    for ds in dataset_names(root):
        rows = []
        for run in runs:
            stats = run["summary"].get(ds)
            seconds = [each[ds] for each in run["train_seconds"].values() if each.get(ds)]
            if stats is None or not seconds:
                continue
            floor = ACCURACY_FLOORS.get(ds)
            rows.append((statistics.median(seconds), [
                change_text(run["overrides"]) or "the defaults",
                f"{statistics.median(seconds):.0f} s",
                # Three decimals: 99.498% is under a 99.50% floor, though it rounds to it.
                f"{stats['mean']:.3%} ± {percent(stats['std'])}",
                f"{percent(stats['min'])} / {percent(stats['max'])}",
                "—" if floor is None else ("yes" if stats["mean"] >= floor else "no"),
                f"`{run['commit'][:7]}`",
            ]))
        if not rows:
            continue
        rows.sort(key=lambda row: row[0])
        floor = ACCURACY_FLOORS.get(ds)
        header = f"{title(ds)}: mean ≥ {percent(floor)}" if floor else f"{title(ds)}: floor"
        parts.append(markdown_table(
            ["change from the defaults of", "training (median)", "mean ± std",
             "lowest / highest", header, "commit"],
            [row for _, row in rows]))
    machines = sorted({cpu_text(run["cpu"]) for run in runs if "cpu" in run})
    return ("\n\n".join(parts) + "\n\n"
            f"Every seed trained by `python -m bench.seeds --set ...` in a scratch checkout of the "
            f"commit named, on {'; '.join(machines)}. Training: the train "
            f"stage's wall time, median over the seeds, one run each (rows run at other times on a "
            f"machine whose speed drifts: the time ratio below, both sides alternating in one "
            f"command, is the comparison to trust). Generated from "
            f"`{SEEDS_RESULTS}/` by `python -m docgen`.")


def time_to_accuracy_section(root: Path) -> str:
    """The defaults' training seconds against the old defaults', trained alternately."""
    path = root / TIME_TO_ACCURACY
    if not path.is_file():
        return "Not measured yet: `python -m bench.time_to_accuracy`."
    measured = json.loads(path.read_text())
    rows = []
    for ds, one in measured["datasets"].items():
        seconds = one["seconds"]
        rows.append([
            title(ds),
            f"{one['epochs']['baseline']} → {one['epochs']['current']}",
            ", ".join(f"{s:.0f}" for s in seconds["baseline"]) + " s",
            ", ".join(f"{s:.0f}" for s in seconds["current"]) + " s",
            f"{one['ratio']:.2f}",
        ])
    table = markdown_table(["dataset", "epochs", "old defaults (each run)", "defaults (each run)",
                            "time ratio (median of pairs)"], rows)
    return (f"{table}\n\n`python -m bench.time_to_accuracy` at commit `{measured['commit'][:7]}` "
            f"against the defaults of `{measured['baseline'][:7]}`, on "
            f"{cpu_text(measured['cpu'])}: each dataset's train stage, the two sides alternating "
            f"in scratch checkouts (seed 42). Generated from `{TIME_TO_ACCURACY}` by "
            f"`python -m docgen`.")
