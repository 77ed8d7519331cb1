"""pipeline/model/lenet.py: the network, its schedules, augmentation and training step. Keras is
imported inside each test, not at the top of this file: a process that runs none never pays for
it."""

from unittest import mock

import numpy as np
import pytest

from harness.synthetic import ROOT
from pipeline.core.config import load_params

LENET5_LAYERS = ["C1", "S2", "C3", "S4", "F5", "F6", "output"]


def model_settings(**changes):
    """params.yaml's model section with `changes`, the activation after the convolutions."""
    params = load_params(ROOT / "params.yaml")
    return params.model.model_copy(update={"pool_before_activation": [], **changes})


@pytest.mark.parametrize("batch_norm", [["C1", "C3", "F5", "F6"], []])
def test_lenet5_keeps_the_paper_shape_and_size(batch_norm):
    from pipeline.model.lenet import build_lenet5, count_trainable

    model = build_lenet5((32, 32, 1), 10, model_settings(batch_norm=batch_norm))
    named = [layer.name for layer in model.layers if layer.name in LENET5_LAYERS]
    assert named == LENET5_LAYERS
    assert count_trainable(model) <= 70_000
    assert model.get_layer("S4").output.shape[1:] == (5, 5, 16)


@pytest.mark.parametrize("named", [["C3", "F5", "F6"], ["F5", "F6"], ["C1"]])
def test_batch_norm_follows_exactly_the_layers_params_name(named):
    from pipeline.model.lenet import build_lenet5

    model = build_lenet5((32, 32, 1), 10, model_settings(batch_norm=named))
    layers = model.layers
    after = {layer.name: type(layers[i + 1]).__name__ for i, layer in enumerate(layers[:-1])}
    for name in ("C1", "C3", "F5", "F6"):
        assert after[name] == ("BatchNormalization" if name in named else "Activation"), name
        assert model.get_layer(name).use_bias == (name not in named), name


def test_a_pooled_convolution_is_the_convolution_then_the_average_pooling():
    """ConvAveragePool's one stride-2 convolution against Keras's Conv2D and AveragePooling2D with
    the same weights: the same function."""
    import keras

    from pipeline.model.lenet import ConvAveragePool

    inputs = np.random.default_rng(0).normal(size=(3, 14, 14, 6)).astype("float32")
    pooled = ConvAveragePool(16, 5)
    separate = keras.Sequential([keras.Input((14, 14, 6)), keras.layers.Conv2D(16, 5),
                                 keras.layers.AveragePooling2D(2)])
    pooled.build(inputs.shape)
    pooled.bias.assign(np.linspace(-1, 1, 16, dtype="float32"))
    separate.layers[0].set_weights([pooled.kernel.numpy(), pooled.bias.numpy()])
    expected = separate(inputs).numpy()
    assert pooled(inputs).shape == pooled.compute_output_shape(inputs.shape) == (3, 5, 5, 16)
    np.testing.assert_allclose(pooled(inputs).numpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("pooling", "pooled_first", "layer_types"),
    [
        ("avg", ["S2", "S4"], ["ConvAveragePool", "Activation", "ConvAveragePool", "Activation"]),
        (
            "avg",
            ["S4"],
            ["Conv2D", "Activation", "AveragePooling2x2", "ConvAveragePool", "Activation"],
        ),
        (
            "max",
            ["S2", "S4"],
            ["Conv2D", "MaxPooling2D", "Activation", "Conv2D", "MaxPooling2D", "Activation"],
        ),
        (
            "max",
            ["S2"],
            ["Conv2D", "MaxPooling2D", "Activation", "Conv2D", "Activation", "MaxPooling2D"],
        ),
    ],
)
def test_pooling_before_the_activation_keeps_the_weights_and_moves_the_activation(
    pooling, pooled_first, layer_types
):
    from pipeline.model.lenet import build_lenet5, count_trainable

    model = build_lenet5(
        (32, 32, 1),
        10,
        model_settings(
            pooling=pooling, pool_before_activation=pooled_first, batch_norm=["F5", "F6"]
        ),
    )
    reference = build_lenet5(
        (32, 32, 1), 10, model_settings(pooling=pooling, batch_norm=["F5", "F6"])
    )
    flatten = [type(layer).__name__ for layer in model.layers].index("Flatten")
    assert [type(layer).__name__ for layer in model.layers[:flatten]] == layer_types
    assert model.layers[flatten - 1].output.shape[1:] == (5, 5, 16)
    assert count_trainable(model) == count_trainable(reference)


# Training: schedules, augmentation, one execution per epoch, the pooling gradient, EMA.

@pytest.fixture(scope="module")
def train_settings():
    return load_params(ROOT / "params.yaml").train_for("mnist")



