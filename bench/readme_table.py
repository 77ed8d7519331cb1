"""The generated blocks of README.md and docs/*.md, rendered from what the benchmarks and the
pipeline wrote. No figure in those files is typed by hand where a command can write it.

A block sits between `<!-- NAME:begin -->` and `<!-- NAME:end -->`; everything between the two
markers is rewritten. The blocks and what each is rendered from:

    glance, setup-cost   README: metrics/, the model cards, dvc.lock, the current seeds run
    seeds, levers        docs/benchmarks.md: bench/results/seeds/ (python -m bench.seeds)
    results              docs/benchmarks.md: bench/results/latest.json (python -m bench.run,
                         i.e. `make bench`; that file stays on the machine that measured it)
    profile              docs/reproducibility.md: params.yaml and presets/fast.yaml
    onnx-metadata        docs/model.md: the committed model card (the ONNX file's metadata)
    architecture, tune   docs/design.md: LeNet-5 built from params.yaml; tune/dvc.lock,
                         reports/tune/
    commands             docs/pipeline.md: `lenet`'s commands, from pipeline.cli

    python -m bench.readme_table          # rewrite every block (results: where latest.json is)
    python -m bench.readme_table --check  # exit 1 naming the blocks that differ (test_docs.py)

`make bench` and `make bench-seeds` rewrite them all after measuring.
"""

from __future__ import annotations

import argparse
import csv
import functools
import hashlib
import json
import os
import re
import shlex
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import yaml

from pipeline.core import workspace
from pipeline.core.config import ParamsError, flatten, load_params, parse_params
from pipeline.core.paths import DatasetPaths, ProjectPaths
from pipeline.tools.params_edit import apply_overrides

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
LEVERS_BEGIN, LEVERS_END = "<!-- levers:begin -->", "<!-- levers:end -->"
BLOCK = re.compile(r"<!-- ([a-z][a-z0-9-]*):begin -->\n(.*?)<!-- \1:end -->", re.DOTALL)
LATEST_RESULTS = Path("bench/results/latest.json")  # python -m bench.run
SEEDS_RESULTS = Path("bench/results/seeds")  # python -m bench.seeds [--set KEY=VALUE ...]
# how tables name them; others: their key
TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}
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
    settings = (
        load_params(ProjectPaths(root).params).resolved()
        if any(r["overrides"] for r in runs)
        else None
    )
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
    names = dataset_names(root)
    rows = []
    for label, folder, command in PRESETS:
        metrics_dir = root / folder
        if not metrics_dir.is_dir():
            continue
        acc = {ds: json.loads((metrics_dir / f"{ds}.json").read_text())["test"]["accuracy"]
               for ds in names if (metrics_dir / f"{ds}.json").is_file()}
        spread = seed_spread(seeds) if folder == PRESETS[0][1] else {}
        rows.append(
            [
                label,
                *(f"{acc[ds]:.2%}{spread.get(ds, '')}" if ds in acc else "—" for ds in names),
                f"`{command}`",
            ]
        )
    table = markdown_table(
        ["params", *(f"{title(ds)} test accuracy" for ds in names), "reproduce"], rows
    )
    targets_table = markdown_table(
        ["target (this 2-core CPU machine)", "anchor", "measured", "pass"], targets
    )
    measured = (
        f"at commit `{results['commit']}`" if "commit" in results else "before it recorded commits"
    )
    lever = (
        f" with {change_text(seeds['overrides'])}, since adopted"
        if seeds and seeds["overrides"]
        else ""
    )
    means = (
        f"`python -m bench.seeds` at `{seeds['commit'][:7]}`{lever}"
        if seeds
        else "`make bench-seeds`"
    )
    return (f"{table}\n\n{targets_table}\n\nGenerated by `make bench` from the metrics files it "
            f"produced, on {results['machine']}; targets measured {measured} (the 5-seed means by "
            f"{means}).")


