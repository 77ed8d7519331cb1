"""What an epoch costs, and what each part of it adds: the training step of params.yaml's model
on the real processed MNIST arrays, under the reproducibility profile, in variants that drop or
change one thing, interleaved in one process so that the machine's drifting speed hits each alike.

    python -m bench.epoch_cost                      # current noaug nobn avgpool
    python -m bench.epoch_cost current bs512 bs1024 # batch sizes (bsN)
    perf record -g -o epoch.perf python -m bench.epoch_cost current   # then: perf report --time 40%-100%

Prints per-epoch (54,000 images) process CPU and wall seconds per variant, medians of --repeats.
Process CPU is the steadier figure on a machine whose wall time drifts by 2x. Needs
data/processed/mnist.npz (`dvc repro preprocess@mnist`).
"""

from __future__ import annotations

import argparse
import statistics
import time

from pipeline import runtime
from pipeline.config import load_params
from pipeline.paths import DatasetPaths

EPOCH_IMAGES = 54_000
VARIANTS = ("current", "noaug", "nobn", "avgpool")


def variant_settings(variant: str, params):
    """(model, train) settings of `variant`: the defaults with one part dropped or changed."""
    model, train = params.model, params.train_for("mnist")
    if variant == "noaug":
        return model, train.model_copy(update={"augment": False})
    if variant == "nobn":
        return model.model_copy(update={"batch_norm": False}), train
    if variant == "avgpool":
        return model.model_copy(update={"pooling": "avg"}), train
    if variant.startswith("bs") and variant[2:].isdigit():
        return model, train.model_copy(update={"batch_size": int(variant[2:])})
    if variant == "current":
        return model, train
    raise SystemExit(f"unknown variant {variant!r}: current | noaug | nobn | avgpool | bsN")


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    cli.add_argument("variants", nargs="*", default=list(VARIANTS),
                     help="current | noaug | nobn | avgpool | bsN (batch size N)")
    cli.add_argument("--steps", type=int, default=60, help="batches of 256 images per measurement")
    cli.add_argument("--repeats", type=int, default=3)
    args = cli.parse_args()

    params = load_params()
    settings = {variant: variant_settings(variant, params) for variant in args.variants}  # fail fast
    runtime.apply_profile(params.reproducibility)
    runtime.skip_scikit_learn()
    import tensorflow as tf

    from pipeline.data import load_processed
    from pipeline.model import build_training_model, compile_model

    runtime.seed_everything(params.seed, params.reproducibility)
    arrays = load_processed(DatasetPaths("mnist").processed, ("train",))
    x, y = arrays["x_train"], arrays["y_train"]

    def build(variant: str):
        model_cfg, cfg = settings[variant]
        model = build_training_model(x.shape[1:], 10, model_cfg, cfg)
        compile_model(model, cfg, steps_per_epoch=EPOCH_IMAGES // cfg.batch_size)
        batches = (tf.data.Dataset.from_tensor_slices((x[:cfg.batch_size * 20], y[:cfg.batch_size * 20]))
                   .batch(cfg.batch_size).repeat().prefetch(2))
        model.fit(batches, steps_per_epoch=5, epochs=1, verbose=0)  # traced before timing
        return model, batches, cfg.batch_size

    built = {variant: build(variant) for variant in args.variants}
    measured: dict[str, list[tuple[float, float]]] = {variant: [] for variant in args.variants}
    for _ in range(args.repeats):
        for variant, (model, batches, batch_size) in built.items():
            steps = args.steps * 256 // batch_size
            cpu, wall = time.process_time(), time.perf_counter()
            model.fit(batches, steps_per_epoch=steps, epochs=1, verbose=0)
            scale = EPOCH_IMAGES / (steps * batch_size)
            measured[variant].append(((time.process_time() - cpu) * scale,
                                      (time.perf_counter() - wall) * scale))
    for variant, runs in measured.items():
        print(f"{variant:10s} per epoch: CPU {statistics.median(c for c, _ in runs):5.2f} s, "
              f"wall {statistics.median(w for _, w in runs):5.2f} s  "
              f"(wall of each repeat: {', '.join(f'{w:.2f}' for _, w in runs)})")


if __name__ == "__main__":
    main()
