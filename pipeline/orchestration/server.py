"""The project's Prefect server, and this process's connection to it.

    lenet server start|stop|status [--port 4200] [--database URL] [--host 127.0.0.1]
                                   [--lost-after 90]

By default the server listens on 127.0.0.1 only and keeps its SQLite database in the project's
.prefect/ (the project is the current directory); analytics are off (prefect.toml). For many
workers, `--database postgresql+asyncpg://USER:PASSWORD@HOST:PORT/DB` (PostgreSQL 14+ with the
pg_trgm extension, Prefect's production database). `--host` other than loopback is refused unless
PREFECT_SERVER_API_AUTH_STRING (user:password) is set: a server reachable from a network must not
take anonymous writes; its clients and workers then set PREFECT_API_AUTH_STRING. The PID and URL
are kept in .prefect/server.json, so `stop` stops exactly the process `start` started.

The UI is served at the address the server was started with (PREFECT_UI_API_URL follows --port
and --host; Prefect's own default names port 4200 whatever the port). Once healthy, the server
gets the automations that mark lost runs Crashed (orchestration/watch.py). Schedules and
workers: orchestration/deploy.py.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

from pipeline.core.errors import PipelineError
from pipeline.orchestration import watch

SERVER_STATE = "server.json"
DEFAULT_PORT = 4200
HOST = "127.0.0.1"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
AUTH = "PREFECT_SERVER_API_AUTH_STRING"
DATABASES = ("postgresql+asyncpg://", "sqlite+aiosqlite://")
QUIET_ENV = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
             "DVC_NO_ANALYTICS": "1"}


def project_state() -> Path:
    """The project's Prefect state (database, log, PID file): .prefect/ of the current directory."""
    return Path.cwd().resolve() / ".prefect"


class ServerError(PipelineError):
    """The Prefect server could not be started, reached or stopped."""


def api_url(port: int, host: str = HOST) -> str:
    """The URL a client on this machine uses (a server on every interface is also on loopback)."""
    return f"http://{HOST if host in ('0.0.0.0', '::') else host}:{port}/api"


def ui_api_url(port: int, host: str = HOST) -> str:
    """The API address the UI's pages call, from the viewer's browser: this machine's loopback
    for a loopback server, else the page's own origin (`/api`), which is whatever name or
    address the viewer reached the server by."""
    return api_url(port, host) if host in LOOPBACK else "/api"


def auth_string() -> str | None:
    """The basic-auth string this process talks to the server with, if any."""
    return os.environ.get("PREFECT_API_AUTH_STRING") or os.environ.get(AUTH)


def healthy(url: str) -> bool:
    auth = auth_string()
    headers = {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()} if auth else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{url}/health", headers=headers),
                                    timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def check_bind(host: str, database: str | None) -> None:
    """Refuse a server reachable from a network without an auth string, and a database URL
    Prefect cannot use."""
    if host not in LOOPBACK and not os.environ.get(AUTH):
        raise ServerError(f"--host {host} would accept anonymous writes from the network: set "
                          f"{AUTH}=user:password first (clients and workers then set "
                          "PREFECT_API_AUTH_STRING to the same value; it travels as plain HTTP "
                          "basic auth, so keep the network private or put TLS in front), or "
                          "keep 127.0.0.1")
    if database and not database.startswith(DATABASES):
        raise ServerError(f"--database {database.split('@')[-1]!r}: expected a URL starting with "
                          f"{' or '.join(DATABASES)}")


