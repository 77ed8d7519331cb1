"""A filter on this process's stderr that drops TensorFlow's C++ lines with nothing to act on."""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading

# TensorFlow's C++ lines that say nothing to act on: absl's pre-initialisation notice, the CUDA
# stub and the "rebuild TensorFlow" hints, the oneDNN notice (the profile chose oneDNN), tf.data's
# E-line about an attribute its own newer Python side sets ("This may be expected"), and, on a
# machine with no NVIDIA device at all, the failed cuInit (also printed as an E-line).
NATIVE_NOISE = [r"absl::InitializeLog\(\) is called", r"cudart_stub\.cc", r"cpu_feature_guard\.cc",
                r"rebuild TensorFlow with the appropriate compiler flags",
                r"port\.cc:\d+\] oneDNN custom operations are on",
                r"NodeDef mentions attribute use_unbounded_threadpool"]
if not os.path.exists("/dev/nvidiactl"):
    NATIVE_NOISE.append(r"failed call to cuInit")


def drop_native_noise(patterns: list[str] = NATIVE_NOISE) -> None:
    """Filter this process's stderr at the file-descriptor level (TensorFlow's C++ logging writes
    there directly, and its pre-initialisation lines ignore TF_CPP_MIN_LOG_LEVEL): lines matching
    `patterns` are dropped, every other line (real warnings and errors) passes unchanged."""
    noise = re.compile("|".join(patterns).encode())
    sys.stderr.flush()
    terminal = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump() -> None:
        with os.fdopen(read_end, "rb") as source, os.fdopen(terminal, "wb", buffering=0) as sink:
            for line in source:
                if not noise.search(line):
                    sink.write(line)

    thread = threading.Thread(target=pump, name="stderr-filter", daemon=True)
    thread.start()
    restore = os.dup(terminal)

    def drain() -> None:  # at exit: close the pipe's last writer, let the filter pass the rest
        sys.stderr.flush()
        os.dup2(restore, 2)
        thread.join(timeout=5)

    atexit.register(drain)