def change_text(overrides: dict[str, object]) -> str:
    return ", ".join(f"`{key}: {json.dumps(value)}`" for key, value in overrides.items())


def levers_section(root: Path) -> str:
    """One row per seeds run: the defaults', or a lever's (params.yaml keys changed from the
    defaults of the commit it names)."""
    rows = []
    runs = seed_runs(root)
    names = dataset_names(root)  # and any a run measured that params.yaml no longer defines
    names += [ds for run in runs for ds in run["summary"] if ds not in names]
    names = list(dict.fromkeys(names))
    for run in runs:
        change = change_text(run["overrides"])
        seeds = sorted(map(int, run["seeds"]))
        cells = []
        for ds in names:
            stats = run["summary"].get(ds)
            epoch = [times[ds] for times in run.get("epoch_seconds", {}).values()
                     if times.get(ds) is not None]
            timing = f" ({statistics.median(epoch):.1f} s)" if epoch else ""
            cells.append(
                "" if stats is None else f"{stats['mean']:.2%} ± {stats['std']:.2%}{timing}"
            )
        rows.append(
            [change or "the defaults", f"{seeds[0]}-{seeds[-1]}", *cells, f"`{run['commit'][:7]}`"]
        )
    table = markdown_table(
        [
            "change from the defaults",
            "seeds",
            *(f"{title(ds)}: mean ± std (epoch)" for ds in names),
            "defaults of",
        ],
        rows,
    )
    return (f"{table}\n\nGenerated from `{SEEDS_RESULTS}/`, written by "
            f"`python -m bench.seeds [--set KEY=VALUE ...]`; epoch: median seconds per epoch after "
            f"the first, over the seeds.")


# The blocks rendered from committed files (python -m bench.readme_table, tests/test_docs.py).

def percent(value: float) -> str:
    return f"{value:.2%}"


def dataset_names(root: Path) -> list[str]:
    return list(yaml.safe_load(ProjectPaths(root).params.read_text()).get("datasets") or {})


def title(ds: str) -> str:
    return TITLES.get(ds, ds)


def model_card(root: Path, ds: str) -> dict:
    return json.loads(DatasetPaths(ds, root).model_card_json.read_text())


def seeds_command(run: dict, names: list[str]) -> str:
    """The command that wrote a seeds run (its --set values as YAML reads them back); `names`:
    params.yaml's datasets, which a run of all of them need not name."""
    words = ["python", "-m", "bench.seeds", "--seeds", str(len(run["seeds"]))]
    for key, value in run["overrides"].items():
        shown = value if isinstance(value, str) else json.dumps(value)
        words += ["--set", shlex.quote(f"{key}={shown}")]
    if set(run["summary"]) != set(names):
        words += ["--datasets", *run["summary"]]
    return " ".join(words)


def cpu_text(cpu: dict) -> str:
    return f"{cpu['model']} ({cpu['vendor']}; {', '.join(cpu['flags'])}; {cpu['cores']} cores)"


def committed_machine(root: Path) -> str:
    """Where the committed models were trained, as their model cards say."""
    card = model_card(root, dataset_names(root)[0])["reproducibility"]
    honoured = "honoured" if card["honoured"] else f"not honoured ({card['note']})"
    return f"a CPU of vendor {card['cpu_vendor']}, the {card['cpu_isa']} profile {honoured}"


def seeds_machine(root: Path, run: dict) -> str:
    """The machine a seeds run trained on: recorded since bench.seeds keeps it; an older run that
    describes the committed params reproduced the committed metrics, hence trained on their kind."""
    if "cpu" in run:
        return cpu_text(run["cpu"])
    return (f"a machine its file does not record, of the committed models' kind (its first seed "
            f"gave their metrics exactly): {committed_machine(root)}")