def start_server(port: int = DEFAULT_PORT, state_dir: Path | None = None, timeout: float = 90.0,
                 host: str = HOST, database: str | None = None,
                 lost_after: float | None = None) -> str:
    """Start `prefect server start` on `host` (127.0.0.1) in the background and wait until it is
    healthy; then install the automations that crash runs silent for `lost_after` seconds
    (watch.py). The log and PID file go to `state_dir` (.prefect/), and so does the SQLite
    database unless `database` names another (PostgreSQL). Returns the API URL.
    """
    check_bind(host, database)
    if lost_after is not None and lost_after < watch.MIN_LOST_AFTER:
        raise ServerError(f"--lost-after {lost_after:g}: runs send a heartbeat every "
                          f"{watch.HEARTBEAT_SECONDS} s; give at least {watch.MIN_LOST_AFTER} s")
    state_dir = state_dir or project_state()
    state_dir.mkdir(parents=True, exist_ok=True)
    state_file = state_dir / SERVER_STATE
    if state_file.exists():
        state = json.loads(state_file.read_text())
        if healthy(state["api_url"]):
            wanted = {"host": host, "database": redacted(database)}
            running = {key: state.get(key) for key in wanted}
            if running != wanted:
                raise ServerError(f"a server started with {running} already runs at "
                                  f"{state['api_url']}; `lenet server stop` it first")
            install_automations(state["api_url"], lost_after)
            return state["api_url"]
    url = api_url(port, host)
    if healthy(url):
        raise ServerError(f"something else already serves {url}; choose another --port")
    log = open(state_dir / "server.log", "ab")  # noqa: SIM115  the server outlives this call
    env = {**os.environ, **QUIET_ENV, "PREFECT_HOME": str(state_dir)}
    env["PREFECT_UI_API_URL"] = ui_api_url(port, host)
    if database:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = database
    process = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)],
        cwd=state_dir, env=env,
        stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stop() ends the server and its children
    )
    state_file.write_text(json.dumps({"pid": process.pid, "api_url": url, "host": host,
                                      "database": redacted(database)}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            state_file.unlink(missing_ok=True)
            raise ServerError(f"prefect server exited with {process.returncode}; see {log.name}")
        if healthy(url):
            install_automations(url, lost_after)
            return url
        time.sleep(0.5)
    stop_server(state_dir)
    raise ServerError(f"prefect server not healthy at {url} after {timeout:.0f}s; see {log.name}")


def redacted(database: str | None) -> str | None:
    """A database URL without its password, as it may be shown and kept."""
    if not database:
        return None
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(database)
    if parts.password is None:
        return database
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def install_automations(url: str, lost_after: float | None = None) -> None:
    """The automations that find lost runs (watch.py), on the server at `url`: idempotent."""
    from prefect.client.orchestration import SyncPrefectClient

    with SyncPrefectClient(url, auth_string=auth_string()) as client:
        watch.install(client, lost_after)


def ui_url(url: str) -> str:
    """The UI's address for the API at `url`."""
    return url.removesuffix("/api")


def stop_server(state_dir: Path | None = None) -> bool:
    """Stop the server that start_server() started (by its recorded PID); False if none."""
    state_file = (state_dir or project_state()) / SERVER_STATE
    if not state_file.exists():
        return False
    pid = json.loads(state_file.read_text())["pid"]
    try:
        os.killpg(pid, signal.SIGTERM)
        for _ in range(100):
            if ended(pid):
                break
            time.sleep(0.1)
        else:
            os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    state_file.unlink(missing_ok=True)
    return True


def ended(pid: int) -> bool:
    """Has process `pid` ended? A child of this process (start_server's, when the same process
    stops it) stays a zombie until reaped: reap it here."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return True
    except ChildProcessError:  # not this process's child
        pass
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def server_url() -> str:
    """PREFECT_API_URL if set, else the project's running server; never a temporary one."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    state_file = project_state() / SERVER_STATE
    if state_file.exists():
        return json.loads(state_file.read_text())["api_url"]
    raise ServerError("no Prefect server: run `lenet server start` (make server-start) "
                      "or set PREFECT_API_URL")


def connect() -> None:
    """Point this process's Prefect client at the server (quietly: analytics off); flow runs
    started here send heartbeats, so the server notices when their process ends (watch.py)."""
    quiet = {**QUIET_ENV, **watch.heartbeat_env(), "PREFECT_HOME": str(project_state())}
    os.environ.update({k: v for k, v in quiet.items() if k not in os.environ})
    os.environ["PREFECT_API_URL"] = server_url()
    crash_silent_runs(os.environ["PREFECT_API_URL"])


def crash_silent_runs(url: str) -> list[str]:
    """The lost-run automation's rule, applied once from here (every `lenet` command that talks
    to Prefect): a Running run of the project's flows whose last heartbeat, or its start, is
    older than the automation's limit is proposed Crashed. Needed because a server that is
    stopped and started again loses the events it had not yet handed to its automations: a run
    killed meanwhile was then never crashed (seen in 2 of 4 runs of
    tests/test_flow.py::test_server_stopped_mid_flow_...). Returns the runs it marked."""
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    marked = []
    with SyncPrefectClient(url, auth_string=auth_string()) as client:
        rule = client.read_automations_by_name(watch.LOST)
        if not rule:
            return marked
        limit = rule[0].trigger.within
        now = datetime.datetime.now(datetime.UTC)
        running = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(like_="lenet-")),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
                type=FlowRunFilterStateType(any_=[StateType.RUNNING]))))
        for run in running:
            heard = [run.state.timestamp] + [
                datetime.datetime.fromisoformat(event["occurred"]) for event in client.request(
                    "POST", "/events/filter", json={"filter": {
                        "event": {"name": ["prefect.flow-run.heartbeat"]},
                        "resource": {"id": [f"prefect.flow-run.{run.id}"]},
                        "occurred": {"since": run.state.timestamp.isoformat()}}}).json()["events"]]
            silent = now - max(heard)
            if silent > limit:
                client.set_flow_run_state(run.id, Crashed(message=(
                    f"no heartbeat for {limit.total_seconds():.0f} s (last heard "
                    f"{silent.total_seconds():.0f} s ago): its process or machine stopped")),
                    force=False)
                marked.append(run.name)
    for name in marked:
        print(f"flow run {name}: no heartbeat for too long; marked Crashed", file=sys.stderr)
    return marked
