"""The whole `dvc repro` on a tiny synthetic dataset, in a real git + DVC repository."""

import json

import numpy as np
import onnxruntime as ort
import pytest
import yaml

from harness.synthetic import N_CLASSES, run_in
from pipeline.core.config import load_params
from pipeline.core.data import load_raw_split

pytestmark = pytest.mark.integration
STAGES = ("download", "validate", "preprocess", "train", "evaluate", "export")
# The tiny data's classes are bright blocks at ten places: a working pipeline learns them in two
# epochs; a broken one (normalisation, labels, padding) stays near chance (1/N_CLASSES).
WELL_ABOVE_CHANCE = 0.6


def test_dvc_repro_runs_every_stage_and_learns_the_tiny_data(reproduced_template):
    project, first_output = reproduced_template
    assert all(f"Running stage '{stage}@digits'" in first_output for stage in STAGES)
    assert "Running stage 'overview'" in first_output  # after every dataset's stages
    assert first_output.index("Running stage 'overview'") > first_output.index("'export@digits'")
    # the search runs only when asked for: dvc repro tune/dvc.yaml
    assert "tune" not in first_output

    metrics = json.loads((project / "metrics" / "digits.json").read_text())
    assert metrics["test"]["accuracy"] >= WELL_ABOVE_CHANCE > 1 / N_CLASSES
    per_class = json.loads((project / "reports/eval/digits/per_class.json").read_text())
    assert set(per_class) == {f"c{i}" for i in range(N_CLASSES)} and set(metrics) == {"test"}
    assert metrics["test"]["errors"] == round((1 - metrics["test"]["accuracy"]) * 50)
    lock = (project / "dvc.lock").read_text()
    assert all(f"{stage}@digits" in lock for stage in STAGES) and "  overview:" in lock


def test_exported_onnx_model_gives_the_reported_accuracy_on_the_raw_test_files(reproduced_project):
    """The ONNX file alone, fed the raw IDX test images (it pads and normalises itself)."""
    params = load_params(reproduced_project / "params.yaml")
    test = load_raw_split(reproduced_project / "data/raw/digits", params.dataset("digits"), "test")
    session = ort.InferenceSession(str(reproduced_project / "models/digits/model.onnx"),
                                   providers=["CPUExecutionProvider"])
    (probabilities,) = session.run(
        None, {session.get_inputs()[0].name: test.images.astype(np.float32)}
    )
    accuracy = float(np.mean(probabilities.argmax(axis=1) == test.labels))
    metrics = json.loads((reproduced_project / "metrics/digits.json").read_text())
    assert accuracy == pytest.approx(metrics["test"]["accuracy"], abs=1e-9)


def test_nothing_to_do_after_a_repro_and_metrics_show(reproduced_project):
    lock = (reproduced_project / "dvc.lock").read_text()
    again = run_in(reproduced_project, "dvc", "repro")
    assert "didn't change" in again.stdout and "Running stage" not in again.stdout
    assert (reproduced_project / "dvc.lock").read_text() == lock
    shown = json.loads(run_in(reproduced_project, "dvc", "metrics", "show", "--json").stdout)
    (workspace,) = shown.values()
    reported = workspace["data"]["metrics/digits.json"]["data"]["test"]["accuracy"]
    assert (
        reported
        == json.loads((reproduced_project / "metrics/digits.json").read_text())["test"]["accuracy"]
    )


def test_changing_one_param_reruns_only_its_dependents(reproduced_project):
    params = yaml.safe_load((reproduced_project / "params.yaml").read_text())
    assert params["train"]["epochs"] == 2
    # The tiny project's epochs are shared; make them the dataset's own, one more.
    params["datasets"]["digits"]["train"]["epochs"] = params["train"].pop("epochs") + 1
    (reproduced_project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    rerun = run_in(reproduced_project, "dvc", "repro").stdout
    assert "Running stage 'train@digits'" in rerun
    assert "Running stage 'preprocess@digits'" not in rerun
    assert "Running stage 'download@digits'" not in rerun
    facts = json.loads((reproduced_project / "reports/runtime/digits/train.json").read_text())
    assert facts["epochs"] == 3 and len(facts["epoch_seconds"]) == 3
    diff = run_in(reproduced_project, "dvc", "params", "diff").stdout
    assert "datasets.digits.train.epochs" in diff and "3" in diff
    assert "test.accuracy" in run_in(reproduced_project, "dvc", "metrics", "diff", "--all").stdout


def test_bad_params_fail_before_any_work(tiny_project):
    params = yaml.safe_load((tiny_project / "params.yaml").read_text())
    params["train"]["learning_rat"] = 0.1
    (tiny_project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = run_in(
        tiny_project, "python", "-m", "pipeline", "download", "--dataset", "digits", check=False
    )
    assert result.returncode == 1
    assert "train.learning_rat: unknown key" in result.stderr
    assert not (tiny_project / "data").exists()


def test_unknown_dataset_is_a_clear_error(tiny_project):
    result = run_in(
        tiny_project, "python", "-m", "pipeline", "train", "--dataset", "cifar", check=False
    )
    assert result.returncode == 1
    assert "unknown dataset 'cifar'; params.yaml defines: digits" in result.stderr


def test_stages_print_their_progress_and_no_tensorflow_start_up_noise(reproduced_template):
    output = reproduced_template[1]
    assert "val_accuracy" in output  # Keras's epoch line
    for stage in STAGES:
        assert f"{stage}@digits done in" in output
    for noise in ("absl::InitializeLog", "cudart_stub", "cuInit", "cpu_feature_guard",
                  "NodeDef mentions attribute"):  # TensorFlow's C++ start-up lines, tf.data's noise
        assert noise not in output, output
