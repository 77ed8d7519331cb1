"""`lenet worker` processes standing in for machines, for tests and benchmarks: each with its own
folder (no checkout), Prefect home and DVC cache; the package, the server's URL and storage
credentials are all it has."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

import psutil

from pipeline.core import workspace


def start_worker(pool: str, name: str, home: Path, env: dict[str, str]) -> subprocess.Popen:
    """`lenet worker --pool POOL --name NAME --limit 1` in `home` (made here), its output in
    home/worker.log; `env` is its whole environment (PREFECT_API_URL and credentials included)."""
    home.mkdir()
    env = {
        **env,
        "PREFECT_HOME": str(home / "prefect"),
        "LENET_WORKER_CACHE": str(home / "dvc-cache"),
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline",
            "worker",
            "--pool",
            pool,
            "--name",
            name,
            "--limit",
            "1",
        ],
        cwd=home,
        env=workspace.environment(env),
        stdout=(home / "worker.log").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def processes_of(home: Path) -> list[psutil.Process]:
    """The live processes of the worker started in `home`: the worker, its flow runs and their
    stages (which Prefect starts in sessions of their own), found by the PREFECT_HOME they all
    inherit. Zombies (dead, not yet reaped) are not live."""
    found = []
    for process in psutil.process_iter():
        try:
            if (
                process.environ().get("PREFECT_HOME") == str(home / "prefect")
                and process.status() != psutil.STATUS_ZOMBIE
            ):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return found


def kill_worker(home: Path, timeout: float = 30) -> None:
    """SIGKILL, as a machine switched off would, every process of the worker started in `home`,
    until none is left: a flow run may start a stage while the first sweep is under way (seen:
    a stage process that outlived one sweep)."""
    deadline = time.monotonic() + timeout
    while processes := processes_of(home):
        if time.monotonic() > deadline:
            raise RuntimeError(f"worker in {home}: {processes} still alive after {timeout} s")
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                process.kill()
        psutil.wait_procs(processes, timeout=1)
