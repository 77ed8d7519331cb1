import gzip

import pytest

from pipeline import download
from pipeline.config import Dataset, Download

SETTINGS = Download(attempts=2, backoff_seconds=0.01, timeout_seconds=5)


def _dataset(entry: dict, urls: list[str]) -> Dataset:
    return Dataset.model_validate({**entry, "urls": urls})


def test_downloads_and_verifies_over_http(http_mirror, tmp_path, monkeypatch):
    url, _, entry = http_mirror
    monkeypatch.setenv(download.MIRROR_ENV, url)
    out = tmp_path / "raw"
    download.run("digits", _dataset(entry, []), SETTINGS, out)
    assert sorted(p.name for p in out.iterdir()) == sorted(f["name"] for f in entry["files"].values())


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
