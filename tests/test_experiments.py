"""The `dvc exp` loop of the README, on tiny data: a queued grid, run, listed."""

import json

from tests.conftest import run_in
from tests.prefect_helpers import wait_for


def test_queued_grid_runs_and_both_experiments_are_listed(tiny_project):
    for rate in ("0.001", "0.004"):
        run_in(tiny_project, "dvc", "exp", "run", "--queue", "-S", f"train.learning_rate={rate}")
    run_in(tiny_project, "dvc", "queue", "start", "-j", "1")

    def finished():
        status = run_in(tiny_project, "dvc", "queue", "status").stdout
        return "Queued" not in status and "Running" not in status and status

    status = wait_for(finished, 600, "the queued experiments")
    assert status.count("Success") == 2, status
    shown = json.loads(run_in(tiny_project, "dvc", "exp", "show", "--json").stdout)
    experiments = [run for commit in shown for group in commit.get("experiments") or []
                   for run in group["revs"]]
    assert all(run["data"]["metrics"]["metrics/digits.json"]["data"]["test"]["accuracy"] >= 0
               for run in experiments)
    rates = {run["data"]["params"]["params.yaml"]["data"]["train"]["learning_rate"]
             for run in experiments}
    assert rates == {0.001, 0.004}
