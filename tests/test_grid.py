"""`lenet grid` over a real pool: the test run's Prefect server on a real PostgreSQL, a moto S3
server as the DVC remote, a bare git repository as the shared git remote, and two worker processes
with their own homes and caches standing in for two machines. Everything listens on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import uuid
from pathlib import Path

import psutil
import pytest
import yaml

from harness import shared_server
from harness.helpers import api, free_port, read_until, start_group, stop_session
from harness.pool import kill_worker, processes_of, start_worker
from harness.s3 import MotoS3, corrupt_objects
from harness.synthetic import commit_all, copy_project, run_in
from pipeline.core import workspace
from pipeline.orchestration import dispatch, server, watch
from pipeline.orchestration.grid import experiment_file
from pipeline.orchestration.sets import SetFailed, installed_pins, origin_of

pytestmark = pytest.mark.integration

POOL = "cpu-test"
GRID = (sys.executable, "-m", "pipeline", "grid")
DEADLINE = 420  # seconds a grid may take here before the test calls it hung
BUCKET = "lenet-grid"
# Workers report every 2 s (Prefect's default is 30) and ask for work every 2 s (10).
QUICK = {"PREFECT_WORKER_HEARTBEAT_SECONDS": "2", "PREFECT_WORKER_QUERY_SECONDS": "2",
         "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


AUTH, LOST_AFTER = shared_server.AUTH, shared_server.LOST_AFTER


@pytest.fixture(scope="module")
def services(prefect_api):
    """(Prefect API URL, MotoS3): the run's shared Prefect server on PostgreSQL (basic auth on,
    as a server for many machines has it; conftest's prefect_api), and S3 for this module."""
    with MotoS3() as s3:
        yield prefect_api.url, s3


def set_runs(url: str, grid: str) -> list[dict]:
    """The set runs of grid `grid` (its name, `grid-...`): other tests' grids share the server."""
    runs = api(url, "/flow_runs/filter", {"flows": {"name": {"any_": ["lenet-set"]}}}, auth=AUTH)
    return [run for run in runs
            if any(tag.startswith(f"{dispatch.UNIT_TAG}{grid}-") for tag in run["tags"])]


