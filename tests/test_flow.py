"""The Prefect flow against a real Prefect server (the test run's, on PostgreSQL; one test stops
a SQLite server of its own), real DVC and a real process worker."""

from __future__ import annotations

import datetime
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from harness import shared_server
from harness.helpers import (
    Receiver,
    Sentinel,
    api,
    flow_runs,
    free_port,
    read_until,
    start_group,
    stop_session,
    task_runs,
    wait_for,
)
from harness.synthetic import commit_all, run_in, set_params, write_mirror
from pipeline.core import workspace
from pipeline.orchestration import server as orchestrate

pytestmark = pytest.mark.integration
STAGES = {f"{stage}@digits" for stage in
          ("download", "validate", "preprocess", "train", "evaluate", "export")} | {"overview"}


@pytest.fixture(scope="module")
def sentinel():
    proxy = Sentinel()
    yield proxy
    proxy.close()


def proxied(sentinel) -> dict[str, str]:
    """Every HTTP(S) request to the internet goes to the sentinel; loopback stays direct."""
    return {
        "HTTP_PROXY": sentinel.url,
        "HTTPS_PROXY": sentinel.url,
        "NO_PROXY": "127.0.0.1,localhost",
    }


# `lenet serve` and `lenet worker` ask the server for due runs every 10 s by default; here every
# 2 s, so that a test waits for the run, not for the next poll.
QUICK_POLLING = {"PREFECT_RUNNER_POLL_FREQUENCY": "2", "PREFECT_WORKER_QUERY_SECONDS": "2"}
# Seconds without a heartbeat before the server crashes a run: the shared server's, and the one
# test_server_stopped_mid_flow_... starts of its own.
LOST_AFTER = shared_server.LOST_AFTER


@pytest.fixture
def flow_env(prefect_api, sentinel, monkeypatch, tmp_path):
    """This test's processes talk to the run's shared Prefect server (conftest's prefect_api, on
    PostgreSQL, other test processes' runs beside this test's), and to the internet only via the
    sentinel (set per test: other modules' tests may share this worker process under
    pytest-xdist). The server's own offline-ness is test_server_stopped_mid_flow_...'s: its own
    server inherits the sentinel."""
    for key, value in {**proxied(sentinel), **QUICK_POLLING}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PREFECT_API_URL", prefect_api.url)
    monkeypatch.setenv("PREFECT_API_AUTH_STRING", prefect_api.auth)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-client"))
    return prefect_api.url


@pytest.fixture(autouse=True)
def nothing_reaches_the_internet(sentinel):
    before = len(sentinel.requests)
    yield
    assert sentinel.requests[before:] == [], "tried to reach the internet"


# One server log record: "HH:MM:SS.mmm | LEVEL | logger - message", then its traceback lines.
LOG_RECORD = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} \| ", re.MULTILINE)


# SQLite refuses a write now and then when the machine is loaded; for a worker's heartbeat Prefect
# logs it with a traceback and writes the next heartbeat (PrefectHQ/prefect#18934). Anything
# else, the same error from any other service included, is a crash.
LOST_HEARTBEAT = ("Worker channel heartbeat persistence failed", "database is locked")


def server_tracebacks(log_text: str) -> list[str]:
    return [
        r
        for r in LOG_RECORD.split(log_text)
        if "Traceback (most recent call last)" in r
        and not all(part in r for part in LOST_HEARTBEAT)
    ]


@pytest.fixture(autouse=True)
def server_log_has_no_traceback(prefect_api):
    """A server-side crash (say, its scheduler failing on every loop) fails the test that saw it,
    even when every client call looked fine (a test of another process, running meanwhile, may
    have caused it: the traceback says)."""
    log = prefect_api.log
    start = log.stat().st_size
    yield
    with open(log, errors="replace") as handle:
        handle.seek(start)
        crashes = server_tracebacks(handle.read())
    assert not crashes, "the Prefect server logged a traceback:\n" + crashes[0][-3000:]


