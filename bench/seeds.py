"""Accuracy across seeds: is the default params.yaml good, or lucky? And does a change help?

    make bench-seeds [SEEDS=5]     # python -m bench.seeds --seeds 5 --update-readme
    python -m bench.seeds --set train.ema_momentum=0.999 [--set KEY=VALUE ...] [--datasets mnist]
    python -m bench.seeds --train-all    # every seed trained here, e.g. on another kind of CPU
    python -m bench.seeds --render       # train nothing: rewrite the docs from bench/results/seeds/
    make bench-seeds POOL=cpu            # the seeds as a `lenet grid` on the workers of pool cpu

Seed k of N is params.yaml's `seed` + k. The defaults' seeds run as one `lenet grid --seeds N`
(here, one DVC experiment after another, or with --pool on a pool's workers): its experiments are
what `lenet exp` and `lenet exp --html` show, and the first seed's set, restored from DVC's run
cache, must give the committed metrics. A lever's seeds (--set) and --train-all's are trained and
evaluated each in a scratch checkout of HEAD that shares this checkout's DVC cache (params.yaml
edited there only), through the same `dvc repro`, so that each records its training seconds
(docs/design.md's frontier), which an experiment does not keep. Prints each seed's test
accuracy, and per dataset the mean, sample standard deviation, min and max.

Each run is kept as bench/results/seeds/<commit>_<settings changed, or "defaults">.json, with the
CPU it ran on: a row of docs/benchmarks.md's levers table; a run without --set on the committed
params.yaml also gives the results tables (README, docs/benchmarks.md) their mean ± std and
docs/benchmarks.md its per-seed table, and so does a lever's once params.yaml
adopts it (`docgen.results.describes_params`: same settings, its first seed the committed
metrics).
With --set (a lever: params.yaml keys changed from HEAD's) every seed is trained. About 5 minutes
per trained seed of both datasets on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

from bench.common import (
    DATASETS,
    ROOT,
    SEEDS_RESULTS,
    median_epoch,
    metrics_accuracy,
    params_sha256,
    setting,
    train_facts,
)
from docgen.markdown import markdown_table
from docgen.results import latest_results
from docgen.targets import SEED_MEAN_TARGETS, summary_rows
from docgen.writer import update_docs
from pipeline.core import workspace
from pipeline.core.config import load_params
from pipeline.core.paths import ProjectPaths
from pipeline.runtime import machine
from pipeline.tools.params_edit import apply_overrides


def train_seconds(ds: str, checkout: Path) -> float | None:
    """The train stage's wall time; None when DVC restored the model from its run cache."""
    return train_facts(ds, checkout)["wall_seconds"] if median_epoch(ds, checkout) else None


def trained_with_seed(
    commit: str, seed: int, datasets: list[str], overrides: dict[str, object]
) -> dict:
    """Test accuracy and median epoch time per dataset, and the wall time, with params.yaml's seed
    set to `seed` and `overrides` applied, from a scratch checkout of `commit`."""
    with workspace.scratch_checkout(commit, ROOT) as checkout:
        apply_overrides(ProjectPaths(checkout).params, {**overrides, "seed": seed})
        started = time.perf_counter()
        workspace.run("dvc", "repro", *[f"evaluate@{ds}" for ds in datasets], cwd=checkout,
                      capture=False)
        return {"accuracy": {ds: metrics_accuracy(checkout, ds) for ds in datasets},
                "epoch_seconds": {ds: median_epoch(ds, checkout) for ds in datasets},
                "train_seconds": {ds: train_seconds(ds, checkout) for ds in datasets},
                "wall_seconds": time.perf_counter() - started}


def trained_by_grid(pool: str | None, seeds: list[int], datasets: list[str],
                    overrides: dict[str, object]) -> dict[int, dict[str, float]]:
    """Test accuracy per seed and dataset, the seeds trained as one `lenet grid`: on `pool`'s
    workers (docs/operations.md: HEAD pushed, a shared DVC remote), or here, one experiment after
    another (the workspace then holds the last one: it is put back to HEAD's results); read from
    the experiments, which `lenet exp` and `lenet exp --html` show."""
    if not seeds:
        return {}
    from pipeline.orchestration import server

    if pool is None:
        changed = workspace.run("git", "status", "--porcelain", "--untracked-files=no",
                                cwd=ROOT).stdout
        if changed:
            raise SystemExit(f"the seeds run as experiments in this workspace: commit or stash "
                             f"these first:\n{changed}")
    else:
        server.connect()  # before Prefect is imported: it reads its settings once
    from pipeline.orchestration import grid

    settings = [f"seed={','.join(map(str, seeds))}",
                *(f"{key}={json.dumps(value)}" for key, value in overrides.items())]
    try:
        if grid.run(None, settings, pool, None, "origin", retries=2, time_limit=None, root=ROOT):
            raise SystemExit(f"the grid on pool {pool} had failed sets (above)")
    finally:
        if pool is None:
            workspace.run("git", "checkout", "--", ".", cwd=ROOT)
            # dvc.yaml's outputs only: the search's (tune/dvc.yaml) are in no cache until it runs.
            workspace.run("dvc", "checkout", "--quiet", "dvc.yaml", cwd=ROOT)
    per_seed = {}
    commit = workspace.run("git", "rev-parse", "HEAD", cwd=ROOT).stdout.strip()
    planned = grid.plan(ProjectPaths(ROOT).params.read_text(), None, settings, None, commit)
    for seed, one in zip(seeds, planned, strict=True):
        per_seed[seed] = {ds: json.loads(grid.experiment_file(ROOT, one.name, f"metrics/{ds}.json"))
                          ["test"]["accuracy"] for ds in datasets}
    return per_seed