def test_a_grid_on_two_workers_survives_losing_a_worker_and_its_coordinator(
        services, reproduced_project, experimented_template, tmp_path, monkeypatch, subtests):
    """One story, told once: two sets start on two workers; one worker's machine and the
    coordinator's are switched off. Each outcome is checked on its own, as a subtest: one failing
    does not hide the others."""
    url, s3 = services
    for key, value in s3.env.items():
        monkeypatch.setenv(key, value)
    project = pool_project(reproduced_project, tmp_path, s3, BUCKET)
    trained = (project / "reports/runtime/digits/train.json").stat().st_mtime_ns
    worker_env = {**os.environ, **QUICK, "PREFECT_API_URL": url, "PREFECT_API_AUTH_STRING": AUTH}
    workers = {name: start_worker(POOL, name, tmp_path / name, worker_env) for name in ("w1", "w2")}
    coordinator = {**os.environ, **QUICK, "PREFECT_API_URL": url, "PREFECT_API_AUTH_STRING": AUTH,
                   "PREFECT_HOME": str(tmp_path / "coordinator-prefect")}
    grid_command = [*GRID, "--seeds", "2", "--pool", POOL]
    try:
        grid = start_group(project, *grid_command, env=coordinator)
        watchdog = threading.Timer(DEADLINE, os.killpg, (grid.pid, signal.SIGKILL))
        watchdog.start()  # a grid that hangs fails the test instead of the CI run
        seen, lost, survivor = [], None, None
        for line in grid.stdout:
            seen.append(line)
            # Both sets running, one on each worker: switch off the machine that runs the second
            # set (seed + 1, which trains; the committed seed's set may come from the run cache
            # and end at once), and the coordinator's; the other set goes on without a coordinator.
            running = dict(re.findall(r"(grid-\w+-\d+) on (w\d)", line.split("running", 1)[-1]))
            if len(set(running.values())) == 2:
                lost_set = max(running)
                lost, survivor = running[lost_set], running[min(running)]
                kill_worker(tmp_path / lost)
                os.killpg(grid.pid, signal.SIGKILL)  # the coordinator and its dvc commands
                break
        grid.wait()
        watchdog.cancel()
        assert lost, "".join(seen)
        # The coordinator started again: it collects what finished while it was away, finds the
        # lost worker's set and sends only that one again.
        output = subprocess.run(grid_command, cwd=project, env=workspace.environment(coordinator),
                                capture_output=True, text=True, timeout=DEADLINE, check=True).stdout
    finally:
        for name, process in workers.items():
            kill_worker(tmp_path / name)
            process.wait()
    grid_id = re.search(r"grid (grid-\w+):", output).group(1)
    sets = [f"{grid_id}-1", f"{grid_id}-2"]

    with subtests.test("the server's automation crashed the lost run and it was sent again"):
        assert re.search(rf"{lost_set}: Crashed on {lost}: no heartbeat for {LOST_AFTER} s.*"
                         "sending it again", output), output

    with subtests.test("each set ran once to completion, the lost one on the other worker"):
        runs = {name: [] for name in sets}
        for run in sorted(set_runs(url, grid_id), key=lambda run: run["created"]):
            (name,) = (t.removeprefix(dispatch.UNIT_TAG) for t in run["tags"]
                       if t.startswith(dispatch.UNIT_TAG) and grid_id in t)
            runs[name].append((run["state"]["type"], run["labels"]["prefect.worker.name"]))
        other = next(name for name in sets if name != lost_set)
        assert runs == {lost_set: [("CRASHED", lost), ("COMPLETED", survivor)],
                        other: [("COMPLETED", survivor)]}, runs

    with subtests.test("the sets' experiments are here, one per seed, none trained here"):
        seeds = {yaml.safe_load(experiment_file(project, name, "params.yaml"))["seed"]
                 for name in sets}
        seed = yaml.safe_load((project / "params.yaml").read_text())["seed"]
        assert seeds == {seed, seed + 1}
        assert "Running stage" not in output
        assert (project / "reports/runtime/digits/train.json").stat().st_mtime_ns == trained

    with subtests.test("the remote holds only whole objects and every output of the sets"):
        assert corrupt_objects(s3.objects(BUCKET)) == []
        run_in(project, "dvc", "exp", "apply", lost_set)
        try:
            status = run_in(project, "dvc", "status", "--cloud", "--json").stdout
            assert json.loads(status or "{}") == {}
        finally:
            run_in(project, "git", "checkout", "--", ".")

    with subtests.test("the committed seed's set gives the committed bytes"):
        # Restored from the run cache the coordinator pushed, or trained: the same either way.
        for path in ("metrics/digits.json", "dvc.lock"):
            committed = run_in(project, "git", "show", f"HEAD:{path}").stdout
            assert experiment_file(project, sets[0], path) == committed, path

    with subtests.test("the lost set, trained again on the other worker, gives the bytes of the "
                       "same params trained here"):
        # experimented_template's s43: `dvc exp run -S seed=43` in a workspace on this machine.
        def trained(root: Path, name: str) -> tuple[str, str, dict]:
            lock = yaml.safe_load(experiment_file(root, name, "dvc.lock"))["stages"]
            return (experiment_file(root, name, "params.yaml"),
                    experiment_file(root, name, "metrics/digits.json"),
                    {stage: lock[f"{stage}@digits"] for stage in ("train", "evaluate", "export")})
        assert trained(project, lost_set) == trained(experimented_template, "s43")

    with subtests.test("the grid started once more collects everything and sends nothing"):
        sent = len(set_runs(url, grid_id))
        again = run_in(
            project, *grid_command, env={**coordinator, "PREFECT_HOME": str(tmp_path / "again")}
        )
        assert "2/2 done" in again.stdout
        assert len(set_runs(url, grid_id)) == sent


