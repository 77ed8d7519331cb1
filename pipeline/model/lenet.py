"""LeNet-5 (LeCun et al., 1998) in Keras 3, with the modern options params.yaml can switch on."""

from __future__ import annotations

import json
import math
import tempfile
import zipfile
from pathlib import Path

import keras
from keras import layers

from pipeline.core.config import Model, Train
from pipeline.core.files import atomic_path

# LeCun et al. 1998: 0.0005 for 2 epochs, 0.0002 for 3, 0.00005 for 4, then 0.00001, with
# per-image updates of a second-order method. Kept as its shape, (first epoch, fraction of the first
# rate), so that train.learning_rate sets the scale that suits the optimiser and batch size.
LECUN1998_SCHEDULE = ((0, 1.0), (2, 0.4), (5, 0.1), (9, 0.02))

AUGMENTATION = "augmentation"
CLASSIFIER = "lenet5"


def build_lenet5(input_shape: tuple[int, int, int], n_classes: int, cfg: Model) -> keras.Sequential:
    """C1 6@5x5, S2, C3 16@5x5, S4, F5 120, F6 84, output. About 62,000 trainable weights."""
    pool = layers.MaxPooling2D if cfg.pooling == "max" else AveragePooling2x2

    def block(layer_class, *args, name: str) -> list[layers.Layer]:
        # With batch norm the layer's own bias is redundant: BN's beta takes its place.
        if name not in cfg.batch_norm:
            return [layer_class(*args, name=name), layers.Activation(cfg.activation)]
        return [layer_class(*args, use_bias=False, name=name), layers.BatchNormalization(),
                layers.Activation(cfg.activation)]

    def convolution_and_pooling(filters: int, conv: str, subsampling: str) -> list[layers.Layer]:
        if subsampling not in cfg.pool_before_activation:
            return [*block(layers.Conv2D, filters, 5, name=conv), pool(2, name=subsampling)]
        if cfg.pooling == "avg":
            return [
                ConvAveragePool(filters, 5, name=f"{conv}{subsampling}"),
                layers.Activation(cfg.activation),
            ]
        return [
            layers.Conv2D(filters, 5, name=conv),
            pool(2, name=subsampling),
            layers.Activation(cfg.activation),
        ]

    def dropout() -> list[layers.Layer]:
        return [layers.Dropout(cfg.dropout)] if cfg.dropout else []

    stack = [
        keras.Input(input_shape),
        *convolution_and_pooling(6, "C1", "S2"),
        *convolution_and_pooling(16, "C3", "S4"),
        layers.Flatten(),
        *dropout(),
        *block(layers.Dense, 120, name="F5"),
        *dropout(),
        *block(layers.Dense, 84, name="F6"),
        layers.Dense(n_classes, activation="softmax", name="output"),
    ]
    return keras.Sequential(stack, name=CLASSIFIER)


@keras.saving.register_keras_serializable(package="lenet")
class AveragePooling2x2(layers.AveragePooling2D):
    """Keras's 2x2 average pooling (stride 2, no padding), with a cheaper gradient: each input's
    gradient is its output's times 0.25, spread over the window by two concatenations. oneDNN's own
    AvgPoolGrad computes exactly these numbers (a product by a power of two is exact) but spent
    about twice as long on S2's 28x28x6 maps; the forward op is Keras's."""

    def __init__(self, pool_size=2, **kwargs):
        super().__init__(pool_size, **{**kwargs, "strides": 2, "padding": "valid",
                                       "data_format": "channels_last"})
        if self.pool_size != (2, 2):
            raise ValueError(f"AveragePooling2x2 pools 2x2 windows, not {self.pool_size}")

    def call(self, inputs):
        pool = super().call

        @keras.ops.custom_gradient
        def pooled(x):
            return pool(x), _spread_over_2x2_windows

        return pooled(inputs)


def _spread_over_2x2_windows(upstream):
    """The gradient of 2x2 average pooling: each output's upstream gradient / 4, in its window."""
    ops = keras.ops
    quarter = upstream * 0.25
    n, height, width, channels = ops.shape(quarter)
    # [a, b] -> [a, a, b, b] along each row (channels stay innermost), then each row twice.
    columns = ops.reshape(
        ops.concatenate([quarter, quarter], axis=-1), (n, height, 2 * width, channels)
    )
    return ops.reshape(
        ops.concatenate([columns, columns], axis=2), (n, 2 * height, 2 * width, channels)
    )


