"""`lenet grid` over a real pool: a Prefect server on a real PostgreSQL, a moto S3 server as the DVC
remote, a bare git repository as the shared git remote, and two worker processes with their own
homes and caches standing in for two machines. Everything listens on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error

import pytest
import yaml

from harness.helpers import api, free_port
from harness.pool import kill_worker, start_worker
from harness.postgres import Postgres
from harness.s3 import MotoS3, corrupt_objects
from harness.synthetic import commit_all, run_in
from pipeline.core import workspace
from pipeline.orchestration import server
from pipeline.orchestration.grid import experiment_file

pytestmark = pytest.mark.integration

POOL = "cpu-test"
DEADLINE = 420  # seconds a grid may take here before the test calls it hung
BUCKET = "lenet-grid"
# Workers report every 2 s (Prefect's default is 30) and ask for work every 2 s (10).
QUICK = {"PREFECT_WORKER_HEARTBEAT_SECONDS": "2", "PREFECT_WORKER_QUERY_SECONDS": "2",
         "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


AUTH = "lenet:not-a-real-secret"
# The server's automation crashes a run this long after its last heartbeat (every 30 s, Prefect's
# minimum); 90 s by default.
LOST_AFTER = 50


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    """(Prefect API URL, MotoS3): PostgreSQL, the Prefect server on it (basic auth on, as a
    server for many machines has it), and S3, for this module."""
    state = tmp_path_factory.mktemp("prefect-pg")
    with Postgres() as postgres, MotoS3() as s3, pytest.MonkeyPatch.context() as patch:
        patch.setenv("PREFECT_SERVER_API_AUTH_STRING", AUTH)
        patch.setenv("PREFECT_API_AUTH_STRING", AUTH)  # this process's health checks
        url = server.start_server(free_port(), state_dir=state, database=postgres.url,
                                  lost_after=LOST_AFTER)
        patch.delenv("PREFECT_SERVER_API_AUTH_STRING")
        try:
            yield url, s3
        finally:
            server.stop_server(state_dir=state)


def set_runs(url: str) -> list[dict]:
    return api(url, "/flow_runs/filter", {"flows": {"name": {"any_": ["lenet-set"]}}}, auth=AUTH)


def test_grid_on_two_workers_survives_a_killed_worker_and_coordinator_and_equals_local_runs(
        services, reproduced_project, tmp_path, monkeypatch):
    url, s3 = services
    project = reproduced_project
    for key, value in s3.env.items():
        monkeypatch.setenv(key, value)
    # The tiny project never ran the tuning search: without it, `dvc exp apply` has every output.
    run_in(project, "git", "rm", "-q", "tune/dvc.yaml")
    commit_all(project, "no search")
    run_in(project, "git", "clone", "-q", "--bare", str(project), str(tmp_path / "origin.git"))
    run_in(project, "git", "remote", "add", "origin", str(tmp_path / "origin.git"))
    run_in(project, "git", "fetch", "-q", "origin")
    s3.add_dvc_remote(project, s3.bucket(BUCKET))  # .dvc/config.local: nothing to commit
    trained = (project / "reports/runtime/digits/train.json").stat().st_mtime_ns
    worker_env = {**os.environ, **QUICK, "PREFECT_API_URL": url, "PREFECT_API_AUTH_STRING": AUTH}
    workers = {name: start_worker(POOL, name, tmp_path / name, worker_env) for name in ("w1", "w2")}
    coordinator = {**os.environ, **QUICK, "PREFECT_API_URL": url, "PREFECT_API_AUTH_STRING": AUTH,
                   "PREFECT_HOME": str(tmp_path / "coordinator-prefect")}
    grid_command = [sys.executable, "-m", "pipeline", "grid", "--seeds", "3", "--pool", POOL]
    try:
        grid = subprocess.Popen(grid_command, cwd=project, env=workspace.environment(coordinator),
                                text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        watchdog = threading.Timer(DEADLINE, os.killpg, (grid.pid, signal.SIGKILL))
        watchdog.start()  # a grid that hangs fails the test instead of the CI run
        seen, first_done_on, killed = [], None, None
        for line in grid.stdout:
            seen.append(line)
            done = re.search(r"\): done on (w\d)", line)
            first_done_on = first_done_on or (done and done.group(1))
            # The worker that finished first took the third set: switch its machine off mid-run,
            # and the coordinator's too.
            if first_done_on and re.search(rf"running \(.*on {first_done_on}\b", line):
                kill_worker(tmp_path / first_done_on)
                os.killpg(grid.pid, signal.SIGKILL)  # the coordinator and its dvc commands
                killed = first_done_on
                break
        grid.wait()
        watchdog.cancel()
        assert killed, "".join(seen)
        # The coordinator started again: it collects what finished, finds the lost worker's set
        # and sends only that one again.
        output = subprocess.run(grid_command, cwd=project, env=workspace.environment(coordinator),
                                capture_output=True, text=True, timeout=DEADLINE, check=True).stdout
    finally:
        for name, process in workers.items():
            kill_worker(tmp_path / name)
            process.wait()

    assert re.search(rf"Crashed on {killed}: no heartbeat for {LOST_AFTER} s.*sending it again",
                     output), output
    runs = set_runs(url)
    assert len(runs) == 4  # three sets, one of them sent twice
    completed = [r for r in runs if r["state"]["type"] == "COMPLETED"]
    assert len(completed) == 3
    assert {r["labels"]["prefect.worker.name"] for r in completed} == {"w1", "w2"}
    assert [r["state"]["type"] for r in runs].count("CRASHED") == 1

    # Three experiments here, one per seed, none trained here.
    grid_id = re.search(r"grid (grid-\w+):", output).group(1)
    seeds = {yaml.safe_load(experiment_file(project, f"{grid_id}-{k}", "params.yaml"))["seed"]
             for k in (1, 2, 3)}
    assert seeds == {42, 43, 44}
    assert "Running stage" not in output
    assert (project / "reports/runtime/digits/train.json").stat().st_mtime_ns == trained

    # The remote holds only whole objects, and the experiments' outputs are all there.
    assert corrupt_objects(s3.objects(BUCKET)) == []
    run_in(project, "dvc", "exp", "apply", f"{grid_id}-2")
    assert json.loads(run_in(project, "dvc", "status", "--cloud", "--json").stdout or "{}") == {}

    # The same set as a plain local experiment: the same bytes.
    run_in(project, "git", "checkout", "--", ".")
    run_in(project, "dvc", "checkout")
    run_in(project, "dvc", "exp", "run", "-n", "local-43", "-S", "seed=43")
    for path in ("metrics/digits.json", "dvc.lock"):
        assert experiment_file(project, "local-43", path) == experiment_file(project, f"{grid_id}-2", path), path

    # Started once more (on the same params.yaml): everything is collected, nothing is sent.
    run_in(project, "git", "checkout", "--", ".")
    again = run_in(project, *grid_command, env={**coordinator, "PREFECT_HOME": str(tmp_path / "again")})
    assert "3/3 done" in again.stdout
    assert len(set_runs(url)) == len(runs)


def test_the_shared_server_refuses_anonymous_requests(services):
    with pytest.raises(urllib.error.HTTPError) as refused:
        api(services[0], "/flow_runs/filter", {})
    assert refused.value.code == 401


def test_a_server_reachable_from_the_network_needs_an_auth_string(tmp_path, monkeypatch):
    monkeypatch.delenv("PREFECT_SERVER_API_AUTH_STRING", raising=False)
    result = run_in(tmp_path, sys.executable, "-m", "pipeline", "server", "start", "--host",
                    "0.0.0.0", "--port", str(free_port()), check=False)
    assert result.returncode != 0
    assert "PREFECT_SERVER_API_AUTH_STRING" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / ".prefect" / "server.json").exists()
