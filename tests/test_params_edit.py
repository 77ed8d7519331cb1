import re
import shutil

import pytest
import yaml

from harness.synthetic import ROOT
from pipeline.cli import main
from pipeline.core.config import ParamsError, flatten, load_params
from pipeline.tools.params_edit import apply_overrides, for_every_dataset, load_overrides, set_args


@pytest.fixture
def params_copy(tmp_path):
    target = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", target)
    return target


def test_classic_preset_changes_exactly_its_keys_and_keeps_comments(params_copy, capsys):
    before = yaml.safe_load(params_copy.read_text())
    assert (
        main(["apply", str(ROOT / "presets" / "classic.yaml"), "--params", str(params_copy)]) == 0
    )
    after = yaml.safe_load(params_copy.read_text())
    preset = for_every_dataset(
        flatten(yaml.safe_load((ROOT / "presets" / "classic.yaml").read_text())), before["datasets"]
    )
    flat_before, flat_after = flatten(before), flatten(after)
    assert all(flat_after[key] == value for key, value in preset.items())
    assert {k: v for k, v in flat_after.items() if k not in preset} == \
        {k: v for k, v in flat_before.items() if k not in preset}
    assert "# Every knob of the pipeline." in params_copy.read_text()
    assert "model.activation: relu -> tanh" in capsys.readouterr().out
    # What each dataset trains with is the preset's: its epochs too, not only the shared keys.
    params = load_params(params_copy)
    assert {params.train_for(name).epochs for name in params.datasets} == {20}
    assert {params.train_for(name).label_smoothing for name in params.datasets} == {0.0}
    assert {params.train_for(name).learning_rate for name in params.datasets} == {0.03}
    assert {params.train_for(name).warmup_epochs for name in params.datasets} == {0}


def test_unknown_key_is_refused_and_file_untouched(params_copy):
    original = params_copy.read_text()
    with pytest.raises(ParamsError, match=r"train\.warmup: unknown key"):
        apply_overrides(params_copy, {"train.warmup": 3})
    assert params_copy.read_text() == original


def test_invalid_value_is_refused_and_file_untouched(params_copy):
    original = params_copy.read_text()
    with pytest.raises(ParamsError, match=r"train\.epochs"):
        apply_overrides(params_copy, {"train.epochs": -1})
    assert params_copy.read_text() == original


def test_another_revisions_params_are_edited_unchecked_only_when_asked(params_copy):
    """An older params.yaml lacks keys this code requires; benchmarks still set its settings, but
    never add a key to it unchecked."""
    older = yaml.safe_load(params_copy.read_text())
    del older["train"]["ema_momentum"]
    params_copy.write_text(yaml.safe_dump(older))
    with pytest.raises(ParamsError, match=r"train\.ema_momentum"):
        apply_overrides(params_copy, {"train.learning_rate": 0.01})
    assert apply_overrides(params_copy, {"train.learning_rate": 0.01}, check=False) == {
        "train.learning_rate": (older["train"]["learning_rate"], 0.01)}
    assert yaml.safe_load(params_copy.read_text())["train"]["learning_rate"] == 0.01
    with pytest.raises(ParamsError, match="no key 'train.warmup'"):
        apply_overrides(params_copy, {"train.warmup": 3}, check=False)


def test_a_datasets_own_setting_is_added_where_the_file_had_none(params_copy):
    assert apply_overrides(params_copy, {"datasets.mnist.train.batch_size": 128}) == {
        "datasets.mnist.train.batch_size": (None, 128)}
    assert (
        yaml.safe_load(params_copy.read_text())["datasets"]["mnist"]["train"]["batch_size"] == 128
    )


def test_set_args_for_dvc_exp_run():
    assert set_args(
        {"train.learning_rate": 1e-5, "model.pooling": "avg", "model.batch_norm": False}
    ) == [
        "-Strain.learning_rate=1e-05",
        "-Smodel.pooling=avg",
        "-Smodel.batch_norm=false",
    ]


def test_apply_rewrites_only_the_lines_it_changes(params_copy):
    """The urls lists keep their indentation, long commented lines stay whole: only the changed
    key's line differs, by its value (one as wide), its comment kept."""
    before = params_copy.read_text().splitlines()
    rate = yaml.safe_load(params_copy.read_text())["train"]["learning_rate"]
    changed = float(str(rate)[:-1] + ("1" if str(rate)[-1] != "1" else "2"))  # as wide
    apply_overrides(params_copy, {"train.learning_rate": changed})
    after = params_copy.read_text().splitlines()
    (line,) = [i for i, text in enumerate(before) if re.match(r"  learning_rate: ", text)]
    assert [(a, b) for a, b in zip(before, after, strict=True) if a != b] == [
        (before[line], before[line].replace(f"learning_rate: {rate}",
                                            f"learning_rate: {changed}", 1))]


def test_a_preset_for_every_dataset_reaches_one_without_its_own_setting(params_copy):
    """`datasets: {"*": ...}` (presets/pr-reduced.yaml): every dataset params.yaml defines, one
    added with `train: {}` too, and a key named for one dataset wins over `*`."""
    raw = yaml.safe_load(params_copy.read_text())
    raw["datasets"]["digits"] = {**raw["datasets"]["mnist"], "train": {}}
    params_copy.write_text(yaml.safe_dump(raw, sort_keys=False))
    reduced = load_overrides(ROOT / "presets" / "pr-reduced.yaml")
    apply_overrides(params_copy, {**reduced, "datasets.mnist.train.epochs": 3})
    params = load_params(params_copy)
    assert {name: params.train_for(name).epochs for name in params.datasets} == {
        "mnist": 3, "fashion_mnist": 2, "digits": 2}
    assert set_args(reduced, raw) == ["-Sdatasets.mnist.train.epochs=2",
                                      "-Sdatasets.fashion_mnist.train.epochs=2",
                                      "-S++datasets.digits.train.epochs=2"]


def test_fast_preset_applies_and_validates(params_copy, capsys):
    assert main(["apply", str(ROOT / "presets" / "fast.yaml"), "--params", str(params_copy)]) == 0
    assert load_params(params_copy).reproducibility.cpu_isa == "native"
    isa = load_params(ROOT / "params.yaml").reproducibility.cpu_isa
    assert f"reproducibility.cpu_isa: {isa} -> native" in capsys.readouterr().out


@pytest.mark.parametrize(("change", "named"), [
    ({"schedule": "constant", "warmup_epochs": 1}, "needs schedule: cosine"),
    ({"epochs": 3, "warmup_epochs": 3}, "fewer warm-up epochs than epochs"),
])
def test_a_warm_up_the_schedule_cannot_run_is_refused_with_the_dataset_named(
        params_copy, change, named):
    overrides = {f"datasets.mnist.train.{key}": value for key, value in change.items()}
    with pytest.raises(ParamsError, match=rf"dataset 'mnist' trains with warmup_epochs=.*{named}"):
        apply_overrides(params_copy, overrides)
