"""One Prefect server on PostgreSQL for a whole test run, shared by every test process
(tests/conftest.py's `prefect_api`): starting a server and its database costs about 7 CPU-s and
keeping them up 2.5-3.3 CPU-s a minute (measured on an idle machine), paid once instead of once
per test process and module.

PostgreSQL, not the one-machine default SQLite: with the suite loading both cores, SQLite refused
writes now and then ("database is locked", logged by the server as tracebacks) while every run
still finished. Basic auth is on, as a server that many machines share has it, and runs silent
for LOST_AFTER seconds are crashed. Tests on it run side by side in several processes: each
tells its runs, pools and deployments apart by an id, tag or name of its own, never as "the
latest run".

    shared = start(folder)   # in the first test process that needs it; folder/ holds its state
    stop(folder)             # by the process that ends the run (any process may)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

from harness import postgres
from harness.helpers import free_port
from pipeline.orchestration import server

AUTH = "lenet:not-a-real-secret"
# The server's automation crashes a run this long after its last heartbeat (every 30 s, Prefect's
# minimum); 90 s by default.
LOST_AFTER = 50


@dataclass(frozen=True)
class SharedServer:
    url: str         # the API's URL
    log: Path        # the server's log
    auth: str = AUTH


def start(folder: Path) -> SharedServer:
    """PostgreSQL and a Prefect server on it, their state in `folder` (which exists); a start
    that fails half-way stops what it started."""
    try:
        database = postgres.Postgres().start()
        (folder / "postgres").write_text(str(database.folder))
        with mock.patch.dict(os.environ, {server.AUTH: AUTH, "PREFECT_API_AUTH_STRING": AUTH}):
            server.start_server(free_port(), state_dir=folder / "prefect", database=database.url,
                                lost_after=LOST_AFTER)
    except BaseException:
        stop(folder)
        raise
    return attach(folder)


def attach(folder: Path) -> SharedServer:
    """The server `start(folder)` started, from any process (its URL is in the state file
    start_server writes)."""
    url = json.loads((folder / "prefect" / server.SERVER_STATE).read_text())["api_url"]
    return SharedServer(url, folder / "prefect" / "server.log")


def stop(folder: Path) -> None:
    """Stop the server and the database that `start(folder)` started (either may be missing:
    a start that failed half-way)."""
    try:
        server.stop_server(state_dir=folder / "prefect")
    finally:
        database = folder / "postgres"
        if database.exists():
            postgres.stop_in(Path(database.read_text()))
