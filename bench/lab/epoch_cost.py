"""What an epoch costs, and what each part of it adds: the training step of params.yaml's model
on the real processed MNIST arrays, under the reproducibility profile, for the defaults and for
variants that each change one `model.*` or `train.*` key, interleaved in one process so that the
machine's drifting speed hits each alike.

    python -m bench.lab.epoch_cost  # defaults, no augmentation, nearest warp,
                                    # batch norm on F5 F6 / none, max pooling
    python -m bench.lab.epoch_cost defaults train.batch_size=512 train.batch_size=1024
    perf record -g -o epoch.perf python -m bench.lab.epoch_cost defaults
    perf report --time 40%-100%

Prints per-epoch (54,000 images) process CPU and wall seconds per variant, medians of --repeats.
Process CPU is the steadier figure on a machine whose wall time drifts by 2x. Needs
data/processed/mnist.npz (`dvc repro preprocess@mnist`).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from bench.seeds import setting
from pipeline.core.config import PARAMS_FILE, Params, ParamsError, load_params
from pipeline.core.paths import DatasetPaths
from pipeline.runtime import profile as runtime
from pipeline.stages.commands import REGISTRY
from pipeline.tools.params_edit import apply_overrides

EPOCH_IMAGES = 54_000
WARMUP_REPEATS = 1  # untimed, before the timed ones: the first call traces the graph
STEP_UNIT = 256  # --steps counts batches of this many images, whatever a variant's batch size
VARIABLE_SECTIONS = ("model", "train")
VARIANTS = (
    "defaults",
    "train.augment=false",
    "train.interpolation=nearest",
    "model.batch_norm=[F5,F6]",
    "model.batch_norm=[]",
    "model.pooling=max",
)


class Step(NamedTuple):
    """A compiled model and its batches, ready for timed fit() calls of `steps` steps."""
    model: object
    batches: object
    batch_size: int
    steps: int


def variant_params(text: str) -> Params:
    """params.yaml for the variant `text`: `defaults`, or one KEY=VALUE setting changed (validated
    as a whole, so an unknown key or a bad value is refused before TensorFlow loads)."""
    if text == "defaults":
        return load_params()
    key, value = setting(text)
    if key.split(".")[0] not in VARIABLE_SECTIONS:
        # The profile and the seed hold for the whole process, and the data is read once.
        raise argparse.ArgumentTypeError(
            f"{key}: only model.* and train.* keys vary per variant here"
        )
    with tempfile.TemporaryDirectory() as scratch:
        edited = Path(scratch) / "params.yaml"
        shutil.copy(PARAMS_FILE, edited)
        apply_overrides(edited, {key: value})
        return load_params(edited)


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


def main() -> None:
    cli = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    cli.add_argument(
        "variants",
        nargs="*",
        default=list(VARIANTS),
        help="defaults, or KEY=VALUE: one model.* or train.* key changed "
        "(e.g. train.batch_size=512)",
    )
    cli.add_argument(
        "--steps", type=int, default=60, help=f"batches of {STEP_UNIT} images per measurement"
    )
    cli.add_argument("--repeats", type=int, default=3)
    cli.add_argument(
        "--trace",
        type=Path,
        help="write TensorFlow's profiler trace of the timed steps here "
        "(read by bench.lab.op_profile)",
    )
    args = cli.parse_args()

    params = load_params()
    settings = {}
    for text in args.variants:  # every variant checked before TensorFlow loads
        try:
            settings[text] = variant_params(text)
        except (argparse.ArgumentTypeError, ParamsError) as error:
            cli.error(f"variant {text}: {error}")
    x, y = training_data(params)
    built = {variant: build_step(settings[variant], x, y, args.steps) for variant in settings}
    print_medians(interleaved(built, args.repeats, args.trace))


if __name__ == "__main__":
    main()
