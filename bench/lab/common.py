"""The training step the lab scripts time: params.yaml's model on the real processed MNIST
arrays under the reproducibility profile, compiled and warmed up, then fit() for a number of
steps per repeat, variants taking turns (bench.lab.epoch_cost, bench.lab.pool_gradient; the
profilers' step counts: bench.lab.onednn_primitives, bench.lab.op_profile)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import NamedTuple

from pipeline.core.config import Params
from pipeline.core.paths import DatasetPaths
from pipeline.runtime import profile as runtime
from pipeline.stages.commands import REGISTRY

EPOCH_IMAGES = 54_000
WARMUP_REPEATS = 1  # untimed, before the timed ones: the first call traces the graph
STEP_UNIT = 256  # --steps counts batches of this many images, whatever a variant's batch size


class Step(NamedTuple):
    """A compiled model and its batches, ready for timed fit() calls of `steps` steps."""
    model: object
    batches: object
    batch_size: int
    steps: int


def timed_steps(steps: int, batch_size: int) -> int:
    """Training steps that hold `steps` batches of STEP_UNIT images at `batch_size`."""
    return steps * STEP_UNIT // batch_size


def training_data(params: Params):
    """The real processed MNIST training images and labels, with the reproducibility profile in
    force and TensorFlow imported as the train stage imports it."""
    runtime.apply_profile(params.reproducibility)
    runtime.skip_imports(REGISTRY["train"].skips)  # as the train stage runs
    from pipeline.core.data import load_processed

    arrays = load_processed(DatasetPaths("mnist").processed, ("train",))
    return arrays["x_train"], arrays["y_train"]


def build_step(params: Params, x, y, unit_steps: int) -> Step:
    """params' training model, compiled and warmed up, seeded afresh: variants built alike start
    from the same weights and augmentation draws."""
    import tensorflow as tf

    from pipeline.model.lenet import build_training_model, compile_model

    runtime.seed_everything(params.seed, params.reproducibility)
    cfg = params.train_for("mnist")
    steps = timed_steps(unit_steps, cfg.batch_size)
    model = build_training_model(x.shape[1:], 10, params.model, cfg)
    # A repeat's steps in one execution, as the train stage runs an epoch's (compile_model).
    compile_model(model, cfg, steps_per_epoch=steps)
    # Each timed fit() makes a new iterator, and deleting an iterator waits for tf.data's
    # autotuning thread to end its round: that wait held repeats to about 1.26 s (4.44 s per
    # epoch) or twice that, whatever the variant computed. Nothing here is left to tune.
    untuned = tf.data.Options()
    untuned.autotune.enabled = False
    batches = (
        tf.data.Dataset.from_tensor_slices((x[: cfg.batch_size * 20], y[: cfg.batch_size * 20]))
        .batch(cfg.batch_size)
        .repeat()
        .prefetch(2)
        .with_options(untuned)
    )
    for _ in range(WARMUP_REPEATS):
        model.fit(batches, steps_per_epoch=steps, epochs=1, verbose=0)
    return Step(model, batches, cfg.batch_size, steps)


def interleaved(
    built: dict[str, Step], repeats: int, trace: Path | None = None
) -> dict[str, list[tuple[float, float]]]:
    """{variant: [(CPU s, wall s) per epoch of EPOCH_IMAGES, one per repeat]}, the variants taking
    turns; `trace`: TensorFlow's profiler trace of the timed steps goes there."""
    import tensorflow as tf

    if trace:
        tf.profiler.experimental.start(str(trace))
    measured: dict[str, list[tuple[float, float]]] = {variant: [] for variant in built}
    for _ in range(repeats):
        for variant, step in built.items():
            cpu, wall = time.process_time(), time.perf_counter()
            step.model.fit(step.batches, steps_per_epoch=step.steps, epochs=1, verbose=0)
            scale = EPOCH_IMAGES / (step.steps * step.batch_size)
            measured[variant].append(((time.process_time() - cpu) * scale,
                                      (time.perf_counter() - wall) * scale))
    if trace:
        tf.profiler.experimental.stop()
    return measured


def print_medians(measured: dict[str, list[tuple[float, float]]]) -> None:
    for variant, runs in measured.items():
        print(f"{variant:24s} per epoch: CPU {statistics.median(c for c, _ in runs):5.2f} s, "
              f"wall {statistics.median(w for _, w in runs):5.2f} s  "
              f"(wall of each repeat: {', '.join(f'{w:.2f}' for _, w in runs)})")
