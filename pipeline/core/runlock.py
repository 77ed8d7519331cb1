"""One run at a time in a workspace: a second `dvc repro` or Prefect flow is refused, not mixed in.

DVC locks only the outputs of the stage it is running, and a Prefect flow runs one `dvc repro
--single-item` per stage, so between two stages nothing stops a second run from deleting and
rewriting outputs the first is about to read. So the first run *owns* the workspace: the file
.lenet/run.json names its process (the `dvc` command that started the stage, the flow's process,
or a stage run by hand). Every stage, and every flow before its first stage, checks it: a live
owner that is not one of its own ancestors means another run, and the stage refuses to start.
The owner is never released explicitly: when its process ends (or is killed), the lock is free.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
from pathlib import Path

import psutil

from pipeline.core.errors import PipelineError
from pipeline.core.files import write_json


class RunInProgress(PipelineError):
    """Another run owns this workspace."""


def _identity(process: psutil.Process) -> dict:
    return {"pid": process.pid, "started": process.create_time(),
            "command": " ".join(process.cmdline())[:200]}


def _is(process: psutil.Process, owner: dict) -> bool:
    """The same process, not a later one that reused its PID."""
    return process.pid == owner["pid"] and process.create_time() == owner["started"]


def _alive(owner: dict) -> bool:
    try:
        return _is(psutil.Process(owner["pid"]), owner)
    except psutil.Error:
        return False


def _run_of(lineage: list[psutil.Process]) -> psutil.Process:
    """The process that stands for the whole run: the nearest `dvc` command (repro, exp run)
    above this one, or this process when it was started by hand."""
    for process in lineage:
        with contextlib.suppress(psutil.Error):
            argv = process.cmdline()  # a console script shows as [python, .../bin/dvc, ...]
            if "dvc" in [Path(arg).name for arg in argv[:2]] or argv[1:3] == ["-m", "dvc"]:
                return process
    return lineage[0]


def claim(lock_file: Path) -> None:
    """Make this process's run the workspace's owner, or raise RunInProgress naming the owner."""
    me = psutil.Process()
    lineage = [me, *me.parents()]
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file.with_suffix(".lock"), "w") as guard:  # one claimant at a time
        fcntl.flock(guard, fcntl.LOCK_EX)
        owner = json.loads(lock_file.read_text()) if lock_file.exists() else None
        if owner and _alive(owner):
            if any(_is(process, owner) for process in lineage):
                return  # a stage of the run that owns the workspace
            since = datetime.datetime.fromtimestamp(owner["started"]).strftime("%H:%M:%S")
            raise RunInProgress(
                f"another run is using this workspace ({os.getcwd()}): PID {owner['pid']} "
                f"`{owner['command']}`, running since {since}. Wait for it to finish, or stop it, "
                f"then run again ({lock_file} names it)")
        write_json(lock_file, _identity(_run_of(lineage)))
