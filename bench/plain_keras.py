"""Baseline for the throughput ratio: LeNet-5 trained by a plain Keras script, tutorial style.

Same network, batch size and augmentation ranges as params.yaml, written the way a Keras tutorial
would (stock RandomTranslation + RandomRotation layers, model.fit on numpy arrays), without any of
the pipeline's code (pipeline.core.config only reads params.yaml's settings for the dataset). Prints
one JSON line: images per second over the epochs after the first.

    python -m bench.plain_keras --dataset fashion_mnist --epochs 3
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
from keras import layers

from pipeline.core.config import load_params


def lenet5(activation, pooling, pool_before_activation, batch_norm, dropout, augment, shift,
           rotation_degrees):
    pool = layers.MaxPooling2D if pooling == "max" else layers.AveragePooling2D

    def drop():
        return [layers.Dropout(dropout)] if dropout else []

    # batch norm after the layers params.yaml names, as in the pipeline, and the activation
    def act(name):
        return [
            *([layers.BatchNormalization()] if name in batch_norm else []),
            layers.Activation(activation),
        ]

    # the pipeline's order of convolution, pooling and activation
    def conv_pool(filters, name, subsampling):
        if subsampling in pool_before_activation:
            return [layers.Conv2D(filters, 5), pool(2), layers.Activation(activation)]
        return [layers.Conv2D(filters, 5), *act(name), pool(2)]

    aug = [layers.RandomTranslation(shift, shift), layers.RandomRotation(rotation_degrees / 360)]
    return keras.Sequential(
        [keras.Input((32, 32, 1)), *(aug if augment else []),
         *conv_pool(6, "C1", "S2"), *conv_pool(16, "C3", "S4"),
         layers.Flatten(), *drop(), layers.Dense(120), *act("F5"), *drop(),
         layers.Dense(84), *act("F6"), layers.Dense(10, activation="softmax")]
    )


def main():
    cli = argparse.ArgumentParser(description=__doc__)
    cli.add_argument("--dataset", default="fashion_mnist")
    cli.add_argument("--epochs", type=int, default=3)
    args = cli.parse_args()
    params = load_params()
    model_cfg, train_cfg = params.model, params.train_for(args.dataset)
    data = np.load(f"data/processed/{args.dataset}.npz")
    x, y = data["x_train"], data["y_train"]

    keras.utils.set_random_seed(params.seed)
    model = lenet5(model_cfg.activation, model_cfg.pooling, model_cfg.pool_before_activation,
                   model_cfg.batch_norm, model_cfg.dropout,
                   train_cfg.augment, train_cfg.shift, train_cfg.rotation_degrees)
    model.compile(optimizer=keras.optimizers.Adam(train_cfg.learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    times = []
    for _ in range(args.epochs):
        start = time.perf_counter()
        model.fit(x, y, batch_size=train_cfg.batch_size, epochs=1, verbose=0)
        times.append(time.perf_counter() - start)
    steady = times[1:] or times
    print(json.dumps({"images_per_second": len(x) / float(np.median(steady)),
                      "epoch_seconds": [round(t, 3) for t in times]}))


if __name__ == "__main__":
    main()
