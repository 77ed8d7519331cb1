"""Atomic file writes: a stage's output either exists complete or not at all."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from pipeline.core.errors import PipelineError

# A write that fails for lack of room: a full disk, a quota, a file-size limit (ulimit -f).
NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class NoRoom(PipelineError):
    """A file could not be written for lack of space."""


def no_room(error: OSError, target: Path | str | None = None) -> NoRoom | None:
    """The clear error for `error` if it is a lack of room, naming `target` (or the file the
    error names), else None."""
    if error.errno not in NO_ROOM:
        return None
    where = target or error.filename or "a file"
    return NoRoom(f"{where}: not written: {os.strerror(error.errno)} (disk full, quota or "
                  "file-size limit); free space and run the stage again")


@contextlib.contextmanager
def writing(target: Path) -> Iterator[None]:
    """Name `target` in the error if a write inside the block fails for lack of room (the
    OSError itself names no file when a library writes through an open handle)."""
    try:
        yield
    except OSError as error:
        raise no_room(error, target) or error


_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` only if the block
    succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Keep the suffix: some writers (Keras, numpy) insist on or append their own extension.
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.stem}.tmp-", suffix=target.suffix, dir=target.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        with writing(target):
            yield tmp_path
            os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp creates 0600; outputs are ordinary files
            os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_open(target: Path, mode: str = "w") -> Iterator[IO]:
    with atomic_path(target) as tmp, open(tmp, mode) as handle:
        yield handle


def write_json(target: Path, data: object) -> None:
    with atomic_open(target) as handle:
        json.dump(data, handle, indent=2, sort_keys=False)
        handle.write("\n")


def write_text(target: Path, text: str) -> None:
    with atomic_open(target) as handle:
        handle.write(text)
