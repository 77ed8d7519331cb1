"""A PostgreSQL server of its own for tests and benchmarks: a fresh data directory, 127.0.0.1 and
a free port, trust authentication (loopback only), the `prefect` database with pg_trgm.

    database = Postgres().start()
    start_server(port, database=database.url)  # postgresql+asyncpg://postgres@127.0.0.1:P/prefect
    ...
    stop_in(database.folder)                    # from this process or any other

Debian's `postgresql` package provides the binaries (`make postgres` installs it). initdb refuses
to run as root, so as root the server runs as the `postgres` user the package creates.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from harness.helpers import free_port


def binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise RuntimeError(
        "PostgreSQL not installed: run `make postgres` (Debian's postgresql package)"
    )


def as_postgres() -> list[str]:
    """The command prefix that runs a program as the `postgres` user, when this process is root."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


class Postgres:
    def start(self) -> Postgres:
        """initdb and start a server in a new folder (`self.folder`); `stop_in(folder)` ends it
        and removes the folder."""
        self.bin = binaries()
        self.folder = Path(tempfile.mkdtemp(prefix="lenet-pg-"))
        self.as_user = as_postgres()
        if self.as_user:
            shutil.chown(self.folder, "postgres", "postgres")
        self.data, self.log = self.folder / "data", self.folder / "server.log"
        self.port = free_port()
        try:
            self.pg("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E",
                    "UTF8", "--no-sync")
            self.pg("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o",
                    f"-h 127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off "
                    "-c synchronous_commit=off -c full_page_writes=off", "start")
            self.psql("postgres", "CREATE DATABASE prefect")
            self.psql("prefect", "CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except BaseException:
            stop_in(self.folder)  # a server that started is stopped, the folder removed
            raise
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/prefect"
        return self

    def pg(self, program: str, *args: str) -> str:
        result = subprocess.run([*self.as_user, str(self.bin / program), *args], cwd=self.folder,
                                check=False, capture_output=True, text=True)
        if result.returncode:
            raise RuntimeError(f"{program} exited {result.returncode}: {result.stderr[-2000:]}")
        return result.stdout

    def psql(self, database: str, sql: str) -> str:
        return self.pg("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                       "-d", database, "-v", "ON_ERROR_STOP=1", "-qAtc", sql)


def stop_in(folder: Path) -> None:
    """Stop the server whose folder `start()` made (from any process) and remove the folder."""
    if not folder.exists():  # stopped already
        return
    try:
        subprocess.run(
            [*as_postgres(), str(binaries() / "pg_ctl"), "-D", str(folder / "data"), "-m", "fast",
             "-w", "stop"],
            cwd=folder, check=False, capture_output=True,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
