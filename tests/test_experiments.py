"""The experiments loop of the README, on tiny data: a grid run here, listed, compared."""

import json

import pytest

from harness.synthetic import EXPERIMENTED_GRID, run_in

pytestmark = pytest.mark.integration


def test_a_grid_here_runs_each_set_as_an_experiment_and_both_are_listed(experimented_project):
    """`lenet grid -S KEY=A,B` without a pool (the README's grid on one machine): the template ran
    it once (EXPERIMENTED_GRID), beside one other experiment (s43)."""
    project = experimented_project
    again = run_in(project, "lenet", *EXPERIMENTED_GRID).stdout  # run again: nothing to do
    assert again.count("already an experiment, skipped") == 2, again
    shown = json.loads(run_in(project, "dvc", "exp", "show", "--json").stdout)
    experiments = [run for commit in shown for group in commit.get("experiments") or []
                   for run in group["revs"] if run["name"].startswith("rate-")]
    results = {run["data"]["params"]["params.yaml"]["data"]["train"]["learning_rate"]:
               run["data"]["metrics"]["metrics/digits.json"]["data"]["test"]["loss"]
               for run in experiments}
    assert set(results) == {0.002, 0.004}
    # 0.002 is the committed rate: that set restores the committed results from DVC's run cache
    # (nothing trains), and must give exactly the committed numbers. A grid here is `dvc exp run`
    # in the workspace, which ends holding the last set: the committed numbers are HEAD's.
    committed = json.loads(run_in(project, "git", "show", "HEAD:metrics/digits.json")
                           .stdout)["test"]["loss"]
    assert results[0.002] == committed and results[0.004] != committed, results

    # The documented table (make exp): the experiments, the param they changed, their metrics.
    table = run_in(project, "lenet", "exp").stdout
    assert max(len(line) for line in table.splitlines()) <= 120, table
    header, *lines = table.splitlines()
    assert header.split()[:3] == ["experiment", "seed", "train.learning_rate"], table  # varied
    names = {run["name"] for run in experiments}
    accuracies = {run["data"]["metrics"]["metrics/digits.json"]["data"]["test"]["accuracy"]
                  for run in experiments}
    assert all(any(name in line for line in lines) for name in names), table
    assert {"0.002", "0.004"} <= set(table.split()), table
    assert all(f"{accuracy:.4f}" in table for accuracy in accuracies), table


def test_editing_code_no_stage_runs_reruns_no_stage_and_shared_code_reruns_all(reproduced_project):
    """The layout's promise, on real DVC: the CLI's tool commands (`lenet serve` lives in cli.py),
    the pull-request report, Prefect and predict are in no stage's deps."""
    for module in ("cli.py", "report/github.py", "orchestration/flows.py", "tools/predict.py"):
        with (reproduced_project / "pipeline" / module).open("a") as source:
            source.write("# an edit that no stage runs\n")
    status = json.loads(run_in(reproduced_project, "dvc", "status", "dvc.yaml", "--json").stdout)
    assert status == {}, status
    with (reproduced_project / "pipeline/core/config.py").open("a") as source:
        source.write("# an edit every stage runs\n")
    status = json.loads(run_in(reproduced_project, "dvc", "status", "dvc.yaml", "--json").stdout)
    assert {stage.partition("@")[0] for stage in status} == {
        "download", "validate", "preprocess", "train", "evaluate", "export", "overview"}


def params_changed(project, key: str, value) -> set[str]:
    """The stages whose params `dvc status` says changed after `lenet apply` of one dotted key
    (a YAML file with the flat key, as `lenet apply` accepts)."""
    overrides = project / "change.yaml"
    overrides.write_text(json.dumps({key: value}))
    run_in(project, "lenet", "apply", str(overrides))
    status = json.loads(run_in(project, "dvc", "status", "dvc.yaml", "--json").stdout)
    return {stage for stage, reasons in status.items() for reason in reasons
            if isinstance(reason, dict) and "params.yaml" in reason.get("changed deps", {})}


@pytest.fixture
def checkout(tmp_path):
    """A clone of this repository's committed state: its real dvc.yaml, params.yaml and dvc.lock,
    the params dvc.lock records set to params.yaml's (as after a `make repro` of a settings change
    the committed lock may not have caught up with): each test's own change is then the only one."""
    import yaml

    from harness.synthetic import ROOT

    run_in(tmp_path, "git", "clone", "-q", str(ROOT), "repo")
    repo = tmp_path / "repo"
    params = yaml.safe_load((repo / "params.yaml").read_text())
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    for stage in lock["stages"].values():
        recorded = stage.get("params", {}).get("params.yaml", {})
        for key in recorded:
            node = params
            for part in key.split("."):
                node = node[part]
            recorded[key] = node
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))
    return repo


def test_one_datasets_change_reruns_that_dataset_and_a_shared_change_both(checkout):
    assert params_changed(checkout, "datasets.mnist.train.epochs", 14) == {
        "train@mnist",
        "overview",
    }


def test_a_shared_train_setting_reruns_both_datasets(checkout):
    assert params_changed(checkout, "train.learning_rate", 0.003) == {
        "train@mnist",
        "train@fashion_mnist",
    }


def test_the_last_screen_of_make_repro_on_an_up_to_date_project_fits_100_columns(
    reproduced_project,
):
    """`make repro` is `dvc repro` then `lenet summary`: per dataset, accuracy, errors of N and the
    change against the committed numbers, then where to look next."""
    repro = run_in(reproduced_project, "dvc", "repro").stdout
    summary = run_in(reproduced_project, "lenet", "summary").stdout
    screen = (repro + summary).strip().splitlines()
    assert len(screen) <= 20 and max(len(line) for line in screen) <= 100, screen
    # N is the test set's size: the metrics' errors and accuracy, as this project computed them.
    test = json.loads((reproduced_project / "metrics/digits.json").read_text())["test"]
    rows = round(test["errors"] / (1 - test["accuracy"]))
    assert any(line.split()[:1] == ["digits"] and f" {test['errors']} errors of {rows} " in line
               and "same as committed" in line for line in screen), screen
    assert "reports/index.html" in summary and "make exp" in summary and "dvc plots show" in summary
