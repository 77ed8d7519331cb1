"""The coordinator's decisions (orchestration/dispatch.decide), one state or fault per test: pure,
no server."""

from __future__ import annotations

from types import SimpleNamespace

from pipeline.orchestration import grid, sets
from pipeline.orchestration.dispatch import (
    PULL_TRIES,
    UNIT_TAG,
    Action,
    Run,
    decide,
    latest_runs,
    progress,
)
from pipeline.orchestration.sets import TIMED_OUT

UNITS = ["g-1", "g-2"]


def one(run: Run | None, sent: int = 1, retries: int = 2, pulls: int = 0) -> list[Action]:
    runs = {"g-1": run} if run else {}
    return decide(["g-1"], runs, {"g-1": sent} if run else {}, set(), {"g-1": pulls}, retries)


def test_a_unit_never_sent_is_sent():
    assert one(None) == [Action("send", "g-1")]


def test_waiting_and_running_units_are_left_alone():
    for state in ("SCHEDULED", "PENDING", "RUNNING"):
        assert one(Run(state, worker="w1")) == [], state


def test_a_completed_unit_is_collected():
    assert one(Run("COMPLETED", "Completed", worker="w1")) == [Action("collect", "g-1")]


def test_a_completed_unit_whose_collection_keeps_failing_is_reported():
    (action,) = one(Run("COMPLETED", "Completed", worker="w1"), pulls=PULL_TRIES)
    assert action.kind == "fail" and "collecting it failed" in action.note


def test_a_crashed_unit_is_sent_again_saying_why():
    (action,) = one(Run("CRASHED", "Crashed", "no heartbeat for 90 s", "w1"), sent=1)
    assert action.kind == "send" and "no heartbeat for 90 s" in action.note and "w1" in action.note


def test_a_timed_out_unit_is_sent_again():
    (action,) = one(Run("FAILED", TIMED_OUT, "ran past its time limit", "w2"))
    assert action.kind == "send" and "time limit" in action.note


def test_retries_end_with_a_report_naming_the_last_cause():
    crashed = Run("CRASHED", "Crashed", "no heartbeat", "w1")
    assert one(crashed, sent=3, retries=2)[0].kind == "fail"
    assert one(crashed, sent=2, retries=2)[0].kind == "send"
    assert one(crashed, sent=3, retries=2)[0].note == "Crashed on w1 after 3 sends: no heartbeat"


def test_a_failed_unit_is_reported_not_resent():
    (action,) = one(Run("FAILED", "Failed", "dvc exp run exited 1", "w1"))
    assert action == Action("fail", "g-1", "Failed on w1: dvc exp run exited 1")


def test_a_cancel_is_honoured_even_while_cancelling():
    for state in ("CANCELLING", "CANCELLED"):
        (action,) = one(Run(state, state.title(), "by alice", "w1"))
        assert action.kind == "fail" and "cancelled" in action.note, state


def test_a_paused_unit_is_reported_instead_of_waited_for_forever():
    assert one(Run("PAUSED", "Paused", "", "w1"))[0].kind == "fail"


def test_units_already_done_get_no_action():
    runs = {"g-1": Run("CRASHED", "Crashed"), "g-2": Run("COMPLETED", "Completed")}
    assert decide(UNITS, runs, {"g-1": 1, "g-2": 1}, {"g-1", "g-2"}, {}, 2) == []


def test_progress_names_where_each_unit_runs():
    runs = {"g-1": Run("RUNNING", worker="w1"), "g-2": Run("PENDING")}
    assert progress("grid g", UNITS, runs, set(), {}) == \
        "grid g: 0/2 done, 1 running (g-1 on w1), 1 queued, 0 failed"


def flow_run(unit: str, state: str) -> SimpleNamespace:
    kind = SimpleNamespace(value=state)
    return SimpleNamespace(tags=["lenet-grid:g:1", f"{UNIT_TAG}{unit}"], labels={},
                           state=SimpleNamespace(type=kind, name=state.title(), message=""))


def test_a_resend_replaces_a_crashed_run_as_the_one_to_judge():
    crashed, resent = flow_run("g-1", "CRASHED"), flow_run("g-1", "RUNNING")
    assert latest_runs([crashed, resent]) == ({"g-1": resent}, {"g-1": 2})


def test_a_run_declared_lost_that_completed_after_all_is_collected_not_its_resend():
    finished, resent = flow_run("g-1", "COMPLETED"), flow_run("g-1", "RUNNING")
    assert latest_runs([finished, resent])[0] == {"g-1": finished}


def test_a_grid_without_a_time_limit_sends_the_default_one(tmp_path):
    planned = [grid.ParamSet("g-1", ("seed=1",))]
    coordinator = grid.Coordinator(tmp_path, planned, "cpu", "origin", 2, None)
    coordinator.origin = sets.Origin("repo", "abc", "seed: 1\n", {"name": "shared", "url": "s3://b"})
    assert coordinator.set_parameters("g-1")["time_limit"] == sets.TIME_LIMIT