def test_the_shared_server_refuses_anonymous_requests(services, monkeypatch):
    monkeypatch.delenv("PREFECT_API_AUTH_STRING", raising=False)
    with pytest.raises(urllib.error.HTTPError) as refused:
        api(services[0], "/flow_runs/filter", {})
    assert refused.value.code == 401


def test_a_server_reachable_from_the_network_needs_an_auth_string(tmp_path, monkeypatch):
    monkeypatch.delenv("PREFECT_SERVER_API_AUTH_STRING", raising=False)
    result = run_in(
        tmp_path,
        sys.executable,
        "-m",
        "pipeline",
        "server",
        "start",
        "--host",
        "0.0.0.0",
        "--port",
        str(free_port()),
        check=False,
    )
    assert result.returncode != 0
    assert "PREFECT_SERVER_API_AUTH_STRING" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / ".prefect" / "server.json").exists()


# Faults, one per test, each on a pool of its own (so no other test's worker takes its runs) and
# a project pushed to its own bare git remote and bucket. Each ends finished, or with one line.


def pool_project(project, tmp_path, s3, bucket: str | None = None) -> Path:
    """`project` with a bare git remote (origin) and its own bucket (default: a new name) as the
    default DVC remote (.dvc/config.local: nothing to commit). The tiny project never ran the
    tuning search: without it, `dvc exp apply` has every output."""
    run_in(project, "git", "rm", "-q", "tune/dvc.yaml")
    commit_all(project, "no search")
    with_origin(project, tmp_path)
    s3.add_dvc_remote(project, s3.bucket(bucket or f"lenet-{uuid.uuid4().hex[:12]}"))
    return project


def with_origin(project: Path, tmp_path: Path) -> None:
    """A bare clone of `project` in tmp_path, as its git remote `origin`."""
    run_in(project, "git", "clone", "-q", "--bare", str(project), str(tmp_path / "origin.git"))
    run_in(project, "git", "remote", "add", "origin", str(tmp_path / "origin.git"))
    run_in(project, "git", "fetch", "-q", "origin")


@pytest.fixture
def pool(services, reproduced_project, tmp_path, monkeypatch):
    """(project, environment of a worker, environment of a coordinator) for one fault test."""
    url, s3 = services
    for key, value in s3.env.items():
        monkeypatch.setenv(key, value)
    env = {**os.environ, **QUICK, "PREFECT_API_URL": url, "PREFECT_API_AUTH_STRING": AUTH}
    coordinator = {**env, "PREFECT_HOME": str(tmp_path / "coordinator-prefect")}
    return pool_project(reproduced_project, tmp_path, s3), env, coordinator


def worker_in(
    home: Path, pool_name: str, name: str, env: dict, checkouts: Path | None = None
) -> subprocess.Popen:
    """A worker whose sets' checkouts go to `checkouts` (default: home/sets)."""
    return start_worker(
        pool_name, name, home, {**env, "LENET_WORKER_CHECKOUTS": str(checkouts or home / "sets")}
    )


def stop_workers(*homes: Path) -> None:
    for home in homes:
        kill_worker(home)


def test_a_worker_restarted_under_its_own_name_has_its_lost_set_sent_again(pool, tmp_path):
    project, env, coordinator = pool
    first, again, checkouts = tmp_path / "w1", tmp_path / "w1-again", tmp_path / "sets"
    worker = worker_in(first, "restart", "w1", env, checkouts)  # one machine: one checkouts folder
    grid = start_group(project, *GRID, "--seeds", "1", "--pool", "restart", "--name", "restart",
                       env=coordinator)
    watchdog = threading.Timer(DEADLINE, os.killpg, (grid.pid, signal.SIGKILL))
    watchdog.start()
    try:
        seen, killed_at, resent_after = [], None, None
        for line in grid.stdout:
            seen.append(line)
            if killed_at is None and re.search(r"running \(restart-1 on w1\)", line):
                stop_workers(first)  # the machine's service manager restarts it at once...
                worker.wait()
                killed_at = time.monotonic()
                assert processes_of(first) == []  # nothing of it left running
                worker = worker_in(again, "restart", "w1", env, checkouts)  # ...same name
            if killed_at and resent_after is None and "sending it again" in line:
                resent_after = time.monotonic() - killed_at
        grid.wait()
    finally:
        watchdog.cancel()
        stop_workers(first, again)
        worker.wait()
    output = "".join(seen)
    assert grid.returncode == 0, output
    assert re.search(rf"restart-1: Crashed on w1: no heartbeat for {LOST_AFTER} s", output), output
    assert "restart: 1/1 done" in output
    # Detected by the server's automation: within LOST_AFTER plus one heartbeat and a poll.
    assert resent_after is not None and resent_after < LOST_AFTER + 30 + 15, resent_after
    print(
        f"worker restarted under its own name: set sent again {resent_after:.0f} s after the kill"
    )
    assert list(checkouts.iterdir()) == []  # the killed run's checkout: removed by the restart


