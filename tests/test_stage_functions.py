"""The pure functions under the stages: scores, the validation split, schedules, augmentation."""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from harness.synthetic import ROOT
from pipeline.core.config import load_params
from pipeline.stages.evaluate import confusion_matrix, per_class_scores
from pipeline.stages.preprocess import normalisation, stratified_split, transform


def test_confusion_matrix_counts_actual_rows_and_predicted_columns():
    matrix = confusion_matrix(np.array([0, 0, 0, 0, 1, 1]), np.array([0, 0, 0, 1, 1, 1]), 3)
    assert matrix.tolist() == [[3, 1, 0], [0, 2, 0], [0, 0, 0]]


def test_per_class_scores_by_hand_and_zero_for_a_class_never_seen():
    scores = per_class_scores(np.array([[3, 1, 0], [0, 2, 0], [0, 0, 0]]), ["a", "b", "never"])
    assert scores["a"] == {"precision": 1.0, "recall": 0.75, "f1": pytest.approx(0.857143)}
    assert scores["b"] == {"precision": pytest.approx(0.666667), "recall": 1.0, "f1": 0.8}
    assert scores["never"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_stratified_split_takes_the_fraction_of_every_class_disjointly_and_by_seed():
    labels = np.repeat(np.arange(4), [10, 20, 30, 40])
    train, val = stratified_split(labels, 0.1, seed=3)
    assert np.bincount(labels[val]).tolist() == [1, 2, 3, 4]
    assert np.intersect1d(train, val).size == 0
    assert sorted([*train, *val]) == list(range(len(labels)))
    assert np.array_equal(stratified_split(labels, 0.1, seed=3)[1], val)
    assert not np.array_equal(stratified_split(labels, 0.1, seed=4)[1], val)


def test_transform_pads_with_background_and_normalises_with_the_given_constants():
    images = np.full((2, 28, 28), 255, dtype=np.uint8)
    out = transform(images, pad=2, mean=127.5, std=127.5)
    assert out.shape == (2, 32, 32, 1) and out.dtype == np.float32
    assert out[0, 0, 0, 0] == pytest.approx(-1.0)  # padding: raw 0
    assert out[0, 2, 2, 0] == pytest.approx(1.0)
    assert normalisation(images, "unit") == (0.0, 255.0)
    assert normalisation(np.array([[0, 255]], np.uint8), "standard") == (127.5, 127.5)


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
    at = [base if isinstance(rate, float) else float(rate(epoch * steps)) for epoch in range(epochs)]
    if schedule == "constant":
        assert at == [base] * epochs
    elif schedule == "cosine":
        assert at[0] == pytest.approx(base)
        assert at[epochs // 2] == pytest.approx(base / 2, rel=1e-5)
        assert float(rate(epochs * steps)) == pytest.approx(0.0, abs=1e-9)
    else:
        for (start, fraction), (end, _) in zip(LECUN1998_SCHEDULE, [*LECUN1998_SCHEDULE[1:], (epochs, 0)],
                                               strict=True):
            assert at[start:end] == pytest.approx([base * fraction] * (end - start))


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
        assert out.sum() == pytest.approx(1.0) and out.max() == pytest.approx(1.0)  # copied, not blurred
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
    field = elastic_field(alpha=8.0, sigma=4.0, seed=3)[:, 6:26, 6:26]  # away from the clipped edges
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


def test_an_epoch_runs_as_one_execution_and_trains_the_weights_of_one_step_at_a_time(train_settings):
    whole_epochs = tiny_training(train_settings)
    assert whole_epochs.steps_per_execution == 13  # the steps_per_epoch given to compile_model
    one_step_at_a_time = tiny_training(train_settings, steps_per_execution=1)
    for ours, theirs in zip(whole_epochs.weights, one_step_at_a_time.weights, strict=True):
        assert np.array_equal(np.asarray(ours), np.asarray(theirs)), ours.path


def test_the_cheaper_average_pooling_gradient_trains_the_weights_of_keras_own_pooling(train_settings):
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
    assert not all(np.array_equal(np.asarray(a), np.asarray(b))
                   for a, b in zip(last_step.trainable_weights, averaged.trainable_weights, strict=True))


def test_a_search_saving_its_state_leaves_the_old_state_whole_until_the_new_one_replaces_it(
        tmp_path, monkeypatch):
    """keras-tuner's own save truncated oracle.json before writing it: a search killed then could
    not resume (JSONDecodeError). Through pipeline.stages.tune its saves are written aside and renamed."""
    from keras_tuner.src.engine.stateful import Stateful

    import pipeline.stages.tune  # noqa: F401  (installs the atomic writer)

    class SearchState(Stateful):
        def __init__(self, trials):
            self.trials = trials

        def get_state(self):
            return {"trials": self.trials}

        def set_state(self, state):
            self.trials = state["trials"]

    oracle = tmp_path / "oracle.json"
    SearchState(1).save(str(oracle))
    on_disk_while_saving = []
    rename = os.replace

    def watched_rename(source, target):
        on_disk_while_saving.append(Path(target).read_text())
        rename(source, target)

    monkeypatch.setattr(os, "replace", watched_rename)
    SearchState(2).save(str(oracle))
    assert on_disk_while_saving == ['{"trials": 1}']
    resumed = SearchState(0)
    resumed.reload(str(oracle))
    assert resumed.trials == 2
    assert [p.name for p in tmp_path.iterdir()] == ["oracle.json"]
