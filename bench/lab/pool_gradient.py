"""What AveragePooling2x2's gradient buys: the defaults' training step with it (S2 and S4) and with
Keras's own AveragePooling2D, whose gradient is oneDNN's AvgPoolGrad, interleaved in one process
as `bench.lab.epoch_cost` times variants; then whether the two trained the same weights, bit for
bit.

    python -m bench.lab.pool_gradient [--steps 60] [--repeats 8]

Needs data/processed/mnist.npz (`dvc repro preprocess@mnist`).
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
from unittest import mock

from bench.lab.common import STEP_UNIT, build_step, interleaved, print_medians, training_data
from pipeline.core.config import load_params

OURS, KERAS = "AveragePooling2x2", "keras AveragePooling2D"


def weights_digest(model) -> str:
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(weight.tobytes())
    return digest.hexdigest()[:12]


def main() -> None:
    cli = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    cli.add_argument(
        "--steps", type=int, default=60, help=f"batches of {STEP_UNIT} images per measurement"
    )
    cli.add_argument("--repeats", type=int, default=8)
    args = cli.parse_args()
    params = load_params()
    if params.model.pooling != "avg":
        cli.error(
            f"params.yaml has model.pooling: {params.model.pooling}; this compares average pooling"
        )
    x, y = training_data(params)
    import keras

    built = {OURS: build_step(params, x, y, args.steps)}
    with mock.patch("pipeline.model.lenet.AveragePooling2x2", keras.layers.AveragePooling2D):
        built[KERAS] = build_step(params, x, y, args.steps)
    measured = interleaved(built, args.repeats)
    print_medians(measured)
    ratios = [k[1] / o[1] for o, k in zip(measured[OURS], measured[KERAS], strict=True)]
    print(
        f"wall, Keras's over ours, per repeat: median {statistics.median(ratios):.3f}x "
        f"({min(ratios):.3f}-{max(ratios):.3f}x), "
        f"ours faster in {sum(r > 1 for r in ratios)} of {len(ratios)}"
    )
    digests = {name: weights_digest(step.model) for name, step in built.items()}
    print(f"weights after {args.repeats + 1} calls of {args.steps} steps: {digests} "
          f"({'the same' if len(set(digests.values())) == 1 else 'DIFFERENT'})")


if __name__ == "__main__":
    main()
