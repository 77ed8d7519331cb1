"""What each reproducibility profile costs, and whether it changes the weights: MNIST training runs
of a few epochs, one process each, side by side in this one command (the machine is noisy).

    python -m bench.profiles [--epochs 3] [--dataset mnist]

Runs in a scratch checkout of HEAD that shares this repository's DVC cache (the preprocessed
arrays come from it), so the workspace's models are not touched. The baseline is the train stage
without the profile's environment: oneDNN's ISA and on/off at TensorFlow's own defaults for this
CPU, what a plain Keras script gets (the thread counts are still set, in-process).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import zipfile
from pathlib import Path

import yaml

from pipeline.core import workspace
from pipeline.core.paths import DatasetPaths, ProjectPaths
from pipeline.runtime.profile import PINNED

VARIANTS = {
    "portable (params.yaml): AVX2, 2 intra + 1 inter threads": {},
    "fast (presets/fast.yaml): native ISA, TF's thread defaults": {
        "cpu_isa": "native", "intra_op_threads": 0, "inter_op_threads": 0},
    "AVX2, 1 intra + 1 inter thread": {"intra_op_threads": 1},
    "AVX2, 2 intra + 2 inter threads": {"inter_op_threads": 2},
    "SSE41, 2 intra + 1 inter threads": {"cpu_isa": "SSE41"},
    "AVX2, oneDNN off": {"onednn": False},
}
BASELINE = "no profile in the environment (oneDNN at TensorFlow's default for this CPU)"
NO_PROFILE = ("from pipeline.core import config, paths; from pipeline.stages import train; "
              "p = config.load_params(); "
              "train.run({ds!r}, p.dataset({ds!r}), p, paths.DatasetPaths({ds!r}))")


def train_once(scratch: Path, dataset: str, base: dict, overrides: dict | None) -> dict:
    """One training run in `scratch`; overrides=None runs it without the profile."""
    params = json.loads(json.dumps(base))
    params["reproducibility"].update(overrides or {})
    ProjectPaths(scratch).params.write_text(yaml.safe_dump(params, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if k not in PINNED}
    command = ([sys.executable, "-c", NO_PROFILE.format(ds=dataset)] if overrides is None
               else [sys.executable, "-m", "pipeline", "train", "--dataset", dataset])
    workspace.run(*command, cwd=scratch, env=env)
    paths = DatasetPaths(dataset, scratch)
    facts = json.loads((paths.runtime / "train.json").read_text())
    with zipfile.ZipFile(paths.keras_model) as archive:
        weights = hashlib.sha256(archive.read("model.weights.h5")).hexdigest()[:12]
    return {"images_per_second": facts["images_per_second"], "weights": weights,
            "threads": facts["threads"]}


def main() -> int:
    cli = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    cli.add_argument("--epochs", type=int, default=3, help="per run; the first includes tracing")
    cli.add_argument("--dataset", default="mnist")
    args = cli.parse_args()
    results = {}
    with workspace.scratch_checkout("HEAD") as scratch:
        workspace.run("dvc", "repro", f"preprocess@{args.dataset}", cwd=scratch)
        base = yaml.safe_load(ProjectPaths(scratch).params.read_text())
        base["datasets"][args.dataset]["train"]["epochs"] = args.epochs
        for name, overrides in [(BASELINE, None), *VARIANTS.items()]:
            print(f"training: {name} ...", flush=True)
            results[name] = train_once(scratch, args.dataset, base, overrides)
    baseline, portable = results[BASELINE], results[next(iter(VARIANTS))]
    print(
        f"\n{args.dataset}, {args.epochs} epochs per run, images/s = median of the steady epochs\n"
    )
    print(
        "| profile | images/s | vs no profile | threads (intra, inter) | weights "
        "| same weights as portable |"
    )
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['images_per_second']:.0f} | "
              f"{r['images_per_second'] / baseline['images_per_second']:.2f}x | "
              f"{r['threads']['intra_op']}, {r['threads']['inter_op']} | `{r['weights']}` | "
              f"{'yes' if r['weights'] == portable['weights'] else 'no'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