def glance_section(root: Path) -> str:
    """README's results at a glance: the committed models and the current seeds run."""
    names = dataset_names(root)
    run = current_seed_run(root)
    metrics = {ds: json.loads(DatasetPaths(ds, root).metrics.read_text())["test"] for ds in names}
    seed = yaml.safe_load(ProjectPaths(root).params.read_text())["seed"]
    rows = [[f"committed model (seed {seed})", *(percent(metrics[ds]["accuracy"]) for ds in names)]]
    if run:
        first, last = min(map(int, run["seeds"])), max(map(int, run["seeds"]))
        stats = run["summary"]
        rows += [
            [f"mean ± std over {len(run['seeds'])} seeds ({first} to {last})",
             *(f"{percent(stats[ds]['mean'])} ± {percent(stats[ds]['std'])}" if ds in stats else "—"
               for ds in names)],
            ["lowest / highest seed",
             *(f"{percent(stats[ds]['min'])} / {percent(stats[ds]['max'])}" if ds in stats else "—"
               for ds in names)],
        ]
    table = markdown_table(["test accuracy", *(title(ds) for ds in names)], rows)
    if run:
        where = (cpu_text(run["cpu"]) if "cpu" in run
                 else "the same kind of CPU: its first seed gave the committed metrics exactly")
        seeds = f" and of `{seeds_command(run, names)}`, on {where}"
    else:
        seeds = "; no seeds run has measured this params.yaml yet (`make bench-seeds`)"
    return (f"{table}\n\nTest accuracy of the committed models (`metrics/`, trained on "
            f"{committed_machine(root)}){seeds}. Generated by `python -m bench.readme_table`; "
            f"every seed, with its commit and machine: [docs/benchmarks.md](docs/benchmarks.md).")


def megabytes(size: int) -> str:
    return f"{size / 1e6:.0f} MB"


def setup_cost_section(root: Path) -> str:
    """README's quick start: what `make repro` downloads and writes (dvc.lock's sizes), and how
    long the pipeline took: the newest measurement of a whole run after validation (the real
    grid-cost run's set one after another, benchmarks.md's `grid-cost` block), else the current
    seeds run's training; each with the machine its file records."""
    from bench.grid_cost import results_file

    lock = yaml.safe_load(ProjectPaths(root).dvc_lock.read_text())["stages"]
    names = dataset_names(root)
    downloads = {ds: sum(out["size"] for out in lock[f"download@{ds}"]["outs"]) for ds in names}
    outputs = {out["path"]: out["size"] for stage in lock.values() for out in stage.get("outs", [])}
    text = (
        f"Data: `make repro` downloads {megabytes(sum(downloads.values()))} "
        f"({', '.join(f'{title(ds)} {megabytes(size)}' for ds, size in downloads.items())}) and "
        f"writes {megabytes(sum(outputs.values()))} of outputs, kept again in DVC's cache "
        f"(`.dvc/cache`); sizes from `dvc.lock`."
    )
    grid_cost = results_file("real", root)
    run = current_seed_run(root)
    walls = sorted(run.get("wall_seconds", {}).values()) if run else []
    if grid_cost.is_file():
        measured = json.loads(grid_cost.read_text())
        machine = measured["machine"]
        text += (
            f" Time: a run with another seed (everything after validation: preprocessing, "
            f"training, evaluation and export of every dataset) took "
            f"{measured['median']['baseline_set_s'] / 60:.1f} min on {machine['model']} "
            f"({machine['cores']} cores), measured by `{measured['command']}` "
            f"([docs/benchmarks.md](docs/benchmarks.md#going-wide-what-a-grid-on-a-pool-costs)); "
            f"`make repro` adds the download and validation."
        )
    elif walls:
        text += (f" Time: training and evaluating every dataset took {walls[0] / 60:.1f} to "
                 f"{walls[-1] / 60:.1f} min per seed in the seeds run of the results above, on "
                 f"{seeds_machine(root, run)}; `make repro` adds the download, validation, "
                 f"preprocessing and export.")
    return text + " Generated by `python -m bench.readme_table`."


