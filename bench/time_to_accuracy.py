"""Time to accuracy: each dataset's training seconds under HEAD's params.yaml against the defaults
of BASELINE (the old ones), trained in this one command on this machine, alternating.

    python -m bench.time_to_accuracy [--pairs 2] [--datasets mnist]   # about 12 min on 2 cores
    python -m bench.time_to_accuracy --baseline REV                   # another baseline

Per dataset, PAIRS times: BASELINE's train stage, then HEAD's, each in a scratch checkout that
shares this checkout's DVC cache (its upstream stages restored, the train stage forced: a run
cache hit would be untimed), seed as committed. A pair's two runs follow each other, so a slow
spell of this noisy machine falls on both; the ratio is the median of the pairs'. The accuracy
half of the question is the seeds runs' (`python -m bench.seeds`, 5 seeds each): docgen renders
both beside the frontier of every seeds run that recorded training seconds
(docs/design.md, python -m docgen).

Writes bench/results/time_to_accuracy.json with the CPU it ran on.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

from bench.common import DATASETS, ROOT, TIME_TO_ACCURACY, train_facts
from pipeline.core import workspace
from pipeline.core.config import load_params
from pipeline.core.paths import ProjectPaths
from pipeline.runtime import machine

# The defaults before the time-to-accuracy work: MNIST 15 epochs, Fashion-MNIST 40, Adam at 0.004
# with a cosine decay and no warm-up.
BASELINE = "cd99f9b"
PAIRS = 2


def trained(revision: str, ds: str) -> dict:
    """{"seconds": the train stage's wall time, "epochs": its epochs} for `revision`'s
    params.yaml, trained in a scratch checkout."""
    from pipeline.tools.verify import restore_upstream

    with workspace.scratch_checkout(revision, ROOT) as checkout:
        restore_upstream(checkout, f"preprocess@{ds}")
        workspace.run("dvc", "repro", "--force", "--single-item", f"train@{ds}", cwd=checkout,
                      capture=False)
        facts = train_facts(ds, checkout)
        epochs = load_params(ProjectPaths(checkout).params).train_for(ds).epochs
        return {"seconds": facts["wall_seconds"], "epochs": epochs}


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__,
                                  formatter_class=argparse.RawTextHelpFormatter)
    cli.add_argument("--baseline", default=BASELINE, help=f"the old defaults' revision "
                     f"(default {BASELINE})")
    cli.add_argument("--pairs", type=int, default=PAIRS, help=f"runs of each side (default "
                     f"{PAIRS})")
    cli.add_argument("--datasets", nargs="+", default=DATASETS, choices=DATASETS)
    args = cli.parse_args()
    head = workspace.run("git", "rev-parse", "HEAD", cwd=ROOT).stdout.strip()
    baseline = workspace.run("git", "rev-parse", args.baseline, cwd=ROOT).stdout.strip()
    results = {"baseline": baseline, "commit": head, "cpu": machine.cpu(), "datasets": {}}
    for ds in args.datasets:
        runs = {"baseline": [], "current": []}
        for pair in range(args.pairs):
            for side, revision in (("baseline", baseline), ("current", head)):
                print(f"{ds}: pair {pair + 1}/{args.pairs}, {side} ({revision[:7]})", flush=True)
                runs[side].append(trained(revision, ds))
        seconds = {side: [run["seconds"] for run in each] for side, each in runs.items()}
        results["datasets"][ds] = {
            "epochs": {side: each[0]["epochs"] for side, each in runs.items()},
            "seconds": seconds,
            "ratio": statistics.median(
                c / b for b, c in zip(seconds["baseline"], seconds["current"], strict=True)
            ),
        }
        print(f"{ds}: {seconds}", flush=True)
    TIME_TO_ACCURACY.parent.mkdir(parents=True, exist_ok=True)
    TIME_TO_ACCURACY.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {TIME_TO_ACCURACY.relative_to(ROOT)}")
    for ds, one in results["datasets"].items():
        print(f"{ds}: training {statistics.median(one['seconds']['current']):.1f} s against "
              f"{statistics.median(one['seconds']['baseline']):.1f} s "
              f"({one['epochs']['current']} epochs against {one['epochs']['baseline']}): "
              f"{one['ratio']:.2f} of the old defaults' time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
