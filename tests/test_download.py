import gzip
import time

import pytest

from harness.helpers import LoopbackServer, QuietHandler
from pipeline.core.config import Dataset, Download
from pipeline.stages import download

SETTINGS = Download(attempts=2, backoff_seconds=0.01, timeout_seconds=5)


def _dataset(entry: dict, urls: list[str]) -> Dataset:
    return Dataset.model_validate({**entry, "urls": urls})


def test_downloads_and_verifies_over_http(http_mirror, tmp_path, monkeypatch):
    url, _, entry = http_mirror
    monkeypatch.setenv(download.MIRROR_ENV, url)
    out = tmp_path / "raw"
    download.run("digits", _dataset(entry, []), SETTINGS, out)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f["name"] for f in entry["files"].values()
    )


def test_file_mirror_comes_before_params_urls(mirror, monkeypatch):
    root, entry = mirror
    monkeypatch.setenv(download.MIRROR_ENV, f"file://{root}")
    bases = download.mirror_urls(_dataset(entry, ["https://example.invalid/x"]))
    assert bases == [f"file://{root}/digits/", "https://example.invalid/x/"]


def test_checksum_mismatch_names_file_mirrors_and_checksums(mirror, tmp_path, monkeypatch):
    root, entry = mirror
    target = root / "digits" / entry["files"]["train_labels"]["name"]
    target.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x01\x07"))
    monkeypatch.setenv(download.MIRROR_ENV, f"file://{root}")
    out = tmp_path / "raw"
    with pytest.raises(download.DownloadError) as caught:
        download.run("digits", _dataset(entry, []), SETTINGS, out)
    message = str(caught.value)
    assert "train-labels-idx1-ubyte.gz" in message
    assert f"file://{root}/digits/train-labels-idx1-ubyte.gz" in message
    assert f"expected md5 {entry['files']['train_labels']['md5']}, got " in message
    assert not (out / "train-labels-idx1-ubyte.gz").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary file left behind"


def test_truncated_archive_is_rejected_and_not_kept(mirror, tmp_path, monkeypatch):
    root, entry = mirror
    target = root / "digits" / entry["files"]["test_images"]["name"]
    target.write_bytes(target.read_bytes()[:100])
    monkeypatch.setenv(download.MIRROR_ENV, f"file://{root}")
    with pytest.raises(download.DownloadError, match="not a complete gzip file"):
        download.run("digits", _dataset(entry, []), SETTINGS, tmp_path / "raw")
    assert not (tmp_path / "raw" / entry["files"]["test_images"]["name"]).exists()


def test_unreachable_mirror_falls_through_to_the_next(http_mirror, tmp_path, monkeypatch):
    url, _, entry = http_mirror
    dead = "http://127.0.0.1:9/"  # discard port: connection refused
    monkeypatch.setenv(download.MIRROR_ENV, f"{dead} {url}")
    download.run("digits", _dataset(entry, []), SETTINGS, tmp_path / "raw")
    assert len(list((tmp_path / "raw").iterdir())) == 4


def test_every_try_is_listed_when_all_mirrors_fail(mirror, tmp_path, monkeypatch):
    _, entry = mirror
    monkeypatch.setenv(download.MIRROR_ENV, "http://127.0.0.1:9/ file:///nonexistent")
    with pytest.raises(download.DownloadError) as caught:
        download.run("digits", _dataset(entry, []), SETTINGS, tmp_path / "raw")
    message = str(caught.value)
    assert "http://127.0.0.1:9/digits/train-images-idx3-ubyte.gz (attempt 1/2)" in message
    assert "http://127.0.0.1:9/digits/train-images-idx3-ubyte.gz (attempt 2/2)" in message
    assert "file:///nonexistent/digits/train-images-idx3-ubyte.gz: no such file" in message


def test_http_404_is_not_retried(http_mirror, tmp_path, monkeypatch):
    url, _, entry = http_mirror
    monkeypatch.setenv(download.MIRROR_ENV, url + "missing/")
    with pytest.raises(download.DownloadError, match=r"HTTP 404") as caught:
        download.run("digits", _dataset(entry, []), SETTINGS, tmp_path / "raw")
    assert "attempt" not in str(caught.value)


def test_damaged_leftover_is_downloaded_again(mirror, tmp_path, monkeypatch):
    root, entry = mirror
    monkeypatch.setenv(download.MIRROR_ENV, f"file://{root}")
    out = tmp_path / "raw"
    out.mkdir()
    leftover = out / entry["files"]["train_images"]["name"]
    leftover.write_bytes(b"\x1f\x8b truncated")
    download.run("digits", _dataset(entry, []), SETTINGS, out)
    assert leftover.read_bytes() == (root / "digits" / leftover.name).read_bytes()


def faulty_mirror(root, fault: str):
    """A handler serving the mirror under `root` wrongly, in the way `fault` names."""
    class Faulty(QuietHandler):
        def do_GET(self):
            body = (root / self.path.lstrip("/")).read_bytes()
            if fault == "html":  # a status-200 error page, as some CDNs and captive portals send
                body = b"<!DOCTYPE html><html><body>Service unavailable</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html" if fault == "html" else "application/gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if fault == "short":  # announces the whole file, sends half, closes
                self.wfile.write(body[: len(body) // 2])
            elif fault == "stall":  # headers and a first packet, then silence
                self.wfile.write(body[:100])
                self.wfile.flush()
                time.sleep(3)
            elif fault == "trickle":  # a byte every 0.2 s: never idle long enough to time out
                for byte in body[:15]:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.2)
            else:
                self.wfile.write(body)
    return Faulty


@pytest.mark.parametrize(("fault", "reported"), [
    ("stall", "stalled: nothing received for 1s"),
    ("trickle", "bytes in 1s, still incomplete"),
    ("short", "connection closed after"),
    ("html", "served an HTML page, not the file"),
])
def test_a_faulty_mirror_is_abandoned_within_the_timeout_for_the_next(
        http_mirror, tmp_path, monkeypatch, caplog, fault, reported):
    good, root, entry = http_mirror
    settings = Download(attempts=2, backoff_seconds=0.01, timeout_seconds=1)
    out = tmp_path / "raw"
    with LoopbackServer(faulty_mirror(root, fault)) as bad:
        monkeypatch.setenv(download.MIRROR_ENV, f"{bad.url}/ {good}")
        started = time.monotonic()
        download.run("digits", _dataset(entry, []), settings, out)
        elapsed = time.monotonic() - started
    for spec in entry["files"].values():
        assert (out / spec["name"]).read_bytes() == (root / "digits" / spec["name"]).read_bytes()
    assert reported in caplog.text
    assert elapsed < 4 * (settings.timeout_seconds + 0.5)  # four files, each left in time
