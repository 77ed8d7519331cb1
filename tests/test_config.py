import copy
import re

import pytest
import yaml

from harness.synthetic import ROOT
from pipeline.core.config import ParamsError, Train, load_params, parse_params


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
        # out of range
        ("preprocess", "validation_fraction", 1.5, r"preprocess\.validation_fraction: .*1\.5"),
        ("model", "activation", "gelu", r"model\.activation: .*'gelu'"),  # not a choice
    ],
)
def test_bad_value_is_rejected_and_named(raw, section, key, value, message):
    raw[section][key] = value
    with pytest.raises(ParamsError, match=message):
        parse_params(raw)


def test_pooling_before_the_activation_refuses_batch_norm_on_its_convolution(raw):
    raw["model"].update(pool_before_activation=["S4"], batch_norm=["C3", "F5"])
    with pytest.raises(
        ParamsError, match=r"model: .*pool_before_activation \['S4'\] .*batch norm on C3"
    ):
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


def test_a_datasets_own_train_setting_wins_over_the_shared_one(raw):
    raw["train"]["optimizer"] = "sgd"
    raw["datasets"]["mnist"]["train"].update(epochs=3, optimizer="adam")
    params = parse_params(raw)
    assert (params.train_for("mnist").epochs, params.train_for("mnist").optimizer) == (3, "adam")
    own = raw["datasets"]["fashion_mnist"]["train"]["epochs"]
    assert (params.train_for("fashion_mnist").epochs,
            params.train_for("fashion_mnist").optimizer) == (own, "sgd")


def test_a_setting_found_at_neither_level_is_named_with_both_places(raw):
    del raw["datasets"]["fashion_mnist"]["train"]["epochs"]
    del raw["train"]["epochs"]
    with pytest.raises(
        ParamsError,
        match=r"dataset 'fashion_mnist' has no value for train\.epochs: "
        r"give it in `train` \(every dataset\) or in "
        r"`datasets\.fashion_mnist\.train` \(this one\)",
    ):
        parse_params(raw)


def test_a_datasets_train_setting_is_validated_as_the_shared_one(raw):
    raw["datasets"]["mnist"]["train"]["batch_sise"] = 64
    with pytest.raises(ParamsError, match=r"datasets\.mnist\.train\.batch_sise: unknown key"):
        parse_params(raw)


@pytest.mark.parametrize(
    ("where", "problem"),
    [
        ("shared", r"train\.epochs: Input should be greater than or equal to 1 \(got 0\)"),
        (
            "mnist",
            r"datasets\.mnist\.train\.epochs: Input should be greater than or equal to 1 \(got 0\)",
        ),
    ],
)
def test_a_bad_setting_is_reported_once_where_it_was_given(raw, where, problem):
    """One line about the value as written, naming the level that gave it."""
    (raw["train"] if where == "shared" else raw["datasets"]["mnist"]["train"])["epochs"] = 0
    with pytest.raises(ParamsError) as error:
        parse_params(raw)
    assert str(error.value).splitlines()[0].endswith("1 invalid parameter(s)")
    assert re.fullmatch(problem, str(error.value).splitlines()[1].strip())


def test_the_shared_train_settings_hold_a_value_for_every_key(raw):
    """What a dataset added with `train: {}` trains with: nothing is missing."""
    assert Train(**raw["train"])


def test_a_dataset_without_own_train_settings_trains_with_the_shared_ones(raw):
    """Both shipped datasets give their own epochs; the shared value is kept as the default of a
    dataset that gives none (`lenet dataset add` writes `train: {}`), not refused as unused."""
    raw["datasets"]["digits"] = {**copy.deepcopy(raw["datasets"]["mnist"]), "train": {}}
    params = parse_params(raw)
    assert params.train_for("digits") == Train(**raw["train"])
    assert (
        params.train_for("fashion_mnist").epochs
        == raw["datasets"]["fashion_mnist"]["train"]["epochs"]
    )
