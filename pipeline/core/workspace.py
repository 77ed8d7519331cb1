"""Commands run in the repository, and scratch checkouts of a revision that share its DVC cache."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pipeline.core.errors import PipelineError
from pipeline.core.paths import ProjectPaths


class CommandFailed(PipelineError):
    """A git or DVC command exited non-zero."""


def run(*command: str, cwd: Path | None = None, env: dict[str, str] | None = None,
        check: bool = True, capture: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `command` (the project's one way to start a process) with this interpreter's bin/
    first on PATH, so `dvc`, `lenet` and dvc.yaml's `python` are this environment's.

    `env` replaces the environment, as in subprocess. With `check`, a non-zero exit raises
    CommandFailed naming the command and the end of its output; `capture=False` lets the output
    stream to the terminal (long runs).
    """
    result = subprocess.run(command, cwd=cwd, env=environment(env), capture_output=capture,
                            text=True, check=False)
    if check and result.returncode != 0:
        output = (result.stderr or result.stdout or "")[-2000:] if capture else "(output above)"
        raise CommandFailed(f"`{' '.join(command)}` exited {result.returncode} in "
                            f"{cwd or Path.cwd()}:\n{output}")
    return result


def environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """`env` (default: this process's) with this interpreter's bin/ first on PATH."""
    env = dict(os.environ if env is None else env)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("DVC_NO_ANALYTICS", "1")
    return env


@contextlib.contextmanager
def scratch_checkout(revision: str, root: Path | None = None) -> Iterator[Path]:
    """A git worktree of `revision` in a temporary folder, using `root`'s DVC cache (so downloads
    and data are not fetched twice) and its installed web assets; removed afterwards, whatever
    happened inside."""
    root = (root or Path.cwd()).resolve()
    cache = run("dvc", "cache", "dir", cwd=root).stdout.strip()
    parent = Path(tempfile.mkdtemp(prefix="lenet-scratch-"))
    checkout = parent / "checkout"
    run("git", "worktree", "add", "--detach", str(checkout), revision, cwd=root)
    try:
        run("dvc", "cache", "dir", "--local", cache, cwd=checkout)
        share_web_assets(root, checkout)
        yield checkout
    finally:
        run("git", "worktree", "remove", "--force", str(checkout), cwd=root, check=False)
        shutil.rmtree(parent, ignore_errors=True)
        run("git", "worktree", "prune", cwd=root, check=False)


def share_web_assets(root: Path, checkout: Path) -> None:
    """Link what `lenet assets` installed in `root` (git ignores it, so a worktree or clone lacks
    it) into `checkout`: the validate stage copies the Data Docs' CSS and JavaScript from there."""
    for installed in (
        ProjectPaths(root).web_assets / "node_modules",
        ProjectPaths(root).plots_template,
    ):
        if installed.exists():
            link = ProjectPaths(checkout).web_assets / installed.name
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(installed.resolve())
