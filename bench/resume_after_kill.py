"""What a kill in the middle of training costs: train a dataset, SIGKILL it once half its epochs are
done, run it again, and compare with an uninterrupted run of the same params.yaml.

Prints the work a kill threw away before training could resume (everything up to the kill), the
rerun's time and overhead now, and whether the resumed model has the bytes dvc.lock records for
the uninterrupted run of the same params.yaml.

    python -m bench.resume_after_kill --dataset fashion_mnist
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import sys
import time

import yaml

from bench.common import ROOT
from harness.helpers import read_until, start_group
from pipeline.core import workspace
from pipeline.core.config import load_params
from pipeline.core.paths import DatasetPaths, ProjectPaths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion_mnist")
    args = parser.parse_args()
    paths, project = DatasetPaths(args.dataset), ProjectPaths()
    epochs = load_params(project.params).train_for(args.dataset).epochs
    train = [sys.executable, "-m", "pipeline", "train", "--dataset", args.dataset]
    marker = f"{args.dataset}: epoch {epochs // 2}/{epochs} done"

    started = time.perf_counter()
    first = start_group(ROOT, *train)
    read_until(first, marker)
    os.killpg(first.pid, signal.SIGKILL)
    first.communicate()
    killed_after = time.perf_counter() - started

    started = time.perf_counter()
    workspace.run(*train)
    rerun = time.perf_counter() - started
    resumed_epochs = json.loads((paths.runtime / "train.json").read_text())["epoch_seconds"]
    lock = yaml.safe_load(project.dvc_lock.read_text())["stages"][f"train@{args.dataset}"]
    committed = next(o["md5"] for o in lock["outs"] if o["path"] == str(paths.keras_model))
    resumed = hashlib.md5(paths.keras_model.read_bytes()).hexdigest()
    print(json.dumps({
        "dataset": args.dataset,
        "killed_at": marker,
        "work_thrown_away_before_seconds": round(killed_after, 1),  # a rerun started at epoch 1
        "rerun_seconds": round(rerun, 1),
        "epochs_the_rerun_trained": len(resumed_epochs),
        # Start-up, loading and saving: what the kill costs now (it came right after an epoch).
        "rerun_overhead_seconds": round(rerun - sum(resumed_epochs), 1),
        "resumed_model_matches_dvc_lock": resumed == committed,
    }, indent=2))

if __name__ == "__main__":
    main()