def latest_run(url: str, flow_name: str) -> dict:
    """On a server of this test's own: the run started last."""
    return flow_runs(url, flow_name)[0]


def run_of(url: str, output: str) -> dict:
    """The flow run that `lenet flow` printed the UI link of."""
    link = re.search(r"/runs/flow-run/([0-9a-f-]{36})", output)
    assert link, f"no link to the flow run in:\n{output}"
    return api(url, f"/flow_runs/{link.group(1)}")


def test_failing_stage_fails_the_flow_and_names_the_stage(tiny_project, flow_env, tmp_path):
    break_validation(tiny_project, tmp_path)

    result = run_in(tiny_project, "python", "-m", "pipeline", "flow", check=False)
    assert result.returncode == 1
    assert "stage validate@digits failed" in result.stderr
    run = run_of(flow_env, result.stdout)
    assert run["state"]["type"] == "FAILED"
    assert "validate@digits" in run["state"]["message"]
    states = {t["name"]: t["state"]["type"] for t in task_runs(flow_env, run["id"])}
    assert states["validate@digits"] == "FAILED"
    assert "preprocess@digits" not in states


def test_a_second_run_is_refused_while_one_runs_and_the_first_finishes_unharmed(
    reproduced_project, flow_env
):
    """`dvc repro`, a stage run by hand and `lenet flow`, each tried while a `dvc repro` trains:
    all three refused, the flow's Prefect run Failed before its first stage. The first run
    retrains the committed params (the train stage alone: the stages after it would check
    nothing more): unharmed, it leaves the committed bytes (a clean git status)."""
    first = start_group(
        reproduced_project, "dvc", "repro", "--force", "--single-item", "train@digits"
    )
    read_until(first, "digits: epoch 1/2 done")
    os.killpg(first.pid, signal.SIGSTOP)  # hold it mid-training while the others try
    try:
        # The same pipeline: DVC itself refuses (the stage being trained is locked)...
        second = run_in(reproduced_project, "dvc", "repro", check=False)
        # ...a stage that DVC does not lock, run by hand, and a flow: the workspace's owner refuses.
        by_hand = run_in(reproduced_project, "python", "-m", "pipeline", "validate", "--dataset",
                         "digits", check=False)
        flow = run_in(reproduced_project, "python", "-m", "pipeline", "flow", check=False)
    finally:
        os.killpg(first.pid, signal.SIGCONT)
    rest = first.communicate()[0]
    assert first.returncode == 0, rest
    assert second.returncode != 0 and "is busy" in second.stderr, second.stderr
    owner = f"another run is using this workspace ({reproduced_project}): PID {first.pid}"
    assert by_hand.returncode != 0 and owner in by_hand.stderr, by_hand.stderr
    assert flow.returncode == 1 and owner in flow.stderr, flow.stderr
    run = run_of(flow_env, flow.stdout)
    assert run["state"]["type"] == "FAILED"
    assert task_runs(flow_env, run["id"]) == []  # refused before its first stage
    assert run_in(reproduced_project, "git", "status", "--porcelain").stdout == ""