def seeds_section(root: Path) -> str:
    """docs/benchmarks.md: every seed of the seeds run that the results tables use."""
    run = current_seed_run(root)
    if not run:
        return ("No `python -m bench.seeds` run has measured this params.yaml: `make bench-seeds` "
                "writes one.")
    names = list(run["summary"])
    rows = []
    for seed in sorted(run["seeds"], key=int):
        epochs = run.get("epoch_seconds", {}).get(seed, {})
        wall = run.get("wall_seconds", {}).get(seed)
        rows.append(
            [
                seed,
                *(percent(run["seeds"][seed][ds]) for ds in names),
                *(f"{epochs[ds]:.1f} s" if epochs.get(ds) is not None else "—" for ds in names),
                f"{wall / 60:.1f} min" if wall is not None else "committed metrics",
            ]
        )
    for label in ("mean", "std", "min", "max"):
        rows.append(
            [label, *(percent(run["summary"][ds][label]) for ds in names), *([""] * len(names)), ""]
        )
    table = markdown_table(["seed", *(title(ds) for ds in names),
                            *(f"{title(ds)}: epoch" for ds in names), "training"], rows)
    lever = (
        f" It ran as a lever ({change_text(run['overrides'])}) that params.yaml has since adopted."
        if run["overrides"]
        else ""
    )
    return (
        f"{table}\n\n`{seeds_command(run, dataset_names(root))}` "
        f"at commit `{run['commit'][:7]}`, on "
        f"{seeds_machine(root, run)}.{lever} Test accuracy per seed; epoch: median seconds per "
        f"epoch after the first; training: wall time of both datasets' train and evaluate "
        f"stages. Generated from `{SEEDS_RESULTS}/` by `python -m bench.readme_table`."
    )


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
            "by `python -m bench.readme_table`.")


def onnx_metadata_section(root: Path) -> str:
    """docs/model.md: the committed model's ONNX metadata, as ONNX Runtime's custom_metadata_map
    gives it (export writes the model card's facts into the file: strings, structures as JSON)."""
    ds = dataset_names(root)[0]
    card = model_card(root, ds)
    lines = []
    for key, value in card.items():
        if key == "onnx_check":  # the card's own: the export check, not stored in the file
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        lines.append(f"{key}: {text[:97] + ' ...' if len(text) > 100 else text}")
    listing = "\n".join(lines)
    return (f"```\n{listing}\n```\n\nThe committed {title(ds)} model's metadata, from "
            f"`models/{ds}/model_card.json` (the same facts the export stage writes into the ONNX "
            f"file; values longer than 100 characters cut at ` ...`). Generated by "
            f"`python -m bench.readme_table`.")


def named(layer) -> str:
    """A layer's name where build_lenet5 gave it one (C1, S2, ...); Keras's numbered default names
    depend on what the process built before."""
    default = re.sub(r"(?<!^)(?=[A-Z])", "_", type(layer).__name__).lower()
    return "" if re.fullmatch(rf"{default}(_\d+)?", layer.name) else f"`{layer.name}`"


def kind(layer) -> str:
    function = getattr(layer, "activation", None)
    name = getattr(function, "__name__", "linear")
    return type(layer).__name__ + ("" if name == "linear" else f" ({name})")


