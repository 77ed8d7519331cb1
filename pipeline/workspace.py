"""Commands run in the repository, and scratch checkouts of a revision that share its DVC cache."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pipeline.errors import PipelineError


class CommandFailed(PipelineError):
    """A git or DVC command exited non-zero."""


def run(*command: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """A command's stdout; CommandFailed naming the command and the end of its output if it fails."""
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise CommandFailed(f"`{' '.join(command)}` failed in {cwd or Path.cwd()}:\n"
                            + (result.stderr or result.stdout)[-2000:])
    return result.stdout


@contextlib.contextmanager
def scratch_checkout(revision: str, root: Path | None = None) -> Iterator[Path]:
    """A git worktree of `revision` in a temporary folder, using `root`'s DVC cache (so downloads
    and data are not fetched twice); removed afterwards, whatever happened inside."""
    root = (root or Path.cwd()).resolve()
    cache = run("dvc", "cache", "dir", cwd=root).strip()
    parent = Path(tempfile.mkdtemp(prefix="lenet-scratch-"))
    checkout = parent / "checkout"
    run("git", "worktree", "add", "--detach", str(checkout), revision, cwd=root)
    try:
        run("dvc", "cache", "dir", "--local", cache, cwd=checkout)
        yield checkout
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(checkout)], cwd=root,
                       check=False, capture_output=True)
        shutil.rmtree(parent, ignore_errors=True)
        subprocess.run(["git", "worktree", "prune"], cwd=root, check=False, capture_output=True)