def test_server_stopped_mid_flow_crashes_the_run_visibly_and_the_next_run_finishes_every_stage(
    reproduced_project, sentinel, monkeypatch, tmp_path
):
    """The interrupted run is CRASHED, not Running forever; the next `lenet flow` keeps what
    finished, runs the rest, and reports every DVC stage as a completed task."""
    project = reproduced_project
    set_params(project, "preprocess", normalize="unit")  # preprocess and what follows run again
    state, port = tmp_path / "own-server", free_port()  # not the shared server: this one stops
    for key, value in proxied(sentinel).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-client"))
    url = orchestrate.start_server(port, state_dir=state, lost_after=LOST_AFTER)
    monkeypatch.setenv("PREFECT_API_URL", url)
    try:
        flow = start_group(project, "python", "-m", "pipeline", "flow")
        read_until(flow, "Running stage 'preprocess@digits'")  # logged once it is in dvc.lock
        # Frozen where it is: stopping the server takes seconds, in which the flow would go on
        # and could finish training too (then the next run would find nothing left to train).
        os.killpg(flow.pid, signal.SIGSTOP)
        stopped_at = time.monotonic()
        run_id = latest_run(url, "lenet-pipeline")["id"]
        assert orchestrate.stop_server(state_dir=state)
        os.killpg(flow.pid, signal.SIGKILL)  # ...and the flow's process dies while it is away
        flow.communicate()
        orchestrate.start_server(port, state_dir=state, lost_after=LOST_AFTER)
        # Back, and silent for longer than the limit: the server's automation marks the run
        # Crashed (LOST_AFTER after its last heartbeat, sent before the stop: then the wait
        # ends), or, where the stopping server lost the run's last events, the next `lenet`
        # command that talks to it does (server.crash_silent_runs), once the limit has passed.
        limit = stopped_at + LOST_AFTER + 5
        wait_for(lambda: time.monotonic() > limit
                 or api(url, f"/flow_runs/{run_id}")["state"]["type"] == "CRASHED",
                 LOST_AFTER + 15, "the limit", every=2)
        again = run_in(project, "python", "-m", "pipeline", "flow")
        crashed = api(url, f"/flow_runs/{run_id}")
        assert crashed["state"]["type"] == "CRASHED"
        assert f"no heartbeat for {LOST_AFTER} s" in crashed["state"]["message"]

        output = again.stdout + again.stderr
        assert "Running stage 'preprocess@digits'" not in output  # kept, not recomputed
        assert "Stage 'preprocess@digits' didn't change, skipping" in output
        assert "Running stage 'train@digits'" in output
        run = latest_run(url, "lenet-pipeline")
        assert run["state"]["type"] == "COMPLETED"
        tasks = task_runs(url, run["id"])
        assert {t["name"] for t in tasks} == STAGES
        assert {t["state"]["type"] for t in tasks} == {"COMPLETED"}
        artifacts = api(
            url, "/artifacts/filter", {"artifacts": {"key": {"any_": ["lenet-metrics"]}}}
        )
        assert "| digits |" in artifacts[0]["data"]
    finally:
        orchestrate.stop_server(state_dir=state)
    # DVC's own bookkeeping, as after `dvc repro`: nothing left to do.
    assert "didn't change" in run_in(project, "dvc", "repro").stdout


