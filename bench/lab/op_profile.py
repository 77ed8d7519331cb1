"""Where the whole training step goes, op by op, oneDNN's and everyone else's:
`bench.lab.epoch_cost`'s `defaults` variant under TensorFlow's profiler, and the time of every op
the executor ran summed per op type and per graph node.

    python -m bench.lab.op_profile [--steps 60] [--top 15]

Unlike `bench.lab.onednn_primitives` this sees the augmentation's warp, batch norm, the optimizer's
many small ops, and how much of the executor's time is not in any op. Milliseconds per step are
wall time of each op on the executor's thread (an op that runs on 2 intra-op threads counts once);
the profiler slows the step a little. A convolution fused with its bias and ReLU keeps the
activation's node name (`lenet5_1/activation_1/Relu`, type _MklNativeFusedConv2D: C1's forward).
Needs data/processed/mnist.npz (`dvc repro preprocess@mnist`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench.lab.common import STEP_UNIT, timed_steps
from docgen.markdown import markdown_table
from pipeline.core import workspace
from pipeline.core.config import load_params

EXECUTOR = "ExecutorState::Process"  # the span of each batch of ops the executor ran, ops inside it


def op_times(trace_dir: Path) -> tuple[Counter, Counter, float]:
    """({node: ms}, {node: calls}, executor ms) summed over the trace's TensorFlow compute threads.
    Event names are `<node path>:<op type>`."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    times, calls, executor = Counter(), Counter(), 0.0
    for trace in trace_dir.rglob("*.xplane.pb"):
        space = xplane_pb2.XSpace.FromString(trace.read_bytes())
        for plane in space.planes:
            for line in (line for line in plane.lines if line.name.startswith("tf_Compute")):
                for event in line.events:
                    name, ms = plane.event_metadata[event.metadata_id].name, event.duration_ps / 1e9
                    if name == EXECUTOR:
                        executor += ms
                    elif ":" in name:
                        times[name] += ms
                        calls[name] += 1
    return times, calls, executor


def main() -> int:
    cli = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    cli.add_argument(
        "--steps",
        type=int,
        default=60,
        help=f"as in epoch_cost: batches of {STEP_UNIT} images traced",
    )
    cli.add_argument("--top", type=int, default=15, help="op types and nodes listed")
    args = cli.parse_args()
    with tempfile.TemporaryDirectory() as trace_dir:
        result = workspace.run(
            sys.executable,
            "-m",
            "bench.lab.epoch_cost",
            "defaults",
            "--steps",
            str(args.steps),
            "--repeats",
            "1",
            "--trace",
            trace_dir,
        )
        print(result.stdout.strip().splitlines()[-1])
        times, calls, executor = op_times(Path(trace_dir))
    steps = timed_steps(args.steps, load_params().train_for("mnist").batch_size)
    by_type, type_calls = Counter(), Counter()
    for name, ms in times.items():
        op_type = name.rsplit(":", 1)[1]
        by_type[op_type] += ms
        type_calls[op_type] += calls[name]
    total = sum(times.values())
    print()
    print(
        markdown_table(
            ["ms per step", "share", "calls per step", "op type"],
            [
                [f"{ms / steps:.2f}", f"{ms / total:.0%}", f"{type_calls[t] / steps:.0f}", t]
                for t, ms in by_type.most_common(args.top)
            ],
        )
    )
    print()
    print(
        markdown_table(
            ["ms per step", "share", "node"],
            [
                [
                    f"{ms / steps:.2f}",
                    f"{ms / total:.0%}",
                    name.split(":")[0].rsplit("StatefulPartitionedCall/", 1)[-1],
                ]
                for name, ms in times.most_common(args.top)
            ],
        )
    )
    print(
        f"\nops in all: {total / steps:.1f} ms per step, "
        f"{sum(calls.values()) / steps:.0f} ops; the executor "
        f"outside them: {(executor - total) / steps:.1f} ms per step"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
