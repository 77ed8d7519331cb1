"""The keras-tuner stage on tiny data: outputs, reproducibility, no test data, adoption."""

import shutil
import zipfile

import pytest
import yaml

from harness.synthetic import ROOT, TUNED_TRIALS, copy_project, run_in
from pipeline.core.config import flatten
from pipeline.tools.params_edit import apply_overrides, load_overrides

pytestmark = pytest.mark.integration


def test_search_writes_outputs_is_reproducible_and_its_winner_applies(tuned_template, tmp_path):
    project = copy_project(tuned_template, tmp_path / "project")
    out = project / "reports" / "tune"
    summary = yaml.safe_load((out / "summary.json").read_text())
    assert summary["completed_trials"] == TUNED_TRIALS
    assert (out / "search.png").read_bytes().startswith(b"\x89PNG")
    best = yaml.safe_load((out / "best_params.yaml").read_text())
    params = yaml.safe_load((project / "params.yaml").read_text())
    searched = params["tune"]["dataset"]
    own = params["datasets"][searched]["train"]
    # Each winner at the key the searched dataset's value comes from: its own, else the shared one.
    assert set(flatten(best)) == {
        key.replace("train.", f"datasets.{searched}.train.", 1)
        if key.startswith("train.") and key.split(".", 1)[1] in own else key
        for key in params["tune"]["space"]}
    trials = (out / "trials.csv").read_text()

    again = run_in(project, "dvc", "repro", "--force", "--single-item", "tune/dvc.yaml")
    assert "Running stage 'tune/dvc.yaml:tune'" in again.stdout
    assert (out / "trials.csv").read_text() == trials  # same seed: same trials, same scores
    assert yaml.safe_load((out / "summary.json").read_text()) == summary

    # Adopting the winner changes exactly its keys in a real params.yaml and keeps the comments.
    # The tiny project searched "digits"; the real params.yaml's search is of its tune.dataset.
    real = yaml.safe_load((ROOT / "params.yaml").read_text())["tune"]["dataset"]
    best_file = tmp_path / "best_params.yaml"
    best_file.write_text((out / "best_params.yaml").read_text().replace(f"{searched}:", f"{real}:"))
    target = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", target)
    before = flatten(yaml.safe_load(target.read_text()))
    changed = apply_overrides(target, load_overrides(best_file))
    after = flatten(yaml.safe_load(target.read_text()))
    best = load_overrides(best_file)
    assert {k for k in after if after[k] != before.get(k)} == set(changed) <= set(best)
    assert all(after[k] == v for k, v in best.items())
    assert "# Every knob of the pipeline." in target.read_text()


@pytest.mark.parametrize("algorithm", ["bayesian", "hyperband"])
def test_every_search_algorithm_runs_without_reading_the_test_split(reproduced_project, algorithm):
    """Each algorithm params.yaml offers, with its own dependencies (Bayesian needs scikit-learn),
    searches on the training and validation splits only: the test arrays are made unreadable."""
    params = yaml.safe_load((reproduced_project / "params.yaml").read_text())
    params["tune"].update(algorithm=algorithm, epochs=2)
    (reproduced_project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    processed = reproduced_project / "data" / "processed" / "digits.npz"
    poisoned = processed.with_suffix(".poisoned")
    with zipfile.ZipFile(processed) as source, zipfile.ZipFile(poisoned, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename in ("x_test.npy", "y_test.npy"):
                data = b"not an array: reading this raises"
            target.writestr(item, data)
    processed.unlink()
    shutil.move(poisoned, processed)
    # The stage's command itself: `dvc repro` would restore the poisoned file first.
    run_in(reproduced_project, "python", "-m", "pipeline", "tune")
    summary = yaml.safe_load((reproduced_project / "reports" / "tune" / "summary.json").read_text())
    assert summary["completed_trials"] >= 2
    assert (reproduced_project / "reports" / "tune" / "best_params.yaml").is_file()