def architecture_section(root: Path) -> str:
    """docs/design.md: LeNet-5 as params.yaml builds it, layer by layer, with its weight count."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up lines
    from pipeline.model.lenet import build_lenet5, count_trainable

    params = load_params(ProjectPaths(root).params)
    first = params.dataset(dataset_names(root)[0])
    side = 28 + 2 * params.preprocess.pad
    model = build_lenet5((side, side, 1), len(first.classes), params.model)
    rows = [[named(layer), kind(layer), " x ".join(map(str, layer.output.shape[1:])),
             f"{sum(int(w.numpy().size) for w in layer.trainable_weights):,}"]
            for layer in model.layers]
    table = markdown_table(["layer", "type", "output", "trainable weights"], rows)
    return (f"{table}\n\n{count_trainable(model):,} trainable weights in all, for a "
            f"{side}x{side} input and {len(first.classes)} classes. Generated from `params.yaml`'s "
            f"`model` by `python -m bench.readme_table` (it builds the model).")


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
        f"`reports/tune/` by `python -m bench.readme_table`."
    )


def actions(command) -> str:
    """ start\\|stop\\|status: a command's positional choices (pipes escaped: a table cell)."""
    return "".join(" " + "\\|".join(settings["choices"]) for flags, settings in command.options
                   if not flags[0].startswith("-") and "choices" in settings)


def commands_section(root: Path) -> str:
    """docs/pipeline.md: every `lenet` command and what it does, from the CLI's registry."""
    from pipeline.cli import REGISTRY
    from pipeline.command import GROUPS

    parts = []
    for group, heading in GROUPS.items():
        rows = [
            [
                f"`lenet {c.name}{actions(c)}`" + (" `--dataset NAME`" if c.per_dataset else ""),
                c.help,
            ]
            for c in REGISTRY.values()
            if c.group == group
        ]
        if rows:
            parts.append(f"{heading[0].upper()}{heading[1:]}:\n\n"
                         + markdown_table(["command", "what it does"], rows))
    return (
        "\n\n".join(parts)
        + "\n\nGenerated from `pipeline/cli.py` by `python -m bench.readme_table`."
    )


# name -> renderer: the blocks whose inputs are committed (results needs bench/results/latest.json).
def grid_cost_section(root: Path) -> str:
    """bench/grid_cost.py's runs (tiny and real data), side by side, with the projection."""
    from bench.grid_cost import MACHINES, PROJECTED_SEEDS, results_file

    runs = [json.loads(path.read_text()) for kind in ("tiny", "real")
            if (path := results_file(kind, root)).is_file()]
    if not runs:
        return (
            "No run yet: `python -m bench.grid_cost --tiny`, `python -m bench.grid_cost --seeds 5`."
        )

    def took(seconds: float) -> str:
        return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"

    header = ["", *(f"{'tiny synthetic data' if r['kind'] == 'tiny' else 'real data'}, "
                    f"{r['seeds']} seeds" for r in runs)]
    rows = [
        ["one trained set here, sets one after another (baseline)",
         *(took(r["median"]["baseline_set_s"]) for r in runs)],
        ["a trained set's compute on a worker (2 workers share the 2 cores)",
         *(took(r["median"]["worker_compute_s"]) for r in runs)],
        ["per-set overhead: worker's checkout + push, coordinator's `dvc exp pull`",
         *(took(r["median"]["overhead_s"]) for r in runs)],
        ["the whole grid on the pool of 2 (wall)", *(took(r["pool_wall_s"]) for r in runs)],
        *([f"projected: {PROJECTED_SEEDS} seeds on {m} machine{'s' if m > 1 else ''}",
           *(took(60 * r["projection_min"][str(m)]) for r in runs)] for m in MACHINES),
    ]
    sources = "; ".join(f"`{r['command']}` at commit {r['commit']} on {r['machine']['model']}"
                        for r in runs)
    accuracies = [
        f"{name} ({', '.join(f'{title(ds)} {percent(acc)}' for ds, acc in t['accuracy'].items())})"
        for r in runs if r["kind"] == "real" for name, t in r["sets"].items() if "accuracy" in t]
    if accuracies:
        sources += ". Test accuracy of the real grid's experiments: " + "; ".join(accuracies)
    return (markdown_table(header, rows) + "\n\nMedians over the trained sets. Measured by "
            + sources + ". Generated by `python -m bench.readme_table`.")