def summary(per_seed: dict[int, dict[str, float]], datasets: list[str]) -> dict[str, dict]:
    stats = {}
    for ds in datasets:
        values = [accuracies[ds] for accuracies in per_seed.values()]
        stats[ds] = {"mean": statistics.fmean(values),
                     "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                     "min": min(values), "max": max(values), "seeds": len(values)}
    return stats


def results_file(commit: str, overrides: dict[str, object]) -> Path:
    """bench/results/seeds/<commit>_<settings changed, or "defaults">.json."""
    name = "_".join(f"{key}={json.dumps(value)}" for key, value in sorted(overrides.items()))
    return (
        SEEDS_RESULTS / f"{commit[:7]}_{re.sub(r'[^A-Za-z0-9_.=-]+', '-', name or 'defaults')}.json"
    )


def main() -> int:
    cli = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    cli.add_argument("--seeds", type=int, default=5, help="how many seeds, the committed one first")
    cli.add_argument("--set", type=setting, action="append", default=[], metavar="KEY=VALUE",
                     help="a params.yaml key changed from HEAD's for every seed (repeatable)")
    cli.add_argument("--datasets", nargs="+", help="only these datasets (default: all)")
    cli.add_argument("--pool", help="train the seeds as a `lenet grid` on this Prefect pool's "
                     "workers (default: here, one after another)")
    cli.add_argument("--update-readme", action="store_true",
                     help="rewrite the generated blocks of docs/benchmarks.md and README.md")
    cli.add_argument("--render", action="store_true",
                     help="train nothing: rewrite those blocks from the stored results")
    cli.add_argument(
        "--train-all",
        action="store_true",
        help="train the committed seed too (on another kind of CPU than the one that committed "
        "the metrics); prints only: the README's tables hold the committing machine's runs",
    )
    args = cli.parse_args()
    if args.render:
        results = latest_results(ROOT)
        update_docs(ROOT, results, summary_rows(results, ROOT) if results else None)
        return 0
    if args.train_all and args.update_readme:
        cli.error("--train-all prints only; it cannot update the README")
    params = load_params(ProjectPaths(ROOT).params)
    datasets = args.datasets or DATASETS
    unknown = sorted(set(datasets) - set(params.datasets))
    if unknown:
        cli.error(f"unknown datasets {unknown}; params.yaml defines {sorted(params.datasets)}")
    overrides = dict(args.set)
    seeds = [params.seed + k for k in range(args.seeds)]
    # Every seed trains this commit, whatever is committed while they run.
    commit = workspace.run("git", "rev-parse", "HEAD", cwd=ROOT).stdout.strip()

    per_seed, epoch_seconds, train_seconds, walls = {}, {}, {}, {}
    if args.pool or not (overrides or args.train_all):
        # The defaults' seeds (or any on a pool) as one `lenet grid`; the committed seed's set is
        # restored from DVC's run cache, and must give the committed metrics.
        per_seed.update(trained_by_grid(args.pool, seeds, datasets, overrides))
        committed = {ds: metrics_accuracy(ROOT, ds) for ds in datasets}
        if not overrides and per_seed[seeds[0]] != committed:
            raise SystemExit(f"seed {seeds[0]}'s experiment gave {per_seed[seeds[0]]}, not the "
                             f"committed metrics {committed}: on another kind of CPU than the "
                             f"one that committed them, use --train-all")
    for seed in seeds:
        if seed in per_seed:
            continue
        print(f"seed {seed}: training {', '.join(datasets)} in a scratch checkout", flush=True)
        run = trained_with_seed(commit, seed, datasets, overrides)
        per_seed[seed], epoch_seconds[seed], train_seconds[seed], walls[seed] = (
            run["accuracy"], run["epoch_seconds"], run["train_seconds"], run["wall_seconds"])
        print(f"seed {seed}: " + ", ".join(f"{ds} {acc:.2%}" for ds, acc in per_seed[seed].items())
              + f" ({walls[seed] / 60:.1f} min)", flush=True)
    stats = summary(per_seed, datasets)
    if not args.train_all:
        results = {"overrides": overrides, "seeds": per_seed, "summary": stats,
                   "epoch_seconds": epoch_seconds, "train_seconds": train_seconds,
                   "wall_seconds": walls,
                   "params_sha256": params_sha256(ROOT), "commit": commit, "cpu": machine.cpu()}
        results_path = results_file(commit, overrides)
        results_path.parent.mkdir(parents=True, exist_ok=True)
        results_path.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {results_path.relative_to(ROOT)}")
    print(f"{sum(walls.values()) / 60:.1f} min of training runs")

    rows = [[str(seed), *(f"{per_seed[seed][ds]:.2%}" for ds in datasets)] for seed in seeds]
    rows += [[name, *(f"{stats[ds][key]:.2%}" for ds in datasets)]
             for name, key in (("mean", "mean"), ("std", "std"), ("min", "min"), ("max", "max"))]
    print(markdown_table(["seed", *datasets], rows))
    verdicts = [[f"{ds}: mean of {len(seeds)} seeds ≥ {target:.2%}", f"{stats[ds]['mean']:.2%}",
                 "pass" if stats[ds]["mean"] >= target else "FAIL"]
                for ds, target in SEED_MEAN_TARGETS.items() if ds in stats]
    print(markdown_table(["target", "measured", "pass"], verdicts))
    if args.update_readme:
        # A lever's seeds say nothing about the committed defaults' `make bench` targets; without
        # a `make bench` run on this machine (bench/results/latest.json) that block stays as it is.
        results = None if overrides else latest_results(ROOT)
        update_docs(ROOT, results, summary_rows(results, ROOT) if results else None)
    return 0 if all(row[2] == "pass" for row in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
