"""The whole `dvc repro` on a tiny synthetic dataset, in a real git + DVC repository."""

import json

import yaml

from tests.conftest import run_in

STAGES = ("download", "validate", "preprocess", "train", "evaluate", "export")


def test_dvc_repro_end_to_end_then_nothing_to_do(tiny_project):
    first = run_in(tiny_project, "dvc", "repro").stdout
    assert "tune" not in first  # the search runs only when asked for: dvc repro tune/dvc.yaml

    metrics = json.loads((tiny_project / "metrics" / "digits.json").read_text())
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0
    assert metrics["test"]["loss"] > 0
    assert set(metrics["per_class"]) == {f"c{i}" for i in range(10)}
    for path in (
        "models/digits/model.keras", "models/digits/model.onnx", "models/digits/MODEL_CARD.md",
        "reports/eval/digits/misclassified.png", "reports/eval/digits/confusion.json",
        "reports/validation/digits.json", "reports/validation/docs/digits/index.html",
        "reports/train/digits/metrics.json",
    ):
        assert (tiny_project / path).is_file(), path
    export = json.loads((tiny_project / "reports/runtime/digits/export.json").read_text())
    assert export["argmax_agreement"] == 1.0
    lock = (tiny_project / "dvc.lock").read_text()
    assert all(f"{stage}@digits" in lock for stage in STAGES)

    again = run_in(tiny_project, "dvc", "repro")
    assert "didn't change" in again.stdout and "Running stage" not in again.stdout
    assert (tiny_project / "dvc.lock").read_text() == lock

    shown = run_in(tiny_project, "dvc", "metrics", "show", "--json").stdout
    assert '"accuracy"' in shown


def test_changing_one_param_reruns_only_its_dependents(tiny_project):
    run_in(tiny_project, "dvc", "repro")
    run_in(tiny_project, "git", "add", "-A")
    run_in(tiny_project, "git", "commit", "-q", "-m", "baseline")
    params = yaml.safe_load((tiny_project / "params.yaml").read_text())
    params["train"]["epochs"] = 3
    (tiny_project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    rerun = run_in(tiny_project, "dvc", "repro").stdout
    assert "Running stage 'train@digits'" in rerun
    assert "Running stage 'preprocess@digits'" not in rerun
    assert "Running stage 'download@digits'" not in rerun
    diff = run_in(tiny_project, "dvc", "params", "diff").stdout
    assert "train.epochs" in diff and "2" in diff and "3" in diff
    assert "test.accuracy" in run_in(tiny_project, "dvc", "metrics", "diff", "--all").stdout


def test_bad_params_fail_before_any_work(tiny_project):
    params = yaml.safe_load((tiny_project / "params.yaml").read_text())
    params["train"]["learning_rat"] = 0.1
    (tiny_project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = run_in(tiny_project, "python", "-m", "pipeline", "download", "--dataset", "digits", check=False)
    assert result.returncode == 1
    assert "train.learning_rat: unknown key" in result.stderr
    assert not (tiny_project / "data").exists()


def test_unknown_dataset_is_a_clear_error(tiny_project):
    result = run_in(tiny_project, "python", "-m", "pipeline", "train", "--dataset", "cifar", check=False)
    assert result.returncode == 1
    assert "unknown dataset 'cifar'; params.yaml defines: digits" in result.stderr


def test_epochs_per_dataset_reach_the_train_stage(tiny_project):
    params = yaml.safe_load((tiny_project / "params.yaml").read_text())
    assert params["train"]["epochs"] != 1
    params["train"]["epochs"] = {"digits": 1}
    (tiny_project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run_in(tiny_project, "dvc", "repro", "train@digits")
    facts = json.loads((tiny_project / "reports/runtime/digits/train.json").read_text())
    assert facts["epochs"] == 1
    assert len(facts["epoch_seconds"]) == 1
