import pytest

from pipeline.config import load_params
from pipeline.model import build_lenet5, count_trainable
from tests.synthetic import ROOT

LENET5_LAYERS = ["C1", "S2", "C3", "S4", "F5", "F6", "output"]


@pytest.mark.parametrize("batch_norm", [["C1", "C3", "F5", "F6"], []])
def test_lenet5_keeps_the_paper_shape_and_size(batch_norm):
    params = load_params(ROOT / "params.yaml")
    model = build_lenet5((32, 32, 1), 10, params.model.model_copy(update={"batch_norm": batch_norm}))
    named = [layer.name for layer in model.layers if layer.name in LENET5_LAYERS]
    assert named == LENET5_LAYERS
    assert count_trainable(model) <= 70_000
    assert model.get_layer("S4").output.shape[1:] == (5, 5, 16)


@pytest.mark.parametrize("named", [["C3", "F5", "F6"], ["F5", "F6"], ["C1"]])
def test_batch_norm_follows_exactly_the_layers_params_name(named):
    params = load_params(ROOT / "params.yaml")
    model = build_lenet5((32, 32, 1), 10, params.model.model_copy(update={"batch_norm": named}))
    layers = model.layers
    after = {layer.name: type(layers[i + 1]).__name__ for i, layer in enumerate(layers[:-1])}
    for name in ("C1", "C3", "F5", "F6"):
        assert after[name] == ("BatchNormalization" if name in named else "Activation"), name
        assert model.get_layer(name).use_bias == (name not in named), name
