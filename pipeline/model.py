"""LeNet-5 (LeCun et al., 1998) in Keras 3, with the modern options params.yaml can switch on."""

from __future__ import annotations

import math

import keras
from keras import layers

from pipeline.config import Model, Train

# LeCun et al. 1998, section II-C / figure: 0.0005 for 2 epochs, 0.0002 for 3, 0.00005 for 4,
# then 0.00001. As (first epoch, rate) pairs.
LECUN1998_SCHEDULE = ((0, 5e-4), (2, 2e-4), (5, 5e-5), (9, 1e-5))

AUGMENTATION = "augmentation"
CLASSIFIER = "lenet5"


def build_lenet5(input_shape: tuple[int, int, int], n_classes: int, cfg: Model) -> keras.Sequential:
    """C1 6@5x5, S2, C3 16@5x5, S4, F5 120, F6 84, output. About 62,000 trainable weights."""
    pool = layers.MaxPooling2D if cfg.pooling == "max" else layers.AveragePooling2D

    def conv_or_dense(layer: layers.Layer) -> list[layers.Layer]:
        # With batch norm the layer's own bias is redundant: BN's beta takes its place.
        if not cfg.batch_norm:
            return [layer, layers.Activation(cfg.activation)]
        return [layer, layers.BatchNormalization(), layers.Activation(cfg.activation)]

    use_bias = not cfg.batch_norm
    stack = [
        keras.Input(input_shape),
        *conv_or_dense(layers.Conv2D(6, 5, use_bias=use_bias, name="C1")),
        pool(2, name="S2"),
        *conv_or_dense(layers.Conv2D(16, 5, use_bias=use_bias, name="C3")),
        pool(2, name="S4"),
        layers.Flatten(),
        *([layers.Dropout(cfg.dropout)] if cfg.dropout else []),
        *conv_or_dense(layers.Dense(120, use_bias=use_bias, name="F5")),
        *([layers.Dropout(cfg.dropout)] if cfg.dropout else []),
        *conv_or_dense(layers.Dense(84, use_bias=use_bias, name="F6")),
        layers.Dense(n_classes, activation="softmax", name="output"),
    ]
    return keras.Sequential(stack, name=CLASSIFIER)


def build_augmentation(train: Train) -> keras.Sequential:
    """Small random shifts and rotations; active only in training (identity at inference)."""
    return keras.Sequential(
        [
            layers.RandomTranslation(train.shift, train.shift, fill_mode="constant"),
            layers.RandomRotation(train.rotation_degrees / 360, fill_mode="constant"),
        ],
        name=AUGMENTATION,
    )


def build_training_model(input_shape, n_classes: int, model: Model, train: Train) -> keras.Model:
    """The classifier, preceded by augmentation when it is on. Export keeps only the classifier."""
    classifier = build_lenet5(input_shape, n_classes, model)
    if not train.augment:
        return classifier
    return keras.Sequential([keras.Input(input_shape), build_augmentation(train), classifier])


def classifier_of(model: keras.Model) -> keras.Model:
    return model if model.name == CLASSIFIER else model.get_layer(CLASSIFIER)


def learning_rate(train: Train, steps_per_epoch: int):
    """A float or a Keras schedule, stepped per batch."""
    if train.schedule == "constant":
        return train.learning_rate
    if train.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            train.learning_rate, decay_steps=max(1, train.epochs * steps_per_epoch)
        )
    boundaries = [epoch * steps_per_epoch for epoch, _ in LECUN1998_SCHEDULE[1:]]
    rates = [rate for _, rate in LECUN1998_SCHEDULE]
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, rates)


def compile_model(model: keras.Model, train: Train, steps_per_epoch: int) -> None:
    lr = learning_rate(train, steps_per_epoch)
    if train.optimizer == "adam":
        optimizer = keras.optimizers.Adam(lr)
    else:
        optimizer = keras.optimizers.SGD(lr, momentum=train.momentum)
    if train.loss == "crossentropy":
        loss = keras.losses.SparseCategoricalCrossentropy()
    else:
        loss = _SparseMeanSquaredError()
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])


@keras.saving.register_keras_serializable(package="lenet")
class _SparseMeanSquaredError(keras.losses.Loss):
    """MSE between the softmax output and the one-hot label (the 1998 paper's squared error)."""

    def call(self, y_true, y_pred):
        n_classes = y_pred.shape[-1]
        one_hot = keras.ops.one_hot(keras.ops.cast(keras.ops.reshape(y_true, [-1]), "int32"), n_classes)
        return keras.ops.mean(keras.ops.square(one_hot - y_pred), axis=-1)


def count_trainable(model: keras.Model) -> int:
    return int(sum(math.prod(w.shape) for w in model.trainable_weights))