@keras.saving.register_keras_serializable(package="lenet")
class ConvAveragePool(layers.Layer):
    """A `size`x`size` convolution (valid, with bias) followed by 2x2 average pooling, computed as
    one stride-2 convolution whose (size+1)x(size+1) kernel is the mean of the kernel's four
    one-pixel shifts: the same function with a quarter of the output positions, and no pooling op
    (LeNet-5's C1+S2 and C3+S4 when the activation comes after the pooling). The weights stay the
    `size`x`size` kernel and the bias."""

    def __init__(self, filters: int, size: int, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.size = filters, size

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(self.size, self.size, input_shape[-1], self.filters),
                                      initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias")

    def call(self, inputs):
        ops = keras.ops
        shifted = [ops.pad(self.kernel, [rows, columns, [0, 0], [0, 0]])
                   for rows in ([0, 1], [1, 0]) for columns in ([0, 1], [1, 0])]
        pooled_kernel = (shifted[0] + shifted[1] + shifted[2] + shifted[3]) * 0.25
        return ops.conv(inputs, pooled_kernel, strides=2, padding="valid") + self.bias

    def compute_output_shape(self, input_shape):
        n, height, width, _ = input_shape
        return (n, (height - self.size + 1) // 2, (width - self.size + 1) // 2, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "size": self.size}


@keras.saving.register_keras_serializable(package="lenet")
class RandomShiftRotate(layers.Layer):
    """Per-image random shift, rotation, (optionally) horizontal flip and elastic distortion in one
    resampling pass; identity at inference.

    One affine warp costs half of Keras's RandomTranslation followed by RandomRotation. Edges are
    filled with the nearest pixel, which is padding, i.e. background, whatever the normalisation.
    `interpolation` "nearest" copies the nearest input pixel instead of blending four: cheaper, and
    at a few degrees of rotation the image moves by at most half a pixel more.
    Elastic distortion (Simard et al., 2003): uniform noise in [-1, 1] per pixel and axis, smoothed
    by a Gaussian of `elastic_sigma` pixels and scaled by `elastic_alpha`, displaces where each
    output pixel samples the input (Keras's elastic_transform draws the same noise for both axes).
    """

    def __init__(self, shift: float, degrees: float, flip: bool = False, seed: int | None = None,
                 elastic_alpha: float = 0.0, elastic_sigma: float = 4.0,
                 interpolation: str = "bilinear", **kwargs):
        super().__init__(**kwargs)
        self.shift, self.degrees, self.flip, self.seed = shift, degrees, flip, seed
        self.interpolation = interpolation
        self.elastic_alpha, self.elastic_sigma = elastic_alpha, elastic_sigma
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=False):
        if not training:
            return images
        ops = keras.ops
        n = ops.shape(images)[0]
        height, width = images.shape[1], images.shape[2]
        angle = keras.random.uniform((n,), -1.0, 1.0, seed=self.seed_generator) * (
            self.degrees * math.pi / 180
        )
        # Whole-pixel shifts: without rotation the warp then copies pixels instead of blurring them.
        dx = ops.round(
            keras.random.uniform((n,), -1.0, 1.0, seed=self.seed_generator) * (self.shift * width)
        )
        dy = ops.round(
            keras.random.uniform((n,), -1.0, 1.0, seed=self.seed_generator) * (self.shift * height)
        )
        cos, sin = ops.cos(angle), ops.sin(angle)
        cx, cy = (width - 1) / 2, (height - 1) / 2
        # Output pixel (x, y) samples input (cos*x - sin*y + a2, sin*x + cos*y + b2): a rotation
        # about the centre followed by a shift of (dx, dy).
        a2 = cx - cos * cx + sin * cy - dx
        b2 = cy - sin * cx - cos * cy - dy
        # A flip first mirrors x about the centre: x -> m*x + cx*(1 - m), with m = -1 or 1.
        mirror = ops.ones_like(cos)
        if self.flip:
            coin = keras.random.uniform((n,), 0.0, 1.0, seed=self.seed_generator)
            mirror = ops.where(coin < 0.5, -1.0, 1.0)
        a2, b2 = a2 + cos * cx * (1 - mirror), b2 + sin * cx * (1 - mirror)
        zeros = ops.zeros_like(cos)
        transform = ops.stack([cos * mirror, -sin, a2, sin * mirror, cos, b2, zeros, zeros], axis=1)
        if not self.elastic_alpha:
            return ops.image.affine_transform(
                images, transform, interpolation=self.interpolation, fill_mode="nearest"
            )
        return self._warp_elastic(images, transform)

    def _warp_elastic(self, images, transform):
        """The affine transform plus a smooth random displacement, sampled as `interpolation`
        says."""
        ops = keras.ops
        n, height, width = ops.shape(images)[0], images.shape[1], images.shape[2]
        noise = keras.random.uniform((n, height, width, 2), -1.0, 1.0, seed=self.seed_generator)
        radius = max(1, math.ceil(2 * self.elastic_sigma))
        taps = [math.exp(-0.5 * (i / self.elastic_sigma) ** 2) for i in range(-radius, radius + 1)]
        kernel = ops.convert_to_tensor([t / sum(taps) for t in taps], dtype=noise.dtype)
        # The Gaussian is separable: a column pass, then a row pass, each axis's field on its own.
        field = ops.depthwise_conv(
            noise, ops.tile(ops.reshape(kernel, (-1, 1, 1, 1)), (1, 1, 2, 1)), padding="same"
        )
        field = (
            ops.depthwise_conv(
                field, ops.tile(ops.reshape(kernel, (1, -1, 1, 1)), (1, 1, 2, 1)), padding="same"
            )
            * self.elastic_alpha
        )
        ys, xs = ops.meshgrid(
            ops.arange(height, dtype=noise.dtype),
            ops.arange(width, dtype=noise.dtype),
            indexing="ij",
        )
        t = [ops.reshape(transform[:, i], (-1, 1, 1)) for i in range(6)]
        x_in = t[0] * xs + t[1] * ys + t[2] + field[..., 0]
        y_in = t[3] * xs + t[4] * ys + t[5] + field[..., 1]
        if self.interpolation == "nearest":  # whole-pixel coordinates: the blend weights are 0 or 1
            x_in, y_in = ops.round(x_in), ops.round(y_in)
        return _bilinear_nearest_edge(images, x_in, y_in)

    def get_config(self):
        return {**super().get_config(), "shift": self.shift, "degrees": self.degrees,
                "flip": self.flip, "seed": self.seed, "elastic_alpha": self.elastic_alpha,
                "elastic_sigma": self.elastic_sigma, "interpolation": self.interpolation}


def _bilinear_nearest_edge(images, x, y):
    """images (n, H, W, 1) sampled at float pixel coordinates x, y (n, H, W); outside the image,
    the nearest edge pixel."""
    ops = keras.ops
    n, height, width = ops.shape(images)[0], images.shape[1], images.shape[2]
    x, y = ops.clip(x, 0, width - 1), ops.clip(y, 0, height - 1)
    x0, y0 = ops.floor(x), ops.floor(y)
    wx, wy = x - x0, y - y0
    x0, y0 = ops.cast(x0, "int32"), ops.cast(y0, "int32")
    x1, y1 = ops.minimum(x0 + 1, width - 1), ops.minimum(y0 + 1, height - 1)
    flat = ops.reshape(images, (-1,))
    base = ops.reshape(ops.arange(n, dtype="int32") * (height * width), (-1, 1, 1))

    def at(yi, xi):
        return ops.take(flat, base + yi * width + xi)

    top = at(y0, x0) * (1 - wx) + at(y0, x1) * wx
    bottom = at(y1, x0) * (1 - wx) + at(y1, x1) * wx
    return ops.expand_dims(top * (1 - wy) + bottom * wy, -1)


def build_training_model(
    input_shape, n_classes: int, model: Model, train: Train, flip: bool = False
) -> keras.Model:
    """The classifier, preceded by augmentation when it is on. Export keeps only the classifier.

    `flip`: mirrored images keep their class (true of clothes, not of digits).
    """
    classifier = build_lenet5(input_shape, n_classes, model)
    if not train.augment:
        return classifier
    augmentation = RandomShiftRotate(train.shift, train.rotation_degrees, flip,
                                     elastic_alpha=train.elastic_alpha,
                                     elastic_sigma=train.elastic_sigma,
                                     interpolation=train.interpolation, name=AUGMENTATION)
    return keras.Sequential([keras.Input(input_shape), augmentation, classifier])


def classifier_of(model: keras.Model) -> keras.Model:
    return model if model.name == CLASSIFIER else model.get_layer(CLASSIFIER)


def learning_rate(train: Train, steps_per_epoch: int):
    """A float or a Keras schedule, stepped per batch."""
    if train.schedule == "constant":
        return train.learning_rate
    if train.schedule == "cosine":
        total = max(1, train.epochs * steps_per_epoch)
        if not train.warmup_epochs:  # the schedule trained before warm-up existed, to the bit
            return keras.optimizers.schedules.CosineDecay(train.learning_rate, decay_steps=total)
        # Keras's own warm-up: linear from 0 to learning_rate, then the cosine over the rest.
        warmup = min(total - 1, round(train.warmup_epochs * steps_per_epoch))
        return keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=total - warmup, warmup_target=train.learning_rate,
            warmup_steps=warmup,
        )
    # Keras keeps a phase's rate while step <= boundary: the last step of the epoch before.
    boundaries = [epoch * steps_per_epoch - 1 for epoch, _ in LECUN1998_SCHEDULE[1:]]
    rates = [train.learning_rate * fraction for _, fraction in LECUN1998_SCHEDULE]
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, rates)


