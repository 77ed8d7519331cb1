"""The README's results table, generated from the metrics files a benchmark run produced."""

from __future__ import annotations

import hashlib
import json
import re
import statistics
import tempfile
from pathlib import Path

import yaml

from pipeline.core import workspace
from pipeline.core.config import ParamsError, load_params, parse_params
from pipeline.core.paths import DatasetPaths, ProjectPaths
from pipeline.tools.params_edit import apply_overrides

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
LEVERS_BEGIN, LEVERS_END = "<!-- levers:begin -->", "<!-- levers:end -->"
LATEST_RESULTS = Path("bench/results/latest.json")  # python -m bench.run
SEEDS_RESULTS = Path("bench/results/seeds")  # python -m bench.seeds [--set KEY=VALUE ...]
DATASETS = ("mnist", "fashion_mnist")
# (label, folder of its metrics files, command): the default row shows the committed metrics,
# which `lenet verify` checks; the classic preset's are kept by `make bench`.
PRESETS = (
    ("default `params.yaml`", Path("metrics"), "make repro"),
    ("classic (LeCun et al. 1998)", Path("bench/results/classic-metrics"),
     "lenet apply presets/classic.yaml && dvc repro"),
)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def params_sha256(root: Path) -> str:
    """Which params.yaml a run measured: seed statistics are shown only beside the same params."""
    return hashlib.sha256(ProjectPaths(root).params.read_bytes()).hexdigest()


def seed_runs(root: Path) -> list[dict]:
    """Every `python -m bench.seeds` run kept in bench/results/seeds/, oldest commit first (by the
    commit's date: the files are named by its hash)."""
    runs = [json.loads(path.read_text()) for path in sorted((root / SEEDS_RESULTS).glob("*.json"))]
    return sorted(runs, key=lambda run: int(workspace.run(
        "git", "show", "-s", "--format=%ct", run["commit"], cwd=root).stdout))


def trained_settings(root: Path, commit: str, overrides: dict[str, object]) -> dict | None:
    """What a seeds run trained: params.yaml of `commit` with the run's overrides, as validated
    today (a key added since takes its default, which must be what the older code did); None
    where that file no longer validates (a key since renamed or retyped)."""
    with tempfile.TemporaryDirectory() as scratch:
        params_file = Path(scratch) / "params.yaml"
        params_file.write_text(workspace.run("git", "show", f"{commit}:params.yaml", cwd=root).stdout)
        try:
            apply_overrides(params_file, overrides, check=False)
            return parse_params(upgrade(yaml.safe_load(params_file.read_text())), params_file).resolved()
        except ParamsError:
            return None


def upgrade(raw: dict) -> dict:
    """An older params.yaml in today's shape, the same settings: `validate` is `validation`, and a
    train setting given as {dataset: value} is each dataset's own `datasets.<name>.train`."""
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
    raw["train"] = shared
    return raw


def metrics_accuracy(root: Path, ds: str) -> float:
    """Test accuracy in metrics/<ds>.json of the checkout at `root`."""
    return json.loads(DatasetPaths(ds, root).metrics.read_text())["test"]["accuracy"]


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
    settings = load_params(ProjectPaths(root).params).resolved() if any(r["overrides"] for r in runs) else None
    current = [run for run in runs if describes_params(root, run, settings)]
    return current[-1] if current else None


def seed_spread(seeds: dict | None) -> dict[str, str]:
    """" (seed 42); mean of 5 seeds (42 to 46): 99.42% ± 0.05% (min .., max ..)" per dataset,
    from the seeds run `seeds` (`current_seed_run`), if there is one."""
    if not seeds:
        return {}
    first, last = min(map(int, seeds["seeds"])), max(map(int, seeds["seeds"]))
    return {ds: (f" (seed {first}); mean of {s['seeds']} seeds ({first} to {last}): "
                 f"{s['mean']:.2%} ± {s['std']:.2%} (min {s['min']:.2%}, max {s['max']:.2%})")
            for ds, s in seeds["summary"].items()}


