"""Where the training step's oneDNN time goes, primitive by primitive: `bench.lab.epoch_cost`'s
`defaults` variant, run once with ONEDNN_VERBOSE=1, and oneDNN's own timing of every call summed
per primitive (kind, implementation, direction, shape).

    python -m bench.lab.onednn_primitives [--steps 100]

Prints milliseconds per step (median call time x calls per step, so the warm-up repeat's slow first
calls do not count), each primitive's share, and oneDNN's total per epoch of 54,000 images beside
epoch_cost's own line. What the list lacks is the rest of the step: the augmentation's warp, batch
norm, the optimizer, TensorFlow's executor and Python. Verbose logging slows the step a little.
The `isa` line is the instruction set oneDNN dispatched to (the profile caps it). Needs
data/processed/mnist.npz (`dvc repro preprocess@mnist`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections import defaultdict
from typing import NamedTuple

from bench.lab.common import EPOCH_IMAGES, STEP_UNIT, WARMUP_REPEATS, timed_steps
from docgen.markdown import markdown_table
from pipeline.core import workspace
from pipeline.core.config import load_params

PREFIX = "onednn_verbose,"


class Primitive(NamedTuple):
    kind: str  # convolution, pooling, gemm_api, ...
    implementation: str  # brg_conv_fwd:avx2, jit:avx2, ... ("-" where oneDNN names none)
    direction: str  # forward_training, backward_data, backward_weights, ...
    shape: str  # oneDNN's problem descriptor, e.g. mb256_ic1oc6_ih32oh28kh5sh1dh0ph0_...


def exec_calls(log: str) -> dict[Primitive, list[float]]:
    """{primitive: [milliseconds of each call]} from oneDNN 3's verbose lines
    (onednn_verbose,v1,primitive,exec,cpu,<kind>,<implementation>,<direction>,...,<shape>,<ms>)."""
    calls: dict[Primitive, list[float]] = defaultdict(list)
    for line in log.splitlines():
        fields = line.split(",")
        if not line.startswith(PREFIX) or "exec" not in fields:
            continue
        at = fields.index("exec")
        kind, implementation, direction = fields[at + 2:at + 5]
        calls[Primitive(kind, implementation or "-", direction, fields[-2])].append(
            float(fields[-1])
        )
    return dict(calls)


def per_step(calls: dict[Primitive, list[float]], steps: int) -> dict[Primitive, float]:
    """Milliseconds per training step, largest first: median call x calls per step."""
    cost = {p: statistics.median(times) * len(times) / steps for p, times in calls.items()}
    return dict(sorted(cost.items(), key=lambda item: -item[1]))


def main() -> int:
    cli = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    cli.add_argument(
        "--steps",
        type=int,
        default=100,
        help=f"as in epoch_cost: batches of {STEP_UNIT} images timed",
    )
    cli.add_argument("--top", type=int, default=15, help="primitives listed")
    args = cli.parse_args()
    result = workspace.run(
        sys.executable,
        "-m",
        "bench.lab.epoch_cost",
        "defaults",
        "--steps",
        str(args.steps),
        "--repeats",
        "1",
        env={**os.environ, "ONEDNN_VERBOSE": "1"},
    )
    log = result.stdout
    print(
        *[
            line
            for line in log.splitlines()
            if not line.startswith(PREFIX) or ",info,cpu,isa:" in line
        ],
        sep="\n",
    )
    batch = load_params().train_for("mnist").batch_size
    cost = per_step(exec_calls(log), (WARMUP_REPEATS + 1) * timed_steps(args.steps, batch))
    total = sum(cost.values())
    rows = [
        [f"{ms:.2f}", f"{ms / total:.0%}", *primitive]
        for primitive, ms in list(cost.items())[: args.top]
    ]
    print()
    print(
        markdown_table(
            ["ms per step", "share", "primitive", "implementation", "direction", "shape"], rows
        )
    )
    print(
        f"\noneDNN in all: {total:.1f} ms per step, "
        f"{total * EPOCH_IMAGES / batch / 1000:.2f} s per epoch "
        f"of {EPOCH_IMAGES:,} images"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
