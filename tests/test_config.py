import copy

import pytest
import yaml

from pipeline.config import ParamsError, load_params, parse_params
from tests.synthetic import ROOT


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


def test_epochs_per_dataset_or_one_for_all(raw):
    raw["train"]["epochs"] = {"mnist": 3, "fashion_mnist": 7}
    params = parse_params(copy.deepcopy(raw))
    assert params.train_for("mnist").epochs == 3
    assert params.train_for("fashion_mnist").epochs == 7
    raw["train"]["epochs"] = 5
    assert parse_params(raw).train_for("fashion_mnist").epochs == 5


@pytest.mark.parametrize("epochs", [{"mnist": 3}, {"mnist": 3, "fashion_mnist": 7, "cifar": 2}])
def test_epochs_per_dataset_must_name_each_dataset(raw, epochs):
    raw["train"]["epochs"] = epochs
    with pytest.raises(ParamsError, match=r"train\.epochs names datasets .* one count per dataset"):
        parse_params(raw)
