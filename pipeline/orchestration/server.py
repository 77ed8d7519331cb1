"""The project's Prefect server, and this process's connection to it.

    lenet server start|stop|status [--port 4200]

The server listens on 127.0.0.1 only, keeps its SQLite database in .prefect/ and has analytics
off (prefect.toml). Its PID and port are kept in .prefect/server.json, so `stop` stops exactly
the process `start` started.

A flow run whose process ended while the server was away is marked Crashed when the server
comes back (crash_orphaned_runs). Schedules and workers: orchestration/deploy.py.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

from pipeline.core.errors import PipelineError

ROOT = Path(__file__).resolve().parents[2]
STATE_DIR = ROOT / ".prefect"
SERVER_STATE = STATE_DIR / "server.json"
DEFAULT_PORT = 4200
HOST = "127.0.0.1"
QUIET_ENV = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
             "PREFECT_HOME": str(STATE_DIR), "DVC_NO_ANALYTICS": "1"}


class ServerError(PipelineError):
    """The Prefect server could not be started, reached or stopped."""


def api_url(port: int) -> str:
    return f"http://{HOST}:{port}/api"


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def start_server(port: int = DEFAULT_PORT, state_dir: Path = STATE_DIR, timeout: float = 90.0) -> str:
    """Start `prefect server start` on 127.0.0.1 in the background and wait until it is healthy.

    The database, log and PID file go to `state_dir`. Returns the API URL.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    state_file = state_dir / SERVER_STATE.name
    if state_file.exists():
        state = json.loads(state_file.read_text())
        if healthy(state["api_url"]):
            return state["api_url"]
    url = api_url(port)
    if healthy(url):
        raise ServerError(f"something else already serves {url}; choose another --port")
    log = open(state_dir / "server.log", "ab")  # noqa: SIM115  the server outlives this call
    process = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", HOST, "--port", str(port)],
        cwd=ROOT, env={**os.environ, **QUIET_ENV, "PREFECT_HOME": str(state_dir)},
        stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stop() ends the server and its children
    )
    state_file.write_text(json.dumps({"pid": process.pid, "api_url": url}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            state_file.unlink(missing_ok=True)
            raise ServerError(f"prefect server exited with {process.returncode}; see {log.name}")
        if healthy(url):
            crash_orphaned_runs(url)
            return url
        time.sleep(0.5)
    stop_server(state_dir)
    raise ServerError(f"prefect server not healthy at {url} after {timeout:.0f}s; see {log.name}")


def process_tag() -> str:
    """This process as Prefect names a flow run's process (FlowRun.infrastructure_pid)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def crash_orphaned_runs(url: str) -> list[str]:
    """Mark Crashed every Running flow run whose process on this machine has ended.

    A flow outlives a stopped server (Prefect 3 reports task states as events), but its final
    state then never reaches the server, which would show the run as Running forever. Run when
    the server comes back and before each flow; returns the names of the runs it marked.
    """
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    running = FlowRunFilter(state=FlowRunFilterState(
        type=FlowRunFilterStateType(any_=[StateType.RUNNING])))
    marked = []
    with SyncPrefectClient(url) as client:
        for run in client.read_flow_runs(flow_run_filter=running):
            host, _, pid = (run.infrastructure_pid or "").rpartition(":")
            if host != socket.gethostname() or not pid.isdigit() or psutil.pid_exists(int(pid)):
                continue
            client.set_flow_run_state(run.id, Crashed(message=(
                f"its process (PID {pid} on {host}) ended without reporting a final state: the "
                "Prefect server was unreachable when the run ended or was killed. Stages that "
                "finished are in dvc.lock; the next flow run restores them instead of rerunning")),
                force=True)
            marked.append(run.name)
    for name in marked:
        print(f"flow run {name}: its process is gone; marked Crashed", file=sys.stderr)
    return marked


def stop_server(state_dir: Path = STATE_DIR) -> bool:
    """Stop the server that start_server() started (by its recorded PID); False if none."""
    state_file = state_dir / SERVER_STATE.name
    if not state_file.exists():
        return False
    pid = json.loads(state_file.read_text())["pid"]
    try:
        os.killpg(pid, signal.SIGTERM)
        for _ in range(100):
            os.kill(pid, 0)
            time.sleep(0.1)
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    state_file.unlink(missing_ok=True)
    return True


def server_url() -> str:
    """PREFECT_API_URL if set, else the project's running server; never a temporary one."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    if SERVER_STATE.exists():
        return json.loads(SERVER_STATE.read_text())["api_url"]
    raise ServerError("no Prefect server: run `lenet server start` (make server-start) "
                      "or set PREFECT_API_URL")


def connect() -> None:
    """Point this process's Prefect client at the server (quietly: analytics off), and settle
    the runs whose process ended while it was away."""
    os.environ.update({k: v for k, v in QUIET_ENV.items() if k not in os.environ})
    os.environ["PREFECT_API_URL"] = server_url()
    crash_orphaned_runs(os.environ["PREFECT_API_URL"])