COMMITTED: dict[str, Callable[[Path], str]] = {
    "grid-cost": grid_cost_section,
    "glance": glance_section,
    "setup-cost": setup_cost_section,
    "seeds": seeds_section,
    "levers": levers_section,
    "profile": profile_section,
    "onnx-metadata": onnx_metadata_section,
    "architecture": architecture_section,
    "tune": tune_section,
    "commands": commands_section,
}


def doc_files(root: Path) -> list[Path]:
    """The files that hold generated blocks: README.md and docs/*.md."""
    readme = root / "README.md"
    return ([readme] if readme.is_file() else []) + sorted((root / "docs").glob("*.md"))


def latest_results(root: Path) -> dict | None:
    path = root / LATEST_RESULTS
    return json.loads(path.read_text()) if path.is_file() else None


def renderers(
    root: Path, results: dict | None, targets: list[list[str]] | None
) -> dict[str, Callable[[], str]]:
    """Each block's renderer, called at most once however many files hold the block."""
    blocks = {
        name: functools.cache(functools.partial(render, root)) for name, render in COMMITTED.items()
    }
    if results is not None:
        if targets is None:
            from bench.run import summary_rows

            targets = summary_rows(results)
        blocks["results"] = functools.cache(lambda: results_section(root, results, targets))
    return blocks


def rewrite(text: str, blocks: dict[str, Callable[[], str]]) -> tuple[str, set[str]]:
    """`text` with every block that `blocks` renders rewritten; and the names of those found."""
    found = set()

    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name not in blocks:
            return match.group(0)
        found.add(name)
        return f"<!-- {name}:begin -->\n{blocks[name]().rstrip()}\n<!-- {name}:end -->"

    return BLOCK.sub(replace, text), found


def update_docs(
    root: Path, results: dict | None, targets: list[list[str]] | None = None
) -> list[Path]:
    """Rewrite the generated blocks of README.md and docs/*.md: the `results` block from
    `results` (bench.run's; None leaves it as it is), every other from the committed files.
    Returns the files that changed."""
    blocks = renderers(root, results, targets)
    changed, seen = [], set()
    for path in doc_files(root):
        text = path.read_text()
        new, found = rewrite(text, blocks)
        seen |= found
        if new != text:
            path.write_text(new)
            changed.append(path)
    for required in ("levers", *(["results"] if results is not None else [])):
        if required not in seen:
            raise SystemExit(f"no <!-- {required}:begin --> ... <!-- {required}:end --> block in "
                             f"README.md or docs/*.md to update")
    return changed


def update_readme(root: Path, results: dict | None, targets: list[list[str]] | None = None) -> None:
    """What `make bench` and `make bench-seeds` call after measuring (update_docs)."""
    update_docs(root, results, targets)


def stale_blocks(root: Path) -> list[tuple[Path, str, str, str]]:
    """(file, block, as written, as generated) for every block that differs from what its
    generator writes now; `results` only where bench/results/latest.json is present."""
    blocks = renderers(root, latest_results(root), None)
    stale = []
    for path in doc_files(root):
        for match in BLOCK.finditer(path.read_text()):
            name, written = match.group(1), match.group(2).rstrip()
            if name in blocks and written != blocks[name]().rstrip():
                stale.append((path, name, written, blocks[name]().rstrip()))
    return stale


def main() -> int:
    cli = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    cli.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 naming every block that differs from its generator",
    )
    args = cli.parse_args()
    root = Path(__file__).resolve().parents[1]
    from pipeline.runtime import noise

    # TensorFlow's start-up lines, when the architecture block builds the model
    noise.drop_native_noise()
    if args.check:
        stale = stale_blocks(root)
        for path, name, _, _ in stale:
            print(f"{path.relative_to(root)}: block {name} differs from its generator")
        return 1 if stale else 0
    for path in update_docs(root, latest_results(root)):
        print(f"rewrote {path.relative_to(root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
