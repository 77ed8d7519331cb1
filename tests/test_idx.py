import gzip
import struct

import numpy as np
import pytest

from harness.synthetic import make_split, write_idx_gz
from pipeline.core import idx


def test_round_trip(tmp_path):
    images, labels = make_split(2, seed=1)
    write_idx_gz(tmp_path / "x.gz", images)
    write_idx_gz(tmp_path / "y.gz", labels)
    assert np.array_equal(idx.read(tmp_path / "x.gz"), images)
    assert np.array_equal(idx.read(tmp_path / "y.gz"), labels)


def test_wrong_magic_number_names_the_file(tmp_path):
    raw = bytearray(idx.encode(np.zeros((2, 28, 28), np.uint8)))
    raw[2] = 0x0D  # float32 type code: not an MNIST file
    path = tmp_path / "weird.gz"
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(idx.IdxError, match=r"weird\.gz: bad IDX magic number 0x00000d03"):
        idx.read(path)


def test_count_disagreeing_with_file_size(tmp_path):
    raw = struct.pack(">HBB", 0, 8, 3) + struct.pack(">3I", 5, 28, 28) + bytes(4 * 28 * 28)
    path = tmp_path / "short.gz"
    path.write_bytes(gzip.compress(raw))
    with pytest.raises(
        idx.IdxError, match=r"short\.gz: header declares shape \(5, 28, 28\).*holds 3136"
    ):
        idx.read(path)


def test_truncated_gzip_names_the_file(tmp_path):
    path = tmp_path / "cut.gz"
    data = gzip.compress(idx.encode(np.arange(1000, dtype=np.uint8) % 7))
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(idx.IdxError, match=r"cut\.gz: not a complete gzip file"):
        idx.read(path)