def compile_model(model: keras.Model, train: Train, steps_per_epoch: int) -> None:
    """Optimiser, loss and metrics; fit() then runs a whole epoch of `steps_per_epoch` steps per
    call into TensorFlow (steps_per_execution), so it must be given that many steps per epoch."""
    lr = learning_rate(train, steps_per_epoch)
    ema = {"use_ema": bool(train.ema_momentum), "ema_momentum": train.ema_momentum or 0.99}
    if train.optimizer == "adam":
        optimizer = keras.optimizers.Adam(lr, **ema)
    else:
        optimizer = keras.optimizers.SGD(lr, momentum=train.momentum, **ema)
    if train.loss == "crossentropy" and not train.label_smoothing:
        loss = keras.losses.SparseCategoricalCrossentropy()
    else:
        loss = _SparseOneHotLoss(train.loss, train.label_smoothing)
    # One execution per epoch: the same steps, in the same order, to the same bytes, without
    # returning to Python after each (7-14% of the step on the 2-core EPYC: README). Exactly one
    # epoch, because Keras 3.15 runs whole executions, across the end of an epoch that the group
    # does not divide, and the resume state and curves must fall on epoch boundaries.
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"],
                  steps_per_execution=steps_per_epoch)


@keras.saving.register_keras_serializable(package="lenet")
class _SparseOneHotLoss(keras.losses.Loss):
    """Integer labels against softmax outputs, through (smoothed) one-hot targets: cross-entropy
    with label smoothing, or the 1998 paper's squared error."""

    def __init__(self, kind: str = "mse", label_smoothing: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.kind, self.label_smoothing = kind, label_smoothing

    def call(self, y_true, y_pred):
        n_classes = y_pred.shape[-1]
        labels = keras.ops.cast(keras.ops.reshape(y_true, [-1]), "int32")
        target = keras.ops.one_hot(labels, n_classes)
        target = target * (1 - self.label_smoothing) + self.label_smoothing / n_classes
        if self.kind == "mse":
            return keras.ops.mean(keras.ops.square(target - y_pred), axis=-1)
        return keras.losses.categorical_crossentropy(target, y_pred)

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "label_smoothing": self.label_smoothing}


