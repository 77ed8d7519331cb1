"""Each validation check against a tiny dataset corrupted in exactly that way.

The tiny data is clean by construction; every test breaks one thing and asserts that the stage
fails for that check (and no other error). A few corruptions unavoidably move other statistics
too (a blank image also has no ink); those side effects are demoted to warnings by name, and the
test asserts that nothing else warned either.
"""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from harness.synthetic import FILES, link_web_assets, make_split, write_idx_gz
from pipeline.core.config import VALIDATION_CHECKS, Dataset, Validation
from pipeline.core.paths import DatasetPaths
from pipeline.stages import validate

N_CLASSES = 10
CLEAN = {"train": make_split(50, seed=0), "test": make_split(10, seed=1)}
SETTINGS = {
    "class_share_tolerance": 0.002,
    "blank_tolerance": 0.0001,
    "saturated_tolerance": 0.0001,
    "ink_band_mostly": 0.99,
    "drift_tolerance": 0.1,
    "max_train_test_duplicates": 0,
}


def dataset(rows=None) -> Dataset:
    return Dataset.model_validate({
        "mirror_dir": "digits", "urls": [],
        "files": {k: {"name": name, "md5": "0" * 32} for k, name in FILES.items()},
        "rows": rows or {"train": 500, "test": 100},
        "classes": [f"c{i}" for i in range(N_CLASSES)], "horizontal_flip": False, "train": {},
    })


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A project folder with the clean validation reference; returns a function that validates
    given (possibly corrupted) splits there."""
    monkeypatch.chdir(tmp_path)
    link_web_assets(tmp_path)
    profile = {split: validate.split_stats(x, y, N_CLASSES) for split, (x, y) in CLEAN.items()}
    DatasetPaths("digits").reference.parent.mkdir()
    DatasetPaths("digits").reference.write_text(json.dumps(profile))

    def run(splits=CLEAN, warn=(), raw_overrides=None, **changes):
        paths = DatasetPaths("digits")
        for split, (images, labels) in splits.items():
            write_idx_gz(paths.raw / FILES[f"{split}_images"], images)
            write_idx_gz(paths.raw / FILES[f"{split}_labels"], labels)
        for name, data in (raw_overrides or {}).items():
            (paths.raw / name).write_bytes(gzip.compress(data))
        cfg = Validation(**{**SETTINGS, **changes, "warn": list(warn)})
        try:
            report = validate.run("digits", dataset(), cfg, paths)
        except validate.ValidationFailed as failure:
            if not paths.validation_report.exists():
                raise  # failed before validating anything
            report = json.loads(paths.validation_report.read_text())
            report["message"] = str(failure)
        return report

    return run


def corrupt(split: str, edit) -> dict:
    images, labels = (a.copy() for a in CLEAN[split])
    edit(images, labels)
    return {**CLEAN, split: (images, labels)}


def assert_fails_only(report: dict, check: str, side_effects=()):
    assert report["failed_checks"] == [check], report.get("message")
    assert set(report["warned_checks"]) <= set(side_effects)
    assert f"[{check}]" in report["message"]


def test_clean_data_passes_every_check(workspace):
    report = workspace()
    assert report["success"] and not report["warned_checks"]
    assert {o["check"] for o in report["expectations"]} == set(VALIDATION_CHECKS)


def test_wrong_magic_number(workspace):
    from pipeline.core import idx

    raw = bytearray(idx.encode(CLEAN["train"][0]))
    raw[2:4] = b"\x08\x02"  # not the images magic 0x0803
    assert_fails_only(workspace(raw_overrides={FILES["train_images"]: bytes(raw)}), "header")


def test_declared_count_disagrees_with_the_file(workspace):
    from pipeline.core import idx

    raw = idx.encode(CLEAN["test"][1])[:-1]  # 100 labels declared, 99 present
    assert_fails_only(workspace(raw_overrides={FILES["test_labels"]: raw}), "header")


def test_row_count(workspace):
    def drop_one_per_class(x, y):
        keep = np.ones(len(y), bool)
        for c in range(N_CLASSES):
            keep[np.flatnonzero(y == c)[0]] = False
        return x[keep], y[keep]

    images, labels = drop_one_per_class(*CLEAN["train"])
    report = workspace({**CLEAN, "train": (images, labels)})
    assert_fails_only(report, "rows")


def test_label_out_of_range(workspace):
    def edit(x, y):
        y[np.flatnonzero(y == 3)[0]] = 10

    assert_fails_only(workspace(corrupt("train", edit), class_share_tolerance=0.01), "labels")


def test_missing_class(workspace):
    def edit(x, y):
        y[y == 9] = 8

    report = workspace(corrupt("test", edit), warn=("class_shares", "drift_class_ink"))
    assert_fails_only(report, "classes_present", side_effects=("class_shares", "drift_class_ink"))


def test_class_shares_off_the_reference(workspace):
    def edit(x, y):
        y[np.flatnonzero(y == 0)[:3]] = 1  # 0.6% of the images change class

    assert_fails_only(workspace(corrupt("train", edit)), "class_shares")


def test_blank_images(workspace):
    def edit(x, y):
        x[np.flatnonzero(y == 2)[0]] = 0

    assert_fails_only(workspace(corrupt("train", edit)), "blank_images")


def test_saturated_images(workspace):
    def edit(x, y):
        x[np.flatnonzero(y == 4)[0]] = 255

    report = workspace(corrupt("train", edit), warn=("drift_class_ink",))
    assert_fails_only(report, "saturated_images", side_effects=("drift_class_ink",))


def test_mean_ink_outside_the_band(workspace):
    def edit(x, y):
        for c in range(N_CLASSES):  # one image per class: spread out, so class means barely move
            i = np.flatnonzero(y == c)[0]
            x[i] = np.minimum(x[i].astype(int) + 60, 254)

    assert_fails_only(workspace(corrupt("train", edit), ink_band_mostly=0.999), "ink_band")


def test_per_class_mean_ink_drift(workspace):
    def edit(x, y):
        x[y == 5] = (x[y == 5] * 0.75).astype(np.uint8)  # one class fades by a quarter

    report = workspace(corrupt("train", edit), warn=("ink_band",))
    assert_fails_only(report, "drift_class_ink", side_effects=("ink_band",))


def test_pixel_statistics_drift(workspace):
    def edit(x, y):
        x[:] = np.minimum(x.astype(int) + 8, 254)  # every image a little brighter

    report = workspace(corrupt("test", edit), warn=("ink_band", "drift_class_ink"))
    assert_fails_only(report, "drift_pixel_stats", side_effects=("ink_band", "drift_class_ink"))


def test_train_test_leakage(workspace):
    train_x, train_y = CLEAN["train"]
    test_x, test_y = (a.copy() for a in CLEAN["test"])
    test_x[:3], test_y[:3] = train_x[:3], train_y[:3]  # three training images reappear in test
    report = workspace({**CLEAN, "test": (test_x, test_y)}, class_share_tolerance=0.05)
    assert_fails_only(report, "leakage")
    observed = [o["observed"] for o in report["expectations"] if o["check"] == "leakage"]
    assert observed == [{"unexpected_count": 1, "unexpected_percent": 100.0, "examples": [3]}]


def test_warning_does_not_stop_the_stage(workspace):
    def edit(x, y):
        x[np.flatnonzero(y == 2)[0]] = 0

    report = workspace(corrupt("train", edit), warn=("blank_images", "ink_band"))
    assert report["success"] and report["warned_checks"] == ["blank_images"]


def test_missing_reference_is_a_clear_error(workspace):
    DatasetPaths("digits").reference.unlink()
    with pytest.raises(validate.ValidationFailed, match=r"lenet reference --dataset digits"):
        workspace()