@pytest.mark.parametrize("schedule", ["constant", "cosine", "lecun1998"])
def test_learning_rate_schedules_have_their_documented_shape(train_settings, schedule):
    from pipeline.model.lenet import LECUN1998_SCHEDULE, learning_rate

    steps, epochs, base = 10, 12, 0.01
    settings = train_settings.model_copy(update={"schedule": schedule, "epochs": epochs,
                                                 "learning_rate": base})
    rate = learning_rate(settings, steps)
    at = [
        base if isinstance(rate, float) else float(rate(epoch * steps)) for epoch in range(epochs)
    ]
    if schedule == "constant":
        assert at == [base] * epochs
    elif schedule == "cosine":
        assert at[0] == pytest.approx(base)
        assert at[epochs // 2] == pytest.approx(base / 2, rel=1e-5)
        assert float(rate(epochs * steps)) == pytest.approx(0.0, abs=1e-9)
    else:
        for (start, fraction), (end, _) in zip(
            LECUN1998_SCHEDULE, [*LECUN1998_SCHEDULE[1:], (epochs, 0)], strict=True
        ):
            assert at[start:end] == pytest.approx([base * fraction] * (end - start))



def test_cosine_warm_up_rises_linearly_to_the_rate_then_decays_to_zero(train_settings):
    from pipeline.model.lenet import learning_rate

    steps, epochs, base = 10, 12, 0.01
    settings = train_settings.model_copy(update={"schedule": "cosine", "epochs": epochs,
                                                 "learning_rate": base, "warmup_epochs": 2})
    rate = learning_rate(settings, steps)
    assert [float(rate(s)) for s in (0, 10, 20)] == pytest.approx([0.0, base / 2, base])
    # the decay takes the other 10 epochs: half-way through them, half the rate
    assert float(rate(20 + 5 * steps)) == pytest.approx(base / 2, rel=1e-5)
    assert float(rate(epochs * steps)) == pytest.approx(0.0, abs=1e-9)


def dot_image(row: int, col: int, size: int = 32) -> np.ndarray:
    image = np.zeros((1, size, size, 1), np.float32)
    image[0, row, col, 0] = 1.0
    return image



def test_augmentation_shifts_by_whole_pixels_within_the_limit_and_is_identity_at_inference():
    from pipeline.model.lenet import RandomShiftRotate

    layer = RandomShiftRotate(shift=0.1, degrees=0.0, seed=0)
    image = dot_image(16, 16)
    assert np.array_equal(np.asarray(layer(image, training=False)), image)
    moves = set()
    for _ in range(20):
        out = np.asarray(layer(image, training=True))[0, :, :, 0]
        # copied, not blurred
        assert out.sum() == pytest.approx(1.0) and out.max() == pytest.approx(1.0)
        row, col = np.unravel_index(out.argmax(), out.shape)
        assert abs(row - 16) <= 3.2 and abs(col - 16) <= 3.2  # shift 0.1 of 32 pixels
        moves.add((row - 16, col - 16))
    assert len(moves) > 5  # per-image random, not one fixed offset



def test_augmentation_rotates_about_the_centre_within_the_angle():
    from pipeline.model.lenet import RandomShiftRotate

    layer = RandomShiftRotate(shift=0.0, degrees=30.0, seed=1)
    image = np.zeros((1, 33, 33, 1), np.float32)
    image[0, 15:18, 26:29, 0] = 1.0  # a block 11 pixels right of the centre (16, 16)
    for _ in range(10):
        out = np.asarray(layer(image, training=True))[0, :, :, 0]
        rows, cols = np.indices(out.shape)
        row, col = (rows * out).sum() / out.sum(), (cols * out).sum() / out.sum()
        assert np.hypot(row - 16, col - 16) == pytest.approx(11, abs=0.6)  # same radius
        assert abs(np.degrees(np.arctan2(row - 16, col - 16))) <= 30.5



def test_augmentation_flip_mirrors_left_and_right_only_when_asked():
    from pipeline.model.lenet import RandomShiftRotate

    image = dot_image(10, 5)
    seen = set()
    for flip in (False, True):
        layer = RandomShiftRotate(shift=0.0, degrees=0.0, flip=flip, seed=2)
        for _ in range(12):
            out = np.asarray(layer(image, training=True))[0, :, :, 0]
            seen.add((flip, tuple(int(v) for v in np.unravel_index(out.argmax(), out.shape))))
    assert {pos for flip, pos in seen if not flip} == {(10, 5)}
    assert {pos for flip, pos in seen if flip} == {(10, 5), (10, 26)}



@pytest.mark.parametrize("elastic_alpha", [0.0, 4.0])
def test_nearest_interpolation_copies_input_pixels_where_bilinear_blends_them(elastic_alpha):
    from pipeline.model.lenet import RandomShiftRotate

    image = np.random.default_rng(4).integers(0, 4, (8, 32, 32, 1)).astype(np.float32)
    for interpolation, only_input_values in (("nearest", True), ("bilinear", False)):
        layer = RandomShiftRotate(shift=0.06, degrees=20.0, seed=5, elastic_alpha=elastic_alpha,
                                  interpolation=interpolation)
        out = np.asarray(layer(image, training=True))
        assert not np.array_equal(out, image)  # it did warp
        assert set(np.unique(out)) <= {0.0, 1.0, 2.0, 3.0} if only_input_values else \
            len(np.unique(out)) > 4, interpolation



def elastic_field(alpha: float, sigma: float, seed: int, n: int = 4, size: int = 32) -> np.ndarray:
    """Where each output pixel sampled the input, minus where it is: the displacement field
    (n, size, size, 2), read off by warping coordinate ramps (bilinear sampling reproduces a linear
    image exactly) with two layers of one seed, which therefore draw the same field."""
    from pipeline.model.lenet import RandomShiftRotate

    cols, rows = np.meshgrid(np.arange(size, dtype=np.float32), np.arange(size, dtype=np.float32))
    fields = []
    for ramp in (cols, rows):
        layer = RandomShiftRotate(shift=0.0, degrees=0.0, seed=seed, elastic_alpha=alpha,
                                  elastic_sigma=sigma)
        images = np.broadcast_to(ramp[None, :, :, None], (n, size, size, 1)).copy()
        fields.append(np.asarray(layer(images, training=True))[..., 0] - ramp)
    return np.stack(fields, axis=-1)



def test_elastic_distortion_is_a_smooth_random_displacement_independent_per_axis_and_image():
    # away from the clipped edges
    field = elastic_field(alpha=8.0, sigma=4.0, seed=3)[:, 6:26, 6:26]
    size = np.abs(field).mean()
    assert 0.05 < size < 8.0  # it moves pixels, by less than alpha
    roughness = np.abs(np.diff(field, axis=2)).mean()
    assert roughness < 0.3 * size  # neighbours move together: a smoothed field, not noise
    dx, dy = field[..., 0].ravel(), field[..., 1].ravel()
    assert abs(np.corrcoef(dx, dy)[0, 1]) < 0.5  # each axis its own noise
    assert not np.allclose(field[0], field[1])  # each image its own field
    stronger = np.abs(elastic_field(alpha=16.0, sigma=4.0, seed=3)[:, 6:26, 6:26]).mean()
    assert stronger == pytest.approx(2 * size, rel=0.01)  # alpha scales the displacement
    assert not elastic_field(alpha=0.0, sigma=4.0, seed=3).any()  # off: the identity



def tiny_training(train_settings, steps_per_execution: int | None = None, **train_changes):
    """LeNet-5 trained two epochs on 200 random images with pipeline.model.lenet's compile_model;
    `steps_per_execution` overrides the one compile_model sets."""
    import keras

    from pipeline.model.lenet import build_training_model, compile_model

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 32, 32, 1)).astype(np.float32), rng.integers(0, 10, 200)
    settings = train_settings.model_copy(update={"epochs": 2, "batch_size": 16, **train_changes})
    model = build_training_model(x.shape[1:], 10, load_params(ROOT / "params.yaml").model, settings)
    compile_model(model, settings, steps_per_epoch=13)
    if steps_per_execution:
        model.steps_per_execution = steps_per_execution
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    return model



