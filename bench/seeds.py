"""Accuracy across seeds: is the default params.yaml good, or lucky?

    make bench-seeds [SEEDS=5]     # python -m bench.seeds --seeds 5 --update-readme

Seed k of N is params.yaml's `seed` + k: the committed seed's numbers are the committed metrics
(`lenet verify` checks that they reproduce); every other seed is trained and evaluated in a scratch
checkout of HEAD that shares this checkout's DVC cache (params.yaml edited there only), through
the same `dvc repro`. Prints each seed's test accuracy, and per dataset the mean, sample standard
deviation, min and max; writes bench/results/seeds.json, which the README's results table shows.
About 7 minutes per extra seed on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from bench import readme_table
from bench.readme_table import LATEST_RESULTS, SEEDS_RESULTS, params_sha256
from bench.run import ROOT, accuracy
from pipeline import workspace
from pipeline.config import load_params
from pipeline.params_edit import apply_overrides
from pipeline.paths import ProjectPaths

# Issue 15's targets for the mean over 5 seeds.
MEAN_TARGETS = {"mnist": 0.9950, "fashion_mnist": 0.920}


def trained_with_seed(seed: int, datasets: list[str]) -> tuple[dict[str, float], float]:
    """Test accuracies with params.yaml's seed set to `seed`, from a scratch checkout of HEAD."""
    with workspace.scratch_checkout("HEAD", ROOT) as checkout:
        apply_overrides(ProjectPaths(checkout).params, {"seed": seed})
        started = time.perf_counter()
        workspace.run("dvc", "repro", *[f"evaluate@{ds}" for ds in datasets], cwd=checkout,
                      capture=False)
        wall = time.perf_counter() - started
        return {ds: accuracy(ds, checkout) for ds in datasets}, wall


def summary(per_seed: dict[int, dict[str, float]], datasets: list[str]) -> dict[str, dict]:
    stats = {}
    for ds in datasets:
        values = [accuracies[ds] for accuracies in per_seed.values()]
        stats[ds] = {"mean": statistics.fmean(values),
                     "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                     "min": min(values), "max": max(values), "seeds": len(values)}
    return stats


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    cli.add_argument("--seeds", type=int, default=5, help="how many seeds, the committed one first")
    cli.add_argument("--update-readme", action="store_true", help="rewrite README's results table")
    args = cli.parse_args()
    params = load_params(ProjectPaths(ROOT).params)
    datasets = list(params.datasets)
    seeds = [params.seed + k for k in range(args.seeds)]

    per_seed = {seeds[0]: {ds: accuracy(ds) for ds in datasets}}
    walls = {}
    for seed in seeds[1:]:
        print(f"seed {seed}: training every dataset in a scratch checkout", flush=True)
        per_seed[seed], walls[seed] = trained_with_seed(seed, datasets)
        print(f"seed {seed}: " + ", ".join(f"{ds} {acc:.2%}" for ds, acc in per_seed[seed].items())
              + f" ({walls[seed] / 60:.1f} min)", flush=True)
    stats = summary(per_seed, datasets)
    results = {"seeds": per_seed, "summary": stats, "wall_seconds": walls,
               "params_sha256": params_sha256(ROOT), "commit": workspace.run(
                   "git", "rev-parse", "HEAD", cwd=ROOT).stdout.strip()}
    (ROOT / SEEDS_RESULTS).parent.mkdir(parents=True, exist_ok=True)
    (ROOT / SEEDS_RESULTS).write_text(json.dumps(results, indent=2) + "\n")

    rows = [[str(seed), *(f"{per_seed[seed][ds]:.2%}" for ds in datasets)] for seed in seeds]
    rows += [[name, *(f"{stats[ds][key]:.2%}" for ds in datasets)]
             for name, key in (("mean", "mean"), ("std", "std"), ("min", "min"), ("max", "max"))]
    print(readme_table.markdown_table(["seed", *datasets], rows))
    verdicts = [[f"{ds}: mean of {len(seeds)} seeds ≥ {target:.2%}", f"{stats[ds]['mean']:.2%}",
                 "pass" if stats[ds]["mean"] >= target else "FAIL"]
                for ds, target in MEAN_TARGETS.items() if ds in stats]
    print(readme_table.markdown_table(["target", "measured", "pass"], verdicts))
    if args.update_readme:
        readme_table.update_readme(ROOT, json.loads((ROOT / LATEST_RESULTS).read_text()))
    return 0 if all(row[2] == "pass" for row in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