def start_serving(project, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", "serve", *args],
        cwd=project,
        env=workspace.environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def deployments_named(url: str, name: str) -> list[dict]:
    return api(url, "/deployments/filter", {"deployments": {"name": {"any_": [name]}}})


def delete_deployments(url: str, name: str) -> None:
    """Delete deployment `name` and with it its schedule: on the run's shared server, a schedule
    left behind would go on making runs (every 10 s) for the rest of the run."""
    for deployment in deployments_named(url, name):
        api(url, f"/deployments/{deployment['id']}", method="DELETE")


def test_cron_deployment_is_created_and_listed(tiny_project, flow_env):
    serve = start_serving(tiny_project, "--cron", "*/30 * * * *", "--name", "test-nightly")
    try:
        wait_for(lambda: deployments_named(flow_env, "test-nightly"), 90, "the deployment")
        assert (
            "lenet-audit/test-nightly" in run_in(tiny_project, "prefect", "deployment", "ls").stdout
        )
        deployment = api(flow_env, "/deployments/name/lenet-audit/test-nightly")
        assert [s["schedule"]["cron"] for s in deployment["schedules"]] == ["*/30 * * * *"]
    finally:
        stop_session(serve)
        delete_deployments(flow_env, "test-nightly")


def audit_runs(url: str, deployment: dict) -> list[dict]:
    return api(
        url,
        "/flow_runs/filter",
        {"deployments": {"id": {"any_": [deployment["id"]]}}, "sort": "EXPECTED_START_TIME_ASC"},
    )


def test_a_scheduled_audit_runs_the_pipeline_then_fails_naming_the_number_that_differs(
    reproduced_project, flow_env
):
    """The scheduler creates a run on its own and the served process runs it: the pipeline as a
    subflow (every stage completed), then verify, which fails naming the dataset and the number a
    hand edit changed. One audit, so one retraining: verify's passing verdict is
    test_reproducibility's test_verify_retrains_and_passes_on_an_untouched_project."""
    metrics_file = reproduced_project / "metrics/digits.json"
    metrics = yaml.safe_load(metrics_file.read_text())
    metrics["test"]["accuracy"] = 0.123
    metrics_file.write_text(json.dumps(metrics, indent=2) + "\n")
    commit_all(reproduced_project, "results, one edited by hand")

    serve = start_serving(reproduced_project, "--interval", "10", "--name", "test-audit")
    try:
        deployment = wait_for(
            lambda: deployments_named(flow_env, "test-audit"), 90, "the deployment"
        )[0]
        ended = wait_for(
            lambda: [r for r in audit_runs(flow_env, deployment)
                     if r["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED")],
            300,
            "a scheduled audit run to end",
        )[0]
    finally:
        stop_session(serve)
        delete_deployments(flow_env, "test-audit")
    assert ended["auto_scheduled"] is True
    assert ended["state"]["type"] == "FAILED", ended["state"]
    assert "verify@digits: digits does not reproduce" in ended["state"]["message"]
    assert "test.accuracy: 0.123 committed" in ended["state"]["message"]
    tasks = {t["name"]: t for t in task_runs(flow_env, ended["id"])}
    assert tasks["verify@digits"]["state"]["type"] == "FAILED"
    (pipeline_run,) = api(
        flow_env,
        "/flow_runs/filter",
        {"flow_runs": {"parent_task_run_id": {"any_": [t["id"] for t in tasks.values()]}}},
    )
    assert pipeline_run["state"]["type"] == "COMPLETED"
    stages = task_runs(flow_env, pipeline_run["id"])
    assert {t["name"] for t in stages} == STAGES
    assert {t["state"]["type"] for t in stages} == {"COMPLETED"}


def break_validation(project, tmp_path) -> None:
    """Same checksums, different content: labels without class 9, which validation rejects."""
    from harness.synthetic import make_split, write_idx_gz

    bad = write_mirror(tmp_path / "bad", "digits")
    labels = tmp_path / "bad" / "digits" / bad["files"]["train_labels"]["name"]
    _, y = make_split(20, seed=0)
    bad["files"]["train_labels"]["md5"] = write_idx_gz(labels, y % 9)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["datasets"]["digits"] = {**bad, "train": params["datasets"]["digits"]["train"]}
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    os.environ["LENET_DATA_MIRROR"] = f"file://{tmp_path / 'bad'}"


def test_restart_keeps_one_active_schedule_runs_missed_runs_late_and_notifies_failures(
    tiny_project, flow_env, tmp_path
):
    break_validation(tiny_project, tmp_path)  # every audit run fails fast, at validate@digits
    receiver = Receiver()
    args = ("--interval", "10", "--name", "test-restart", "--notify", receiver.url)
    try:
        serve = start_serving(tiny_project, *args)
        try:
            deployment = wait_for(
                lambda: deployments_named(flow_env, "test-restart"), 90, "the deployment"
            )[0]
        finally:
            stop_session(serve)
        stopped = api(flow_env, f"/deployments/{deployment['id']}")
        assert stopped["paused"] is False and all(s["active"] for s in stopped["schedules"])

        # A run falls due while nothing serves...
        def overdue():
            now = datetime.datetime.now(datetime.UTC)
            return [
                r
                for r in audit_runs(flow_env, deployment)
                if r["state"]["type"] == "SCHEDULED"
                and datetime.datetime.fromisoformat(r["expected_start_time"]) < now
            ]

        missed = wait_for(overdue, 120, "a run to fall due")[0]
        restarted_at = datetime.datetime.now(datetime.UTC)
        serve = start_serving(tiny_project, *args)
        try:
            # ...and runs late once serving is back.
            ended = wait_for(
                lambda: (
                    api(flow_env, f"/flow_runs/{missed['id']}")["state"]["type"]
                    in ("FAILED", "COMPLETED", "CRASHED")
                ),
                180,
                "the missed run to run",
            )
            assert ended
            late = api(flow_env, f"/flow_runs/{missed['id']}")
            assert late["state"]["type"] == "FAILED"
            assert datetime.datetime.fromisoformat(late["start_time"]) > restarted_at
            assert len(deployments_named(flow_env, "test-restart")) == 1
            notified = wait_for(
                lambda: [b for b in receiver.bodies if late["name"] in b["text"]],
                60,
                "the failure notification",
            )[0]
        finally:
            stop_session(serve)
    finally:
        receiver.close()
        delete_deployments(flow_env, "test-restart")
    assert "validate@digits" in notified["text"]
    assert "Failed" in notified["subject"]


def test_train_stage_runs_on_a_pool_worker_started_in_the_same_checkout(
    reproduced_project, flow_env, tmp_path, monkeypatch
):
    """The one-machine recipe as docs/operations.md gives it: a worker started in the project's own
    checkout, then `lenet flow --train-pool`. The worker trains in a fresh clone of the pushed
    commit with the params the flow sends; inputs and the model travel through the DVC remote."""
    project = reproduced_project
    run_in(project, "git", "clone", "-q", "--bare", str(project), str(tmp_path / "origin.git"))
    run_in(project, "git", "remote", "add", "origin", str(tmp_path / "origin.git"))
    run_in(project, "dvc", "remote", "add", "--local", "-d", "shared", str(tmp_path / "dvc-remote"))
    set_params(project, "train", epochs=1)  # an experiment: only the training and what follows
    monkeypatch.setenv("LENET_WORKER_CACHE", str(tmp_path / "worker-cache"))
    pool = "gpu-test"
    worker = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "worker", "--pool", pool],
        cwd=project,
        env=workspace.environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(
            lambda: api(
                flow_env, "/deployments/filter", {"work_pools": {"name": {"any_": [pool]}}}
            ),
            90,
            "the set deployment",
        )
        flow = run_in(project, "python", "-m", "pipeline", "flow", "--train-pool", pool)
    finally:
        stop_session(worker)

    main_run = run_of(flow_env, flow.stdout)
    assert main_run["state"]["type"] == "COMPLETED"
    (train_run,) = api(
        flow_env,
        "/flow_runs/filter",
        {"flow_runs": {"parent_task_run_id": {
            "any_": [t["id"] for t in task_runs(flow_env, main_run["id"])]}}},
    )
    assert api(flow_env, f"/flows/{train_run['flow_id']}")["name"] == "lenet-set"
    assert train_run["state"]["type"] == "COMPLETED"
    assert train_run["work_pool_name"] == pool
    assert train_run["parameters"]["stages"] == ["train@digits"]
    worker_log = "\n".join(
        r["message"]
        for r in api(
            flow_env, "/logs/filter", {"logs": {"flow_run_id": {"any_": [train_run["id"]]}}}
        )
    )
    assert "Running stage 'train@digits'" in worker_log
    assert "Running stage 'validate@digits'" not in worker_log  # its inputs came from the remote
    clone = re.search(r"computing train@digits at \w+ in (\S+)", worker_log).group(1)
    assert "/lenet-sets/set-" in clone and not Path(clone).exists()  # a fresh checkout, removed
    lock = yaml.safe_load((project / "dvc.lock").read_text())  # the worker's model, restored here
    assert lock["stages"]["train@digits"]["params"]["params.yaml"]["train"]["epochs"] == 1
    assert "didn't change" in run_in(project, "dvc", "repro").stdout
