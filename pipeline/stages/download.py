"""Download stage: fetch the four IDX archives of a dataset from an ordered list of mirrors.

A file counts as downloaded only when the md5 of its *decompressed* content matches params.yaml
(mirrors recompress, so the .gz bytes may differ while the data does not). Mirrors are tried in
order, each with retries and exponential backoff; nothing unverified is ever left at the target.
A mirror that stalls (no byte, or not the whole file, within download.timeout_seconds) or serves
an HTML page is abandoned at once for the next; one that closes the connection early is retried.
"""

from __future__ import annotations

import http.client
import logging
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from pipeline.core import idx
from pipeline.core.config import DataFile, Dataset, Download
from pipeline.core.errors import PipelineError
from pipeline.core.files import atomic_path

log = logging.getLogger(__name__)

MIRROR_ENV = "LENET_DATA_MIRROR"
CHUNK = 1 << 16


class DownloadError(PipelineError):
    """No mirror delivered a file with the expected content."""


class _Permanent(Exception):
    """A failure that retrying the same mirror cannot fix (404, wrong content)."""


def mirror_urls(dataset: Dataset, environ: dict[str, str] | None = None) -> list[str]:
    """Base URLs to try, in order: the configured offline mirror(s), then params.yaml's urls."""
    environ = os.environ if environ is None else environ
    configured = [m for m in re.split(r"[\s,]+", environ.get(MIRROR_ENV, "")) if m]
    local = [f"{m.rstrip('/')}/{dataset.mirror_dir}/" for m in configured]
    return local + [u if u.endswith("/") else u + "/" for u in dataset.urls]


def _fetch(url: str, timeout: float, label: str) -> bytes:
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        path = Path(urllib.request.url2pathname(parsed.path))
        if not path.is_file():
            raise _Permanent(f"no such file {path}")
        return path.read_bytes()
    if parsed.scheme not in ("http", "https"):
        raise _Permanent(f"unsupported URL scheme {parsed.scheme!r} (use file://, http:// or https://)")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            data = _read_with_progress(_chunks(response, timeout, total), total, label)
            html = response.headers.get_content_type() == "text/html"
    except urllib.error.HTTPError as error:
        if 400 <= error.code < 500:
            raise _Permanent(f"HTTP {error.code} {error.reason}") from None
        raise
    except (TimeoutError, urllib.error.URLError) as error:
        if isinstance(error, TimeoutError) or isinstance(error.reason, TimeoutError):
            raise _Permanent(f"stalled: nothing received for {timeout:g}s "
                             "(download.timeout_seconds)") from None
        raise
    if html or data.lstrip()[:1] == b"<":
        raise _Permanent("served an HTML page, not the file (a login or error page?)")
    return data


def _chunks(response, timeout: float, declared: int | None) -> Iterator[bytes]:
    """The body as it arrives (read1: whatever one receive brings), abandoned once `timeout`
    seconds have passed in all: a server that trickles bytes never trips the socket's timeout.
    `declared`: the Content-Length, if the server sent one."""
    deadline = time.monotonic() + timeout
    received = 0
    while chunk := response.read1(CHUNK):
        received += len(chunk)
        if time.monotonic() > deadline:
            raise _Permanent(f"stalled: {received} bytes in {timeout:g}s, still incomplete "
                             "(download.timeout_seconds)")
        yield chunk
    if declared and received < declared:  # read1 returns short at a closed connection: retry
        raise ConnectionError(f"connection closed after {received} of the {declared} bytes "
                              "its Content-Length announced")


def _read_with_progress(chunks: Iterator[bytes], total: int | None, label: str) -> bytes:
    if not sys.stderr.isatty():
        return b"".join(chunks)
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    received = []
    with Progress(*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn()) as bar:
        task = bar.add_task(label, total=total)
        for chunk in chunks:
            received.append(chunk)
            bar.advance(task, len(chunk))
    return b"".join(received)


def _verified(data: bytes, expected: DataFile, source: str) -> None:
    try:
        content = idx.decompress_bytes(data, source)
    except idx.IdxError as error:
        raise _Permanent(str(error)) from None
    actual = idx.md5(content)
    if actual != expected.md5:
        raise _Permanent(f"checksum mismatch: expected md5 {expected.md5}, got {actual}")


def fetch_file(file: DataFile, bases: list[str], target: Path, settings: Download) -> str:
    """Download `file` into `target`, verified. Returns the URL it came from."""
    tries: list[str] = []
    for base in bases:
        url = urllib.parse.urljoin(base, file.name)
        delay = settings.backoff_seconds
        for attempt in range(1, settings.attempts + 1):
            try:
                data = _fetch(url, settings.timeout_seconds, file.name)
                _verified(data, file, url)
            except _Permanent as error:
                tries.append(f"{url}: {error}")
                log.warning("%s: %s; trying the next mirror", url, error)
                break
            except (OSError, http.client.HTTPException) as error:  # URLError is an OSError
                tries.append(f"{url} (attempt {attempt}/{settings.attempts}): {error}")
                if attempt < settings.attempts:
                    log.warning("%s failed (%s); retrying in %.1fs", url, error, delay)
                    time.sleep(delay)
                    delay *= 2
                continue
            with atomic_path(target) as tmp:
                tmp.write_bytes(data)
            return url
    listing = (
        "\n  ".join(tries) or "(no mirrors configured: set LENET_DATA_MIRROR or datasets.*.urls)"
    )
    raise DownloadError(f"could not download {file.name} (md5 {file.md5}); tried:\n  {listing}")


def _already_verified(target: Path, expected: DataFile) -> bool:
    try:
        return target.exists() and idx.md5(idx.decompress(target)) == expected.md5
    except idx.IdxError:
        return False  # a damaged leftover: download it again


def run(name: str, dataset: Dataset, settings: Download, out_dir: Path) -> None:
    bases = mirror_urls(dataset)
    for spec in dataset.data_files():
        target = out_dir / spec.name
        if _already_verified(target, spec):
            log.info("%s: %s already present and verified", name, target)
            continue
        source = fetch_file(spec, bases, target, settings)
        log.info("%s: %s <- %s (md5 %s verified)", name, target, source, spec.md5)