def test_a_hung_stage_is_ended_at_its_time_limit_and_reported(pool, tmp_path):
    project, env, coordinator = pool
    home = tmp_path / "w1"
    worker = worker_in(home, "hung", "w1", env)
    grid = start_group(project, *GRID, "--seeds", "1", "--pool", "hung", "--name", "hung",
                       "--retries", "0", "--time-limit", "60",
                       "-S", "train.epochs=500",  # minutes: stopped long before its end
                       env=coordinator)
    stopped = None
    try:
        deadline = time.monotonic() + DEADLINE
        while stopped is None and time.monotonic() < deadline and grid.poll() is None:
            for process in processes_of(home):  # the set's training process: stop it
                with contextlib.suppress(psutil.Error):
                    if "pipeline.stages" in process.cmdline() and "train" in process.cmdline():
                        process.suspend()
                        stopped = process
            time.sleep(0.5)
        output, _ = grid.communicate(timeout=DEADLINE)
    finally:
        stop_workers(home)
        worker.wait()
    assert stopped is not None, output
    assert grid.returncode == 1, output
    assert re.search(
        r"error: hung-1: TimedOut on w1 after 1 send: `dvc exp run .*` ran past the set's "
        r"time limit; ended \(time limit 60 s\)",
        output,
    ), output
    assert server.ended(stopped.pid)  # ended (at most a zombie yet to be reaped), not left stopped
    assert not list((home / "sets").iterdir())  # its checkout removed


def one_set_on_a_worker(project: Path, pool_name: str, home: Path, env: dict,
                        coordinator: dict) -> subprocess.CompletedProcess:
    """`lenet grid --seeds 1` on pool `pool_name`, served by one worker `w1` for its duration;
    the sets are named after the pool."""
    worker = worker_in(home, pool_name, "w1", env)
    try:
        return run_in(project, *GRID, "--seeds", "1", "--pool", pool_name, "--name", pool_name,
                      env=coordinator, check=False)
    finally:
        stop_workers(home)
        worker.wait()


def test_a_worker_with_another_version_of_the_set_code_refuses_in_one_line(pool, tmp_path):
    project, env, coordinator = pool
    sets_code = project / "pipeline/orchestration/sets.py"
    sets_code.write_text(sets_code.read_text() + "\n# a newer set flow\n")
    commit_all(project, "a newer set flow")
    run_in(project, "git", "push", "-q", "origin", "HEAD:main")
    result = one_set_on_a_worker(project, "older", tmp_path / "w1", env, coordinator)
    assert result.returncode == 1
    assert re.search(
        r"error: older-1: Failed on w1: .*worker w1 runs another version of "
        r"pipeline/orchestration/sets.py than commit \w+: update its package",
        result.stderr,
    ), result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_a_worker_installed_with_other_dependency_pins_refuses_in_one_line(pool, tmp_path):
    project, env, coordinator = pool
    pins = [pin for pin in installed_pins() if not pin.startswith("numpy")] + ["numpy<2"]
    (project / "pyproject.toml").write_text(pyproject_with(pins))
    commit_all(project, "numpy 1")
    run_in(project, "git", "push", "-q", "origin", "HEAD:main")
    result = one_set_on_a_worker(project, "pins", tmp_path / "w1", env, coordinator)
    assert result.returncode == 1
    assert re.search(
        r"error: pins-1: Failed on w1: .*worker w1 was installed with other "
        r"dependency pins than commit \w+ declares \(numpy<2 where this worker has "
        r"numpy.*\): reinstall it",
        result.stderr,
    ), result.stdout + result.stderr


