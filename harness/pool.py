"""`lenet worker` processes standing in for machines, for tests and benchmarks: each with its own
folder (no checkout), Prefect home and DVC cache; the package, the server's URL and storage
credentials are all it has."""

from __future__ import annotations

import subprocess
import sys
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


def kill_worker(home: Path) -> None:
    """SIGKILL, as a machine switched off would, every process of the worker started in `home`:
    the worker and its flow runs, which Prefect starts in sessions of their own (found by the
    PREFECT_HOME they all inherit)."""
    for process in psutil.process_iter():
        try:
            if process.environ().get("PREFECT_HOME") == str(home / "prefect"):
                process.kill()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
