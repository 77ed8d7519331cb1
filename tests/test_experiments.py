"""The `dvc exp` loop of the README, on tiny data: a queued grid, run, listed."""

import json

import pytest

from tests.helpers import wait_for
from tests.synthetic import run_in

pytestmark = pytest.mark.integration


def test_queued_grid_runs_and_both_experiments_are_listed(reproduced_project):
    for rate in ("0.001", "0.004"):
        run_in(reproduced_project, "dvc", "exp", "run", "--queue", "-S", f"train.learning_rate={rate}")
    run_in(reproduced_project, "dvc", "queue", "start", "-j", "1")

    def finished():
        status = run_in(reproduced_project, "dvc", "queue", "status").stdout
        return "Queued" not in status and "Running" not in status and status

    status = wait_for(finished, 600, "the queued experiments", every=2)
    assert status.count("Success") == 2, status
    shown = json.loads(run_in(reproduced_project, "dvc", "exp", "show", "--json").stdout)
    experiments = [run for commit in shown for group in commit.get("experiments") or []
                   for run in group["revs"]]
    results = {run["data"]["params"]["params.yaml"]["data"]["train"]["learning_rate"]:
               run["data"]["metrics"]["metrics/digits.json"]["data"]["test"]["loss"]
               for run in experiments}
    assert set(results) == {0.001, 0.004}
    committed = json.loads((reproduced_project / "metrics/digits.json").read_text())["test"]["loss"]
    # Each experiment trained with its own rate: three different models, three different losses.
    assert len({*results.values(), committed}) == 3, results