def test_an_epoch_runs_as_one_execution_and_trains_the_weights_of_one_step_at_a_time(
    train_settings,
):
    whole_epochs = tiny_training(train_settings)
    assert whole_epochs.steps_per_execution == 13  # the steps_per_epoch given to compile_model
    one_step_at_a_time = tiny_training(train_settings, steps_per_execution=1)
    for ours, theirs in zip(whole_epochs.weights, one_step_at_a_time.weights, strict=True):
        assert np.array_equal(np.asarray(ours), np.asarray(theirs)), ours.path



def test_the_cheaper_average_pooling_gradient_trains_the_weights_of_keras_own_pooling(
    train_settings,
):
    """AveragePooling2x2 (S2 and S4 of the defaults) replaces only how the gradient is computed."""
    import keras

    ours = tiny_training(train_settings)
    assert [type(ours.get_layer("lenet5").get_layer(name)).__name__ for name in ("S2", "S4")] == \
        ["AveragePooling2x2"] * 2
    with mock.patch("pipeline.model.lenet.AveragePooling2x2", keras.layers.AveragePooling2D):
        keras_own = tiny_training(train_settings)
    assert type(keras_own.get_layer("lenet5").get_layer("S2")) is keras.layers.AveragePooling2D
    for weight, reference in zip(ours.weights, keras_own.weights, strict=True):
        assert np.array_equal(np.asarray(weight), np.asarray(reference)), weight.path



def test_ema_momentum_leaves_the_averaged_weights_in_the_model(train_settings):
    last_step = tiny_training(train_settings, ema_momentum=0.0)
    averaged = tiny_training(train_settings, ema_momentum=0.9)
    averages = averaged.optimizer._model_variables_moving_average
    assert averaged.optimizer.use_ema and len(averages) == len(averaged.trainable_weights)
    for weight, average in zip(averaged.trainable_weights, averages, strict=True):
        assert np.array_equal(np.asarray(weight), np.asarray(average)), weight.path
    assert not all(
        np.array_equal(np.asarray(a), np.asarray(b))
        for a, b in zip(last_step.trainable_weights, averaged.trainable_weights, strict=True)
    )