def count_trainable(model: keras.Model) -> int:
    return int(sum(math.prod(w.shape) for w in model.trainable_weights))



# A fixed timestamp for the .keras archive's entries and its metadata (the zip format's earliest
# date): Keras stamps both with the save time, which would give every run a new model hash, as
# would the memory addresses it writes as `shared_object_id`s (renumbered in order of appearance).
FIXED_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
FIXED_SAVE_DATE = "1980-01-01@00:00:00"


def save(model: keras.Model, target: Path) -> None:
    """model.save() with the save times taken out, atomically: same weights, same bytes."""
    with tempfile.TemporaryDirectory() as scratch, atomic_path(target) as tmp:
        saved = Path(scratch) / "model.keras"
        model.save(saved)
        with zipfile.ZipFile(saved) as source, zipfile.ZipFile(tmp, "w") as dest:
            for info in source.infolist():
                data = source.read(info)
                if info.filename == "metadata.json":
                    data = json.dumps({**json.loads(data), "date_saved": FIXED_SAVE_DATE}).encode()
                elif info.filename == "config.json":
                    data = json.dumps(_renumber_shared_objects(json.loads(data), {})).encode()
                entry = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_DATE)
                entry.compress_type, entry.external_attr = info.compress_type, 0o644 << 16
                dest.writestr(entry, data)


def _renumber_shared_objects(config, numbers: dict[int, int]):
    """The config with each `shared_object_id` replaced by its order of first appearance."""
    if isinstance(config, list):
        return [_renumber_shared_objects(item, numbers) for item in config]
    if not isinstance(config, dict):
        return config
    renumbered = {key: _renumber_shared_objects(value, numbers) for key, value in config.items()}
    if "shared_object_id" in config:
        renumbered["shared_object_id"] = numbers.setdefault(
            config["shared_object_id"], len(numbers) + 1
        )
    return renumbered
