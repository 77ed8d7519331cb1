import keras
import numpy as np
import pytest

from harness.synthetic import ROOT
from pipeline.core.config import load_params
from pipeline.model.lenet import ConvAveragePool, build_lenet5, count_trainable

LENET5_LAYERS = ["C1", "S2", "C3", "S4", "F5", "F6", "output"]


def model_settings(**changes):
    """params.yaml's model section with `changes`, the activation after the convolutions."""
    params = load_params(ROOT / "params.yaml")
    return params.model.model_copy(update={"pool_before_activation": [], **changes})


@pytest.mark.parametrize("batch_norm", [["C1", "C3", "F5", "F6"], []])
def test_lenet5_keeps_the_paper_shape_and_size(batch_norm):
    model = build_lenet5((32, 32, 1), 10, model_settings(batch_norm=batch_norm))
    named = [layer.name for layer in model.layers if layer.name in LENET5_LAYERS]
    assert named == LENET5_LAYERS
    assert count_trainable(model) <= 70_000
    assert model.get_layer("S4").output.shape[1:] == (5, 5, 16)


@pytest.mark.parametrize("named", [["C3", "F5", "F6"], ["F5", "F6"], ["C1"]])
def test_batch_norm_follows_exactly_the_layers_params_name(named):
    model = build_lenet5((32, 32, 1), 10, model_settings(batch_norm=named))
    layers = model.layers
    after = {layer.name: type(layers[i + 1]).__name__ for i, layer in enumerate(layers[:-1])}
    for name in ("C1", "C3", "F5", "F6"):
        assert after[name] == ("BatchNormalization" if name in named else "Activation"), name
        assert model.get_layer(name).use_bias == (name not in named), name


def test_a_pooled_convolution_is_the_convolution_then_the_average_pooling():
    """ConvAveragePool's one stride-2 convolution against Keras's Conv2D and AveragePooling2D with
    the same weights: the same function."""
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


@pytest.mark.parametrize(("pooling", "pooled_first", "layer_types"), [
    ("avg", ["S2", "S4"], ["ConvAveragePool", "Activation", "ConvAveragePool", "Activation"]),
    ("avg", ["S4"], ["Conv2D", "Activation", "AveragePooling2x2", "ConvAveragePool", "Activation"]),
    ("max", ["S2", "S4"], ["Conv2D", "MaxPooling2D", "Activation", "Conv2D", "MaxPooling2D", "Activation"]),
    ("max", ["S2"], ["Conv2D", "MaxPooling2D", "Activation", "Conv2D", "Activation", "MaxPooling2D"]),
])
def test_pooling_before_the_activation_keeps_the_weights_and_moves_the_activation(pooling, pooled_first,
                                                                                  layer_types):
    model = build_lenet5((32, 32, 1), 10, model_settings(pooling=pooling, pool_before_activation=pooled_first,
                                                         batch_norm=["F5", "F6"]))
    reference = build_lenet5((32, 32, 1), 10, model_settings(pooling=pooling, batch_norm=["F5", "F6"]))
    flatten = [type(layer).__name__ for layer in model.layers].index("Flatten")
    assert [type(layer).__name__ for layer in model.layers[:flatten]] == layer_types
    assert model.layers[flatten - 1].output.shape[1:] == (5, 5, 16)
    assert count_trainable(model) == count_trainable(reference)
