import copy
import re

import pytest
import yaml

from harness.synthetic import ROOT
from pipeline.core.config import ParamsError, load_params, parse_params


@pytest.fixture
def raw():
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_project_params_are_valid():
    params = load_params(ROOT / "params.yaml")
    assert set(params.datasets) == {"mnist", "fashion_mnist"}


def test_unknown_key_is_rejected_and_named(raw):
    raw["train"]["epoch"] = 3
    with pytest.raises(ParamsError, match=r"train\.epoch: unknown key"):
        parse_params(raw)


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("train", "batch_size", "big", r"train\.batch_size: .*'big'"),  # wrong type
        ("preprocess", "validation_fraction", 1.5, r"preprocess\.validation_fraction: .*1\.5"),  # range
        ("model", "activation", "gelu", r"model\.activation: .*'gelu'"),  # not a choice
    ],
)
def test_bad_value_is_rejected_and_named(raw, section, key, value, message):
    raw[section][key] = value
    with pytest.raises(ParamsError, match=message):
        parse_params(raw)


def test_pooling_before_the_activation_refuses_batch_norm_on_its_convolution(raw):
    raw["model"].update(pool_before_activation=["S4"], batch_norm=["C3", "F5"])
    with pytest.raises(ParamsError, match=r"model: .*pool_before_activation \['S4'\] .*batch norm on C3"):
        parse_params(raw)


def test_pooling_before_the_activation_allows_batch_norm_on_the_other_convolution(raw):
    raw["model"].update(pool_before_activation=["S4"], batch_norm=["C1", "F5"])
    assert parse_params(raw).model.pool_before_activation == ["S4"]


def test_bad_checksum_is_rejected(raw):
    raw["datasets"]["mnist"]["files"]["train_images"]["md5"] = "not-a-checksum"
    with pytest.raises(ParamsError, match=r"datasets\.mnist\.files\.train_images\.md5"):
        parse_params(raw)


def test_missing_section_is_named(raw):
    del raw["train"]
    with pytest.raises(ParamsError, match=r"train: required key is missing"):
        parse_params(raw)


def test_unknown_dataset_lists_known_ones(raw):
    params = parse_params(copy.deepcopy(raw))
    with pytest.raises(ParamsError, match=r"unknown dataset 'cifar'.*fashion_mnist, mnist"):
        params.dataset("cifar")


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "params.yaml"
    bad.write_text("train: [unclosed")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(bad)


def test_every_train_setting_takes_one_value_or_one_per_dataset(raw):
    raw["train"].update(epochs={"mnist": 3, "fashion_mnist": 7},
                        label_smoothing={"mnist": 0.1, "fashion_mnist": 0.0}, optimizer="sgd")
    params = parse_params(raw)
    assert (params.train_for("mnist").epochs, params.train_for("mnist").label_smoothing) == (3, 0.1)
    assert (params.train_for("fashion_mnist").epochs,
            params.train_for("fashion_mnist").label_smoothing) == (7, 0.0)
    assert params.train_for("fashion_mnist").optimizer == params.train_for("mnist").optimizer == "sgd"


@pytest.mark.parametrize("value", [{"mnist": 0.1}, {"mnist": 0.1, "fashion_mnist": 0.0, "cifar": 0.2}])
def test_a_per_dataset_setting_must_name_each_dataset(raw, value):
    raw["train"]["label_smoothing"] = value
    with pytest.raises(ParamsError, match=r"train\.label_smoothing names datasets .* one value per "
                                          r"dataset, or one for all$"):
        parse_params(raw)


@pytest.mark.parametrize(("value", "problem"), [
    (0, r"train\.epochs: Input should be greater than or equal to 1 \(got 0\)"),
    ({"mnist": 0, "fashion_mnist": 5},
     r"train\.epochs\.mnist: Input should be greater than or equal to 1 \(got 0\)"),
])
def test_a_bad_setting_is_reported_once_in_the_shape_it_was_given(raw, value, problem):
    """One line about the value as written, not one per shape a setting may take."""
    raw["train"]["epochs"] = value
    with pytest.raises(ParamsError) as error:
        parse_params(raw)
    assert str(error.value).splitlines()[0].endswith("1 invalid parameter(s)")
    assert re.fullmatch(problem, str(error.value).splitlines()[1].strip())