def pyproject_with(pins: list[str]) -> str:
    return (
        '[project]\nname = "lenet-pipeline"\ndependencies = [\n'
        + "".join(f"    {json.dumps(pin)},\n" for pin in pins)
        + "]\n"
    )


def test_two_coordinators_of_one_grid_in_two_clones_send_each_set_once(pool, tmp_path):
    project, env, coordinator = pool
    other = copy_project(project, tmp_path / "other")  # a second clone of the same commit
    home = tmp_path / "w1"
    worker = worker_in(home, "twice", "w1", env)
    try:
        grids = [
            start_group(clone, *GRID, "--seeds", "1", "--pool", "twice", env=coordinator)
            for clone in (project, other)
        ]
        outputs = [grid.communicate(timeout=DEADLINE)[0] for grid in grids]
    finally:
        stop_workers(home)
        worker.wait()
    assert [grid.returncode for grid in grids] == [0, 0], outputs
    grid = re.search(r"grid (grid-\w+):", outputs[0]).group(1)
    name = f"{grid}-1"
    assert experiment_file(project, name, "dvc.lock") == experiment_file(other, name, "dvc.lock")
    assert len(set_runs(env["PREFECT_API_URL"], grid)) == 1


def test_an_uncommitted_change_to_any_file_a_stage_reads_is_refused_before_sending(
        reproduced_project, tmp_path):
    """Workers check out the commit: a change they would not have is refused, whichever stage
    dep it is (here the validation reference, read from dvc.yaml, not a hand-kept list)."""
    project = reproduced_project
    with_origin(project, tmp_path)
    run_in(project, "dvc", "remote", "add", "--local", "-d", "shared", str(tmp_path / "remote"))
    (project / "notes.txt").write_text("not read by any stage\n")
    assert origin_of(project).commit  # nothing a stage reads has changed

    reference = project / "suites" / "digits.reference.json"
    reference.write_text(reference.read_text() + "\n")
    with pytest.raises(SetFailed, match=r"uncommitted changes to what the stages read.*\n.*"
                                        r"suites/digits\.reference\.json"):
        origin_of(project)


def test_a_second_grid_in_the_same_workspace_is_refused(reproduced_project):
    project = reproduced_project
    first = start_group(project, *GRID, "--seeds", "2")
    try:
        read_until(first, "set 1/2")
        second = run_in(project, *GRID, "--seeds", "2", check=False)
    finally:
        stop_session(first)
    assert second.returncode != 0
    assert f"another run is using this workspace ({project})" in second.stderr
    assert "Traceback" not in second.stderr


def test_a_run_that_completed_stays_completed_when_declared_lost(services):
    """What the automation does when a run's last heartbeat and its completion cross: it
    proposes Crashed, and the server refuses it over Completed."""
    from prefect import flow
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.states import Completed, Crashed, Running

    @flow(name="lenet-race")
    def finished() -> None:
        pass

    with SyncPrefectClient(services[0], auth_string=AUTH) as client:
        run = client.create_flow_run(finished)
        client.set_flow_run_state(run.id, Running())
        client.set_flow_run_state(run.id, Completed())
        # What the server's automations do: propose Crashed, never force it.
        actions = [action for name in (watch.LOST, watch.STUCK)
                   for action in client.read_automations_by_name(name)[0].actions]
        assert [(a.state.value, a.force) for a in actions] == [("CRASHED", False)] * 2
        client.set_flow_run_state(run.id, Crashed(message="no heartbeat"), force=False)
        assert client.read_flow_run(run.id).state.type.value == "COMPLETED"
