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
import tempfile
from pathlib import Path

from bench.common import setting
from bench.lab.common import STEP_UNIT, build_step, interleaved, print_medians, training_data
from pipeline.core.config import PARAMS_FILE, Params, ParamsError, load_params
from pipeline.tools.params_edit import apply_overrides

VARIABLE_SECTIONS = ("model", "train")
VARIANTS = (
    "defaults",
    "train.augment=false",
    "train.interpolation=nearest",
    "model.batch_norm=[F5,F6]",
    "model.batch_norm=[]",
    "model.pooling=max",
)


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
