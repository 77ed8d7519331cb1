"""Reading and writing the IDX format of MNIST and Fashion-MNIST (gzip-compressed).

The header is checked against the file: a wrong magic number, a truncated archive or a declared
count that disagrees with the payload size is an IdxError naming the file, never a silent reshape.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import zlib
from pathlib import Path

import numpy as np

from pipeline.core.errors import PipelineError

UBYTE = 0x08
DTYPES = {UBYTE: np.uint8}


class IdxError(PipelineError):
    """An IDX file is corrupt or not what the pipeline expects."""


def decompress_bytes(data: bytes, source: str | Path) -> bytes:
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as error:
        raise IdxError(f"{source}: not a complete gzip file ({error})") from None


def decompress(path: Path) -> bytes:
    return decompress_bytes(Path(path).read_bytes(), path)


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def header(data: bytes, source: str | Path = "<bytes>") -> tuple[int, tuple[int, ...]]:
    """(magic number, declared shape) as the file states them, right or wrong (validation
    compares them with the file); only a file too short to hold them is an error."""
    if len(data) < 4:
        raise IdxError(f"{source}: {len(data)} bytes is too short for an IDX header")
    magic = struct.unpack(">I", data[:4])[0]
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise IdxError(f"{source}: header declares {ndim} dimensions but the file ends early")
    return magic, struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])


def parse(data: bytes, source: str | Path = "<bytes>") -> np.ndarray:
    """Decode raw (decompressed) IDX bytes into an array of the declared shape."""
    if len(data) < 4:
        raise IdxError(f"{source}: {len(data)} bytes is too short for an IDX header")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code not in DTYPES or ndim == 0:
        raise IdxError(
            f"{source}: bad IDX magic number 0x{data[:4].hex()} "
            "(expected 0x00000801 for labels or 0x00000803 for images)"
        )
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise IdxError(f"{source}: header declares {ndim} dimensions but the file ends early")
    shape = struct.unpack(f">{ndim}I", data[4:header_size])
    expected = int(np.prod(shape, dtype=np.int64))
    actual = len(data) - header_size
    if actual != expected:
        raise IdxError(
            f"{source}: header declares shape {shape} ({expected} bytes of data) "
            f"but the file holds {actual} bytes"
        )
    return np.frombuffer(data, dtype=DTYPES[dtype_code], offset=header_size).reshape(shape)


def read(path: Path) -> np.ndarray:
    return parse(decompress(path), path)


def encode(array: np.ndarray) -> bytes:
    """Raw IDX bytes for a uint8 array (used by tests and tools that make datasets)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, UBYTE, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    return header + array.tobytes()