def results_section(root: Path, results: dict, targets: list[list[str]]) -> str:
    seeds = current_seed_run(root)
    rows = []
    for label, folder, command in PRESETS:
        metrics_dir = root / folder
        if not metrics_dir.is_dir():
            continue
        acc = {
            ds: json.loads((metrics_dir / f"{ds}.json").read_text())["test"]["accuracy"]
            for ds in ("mnist", "fashion_mnist")
        }
        spread = seed_spread(seeds) if folder == PRESETS[0][1] else {}
        rows.append([label, *(f"{acc[ds]:.2%}{spread.get(ds, '')}" for ds in ("mnist", "fashion_mnist")),
                     f"`{command}`"])
    table = markdown_table(["params", "MNIST test accuracy", "Fashion-MNIST test accuracy", "reproduce"], rows)
    targets_table = markdown_table(["target (this 2-core CPU machine)", "anchor", "measured", "pass"], targets)
    measured = f"at commit `{results['commit']}`" if "commit" in results else "before it recorded commits"
    lever = f" with {change_text(seeds['overrides'])}, since adopted" if seeds and seeds["overrides"] else ""
    means = f"`python -m bench.seeds` at `{seeds['commit'][:7]}`{lever}" if seeds else "`make bench-seeds`"
    return (f"{BEGIN}\n{table}\n\n{targets_table}\n\nGenerated by `make bench` from the metrics files it "
            f"produced, on {results['machine']}; targets measured {measured} (the 5-seed means by "
            f"{means}).\n{END}")


def change_text(overrides: dict[str, object]) -> str:
    return ", ".join(f"`{key}: {json.dumps(value)}`" for key, value in overrides.items())


def levers_section(root: Path) -> str:
    """One row per seeds run: the defaults', or a lever's (params.yaml keys changed from the
    defaults of the commit it names)."""
    rows = []
    for run in seed_runs(root):
        change = change_text(run["overrides"])
        seeds = sorted(map(int, run["seeds"]))
        cells = []
        for ds in DATASETS:
            stats = run["summary"].get(ds)
            epoch = [times[ds] for times in run.get("epoch_seconds", {}).values()
                     if times.get(ds) is not None]
            timing = f" ({statistics.median(epoch):.1f} s)" if epoch else ""
            cells.append("" if stats is None else f"{stats['mean']:.2%} ± {stats['std']:.2%}{timing}")
        rows.append([change or "the defaults", f"{seeds[0]}-{seeds[-1]}", *cells, f"`{run['commit'][:7]}`"])
    table = markdown_table(["change from the defaults", "seeds", "MNIST: mean ± std (epoch)",
                            "Fashion-MNIST: mean ± std (epoch)", "defaults of"], rows)
    return (f"{LEVERS_BEGIN}\n{table}\n\nGenerated from `{SEEDS_RESULTS}/`, written by "
            f"`python -m bench.seeds [--set KEY=VALUE ...]`; epoch: median seconds per epoch after "
            f"the first, over the seeds.\n{LEVERS_END}")


def update_readme(root: Path, results: dict | None, targets: list[list[str]] | None = None) -> None:
    """Rewrite the README's generated blocks: results and targets (`targets`: bench.run's rows of
    target, anchor, measured, pass/fail), and the levers table; without `results`, the levers
    table only (a lever's seeds say nothing about the committed defaults)."""
    readme = root / "README.md"
    text = readme.read_text()
    blocks = [(LEVERS_BEGIN, LEVERS_END, lambda: levers_section(root))]
    if results is not None:
        blocks.insert(0, (BEGIN, END, lambda: results_section(root, results, targets)))
    for begin, end, section in blocks:
        pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.DOTALL)
        if not pattern.search(text):
            raise SystemExit(f"{readme}: no {begin} ... {end} block to update")
        text = pattern.sub(lambda _, make=section: make(), text)
    readme.write_text(text)


if __name__ == "__main__":  # python -m bench.readme_table: the levers table from bench/results/seeds/
    update_readme(Path(__file__).resolve().parents[1], None)
