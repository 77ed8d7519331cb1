"""The reproducibility profile, and the environment facts recorded beside (not inside) the metrics.

Same params.yaml gives the same bytes only if the arithmetic is the same: which instruction set
oneDNN dispatches to and how many threads split a reduction both change the rounding (measured:
ONEDNN_MAX_CPU_ISA, TF_NUM_INTRAOP_THREADS and TF_ENABLE_ONEDNN_OPTS each change the trained
weights). `apply_profile` pins them from params.yaml's `reproducibility` section before TensorFlow
is imported; an environment variable that says otherwise is overridden, with a warning, so it can
never change a number silently.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import platform
import re
import sys
import threading
from importlib import metadata

from pipeline.config import Reproducibility
from pipeline.errors import PipelineError
from pipeline.files import write_json, write_text
from pipeline.paths import DatasetPaths, ProjectPaths

LIBRARIES = ("tensorflow", "keras", "numpy", "onnx", "onnxruntime", "dvc", "great-expectations")
# The CPU flags a profile's ISA ceiling needs (oneDNN's names -> /proc/cpuinfo flags).
ISA_FLAGS = {
    "SSE41": ("sse4_1",),
    "AVX": ("avx",),
    "AVX2": ("avx2", "fma"),
    "AVX512_CORE": ("avx512f", "avx512bw", "avx512vl", "avx512dq"),
}
log = logging.getLogger(__name__)


class ProfileError(PipelineError):
    """The reproducibility profile cannot be applied in this process."""


def profile_environment(profile: Reproducibility) -> dict[str, str]:
    """The environment variables that pin the profile in TensorFlow and oneDNN."""
    env = {"TF_ENABLE_ONEDNN_OPTS": "1" if profile.onednn else "0"}
    if profile.cpu_isa != "native":
        env["ONEDNN_MAX_CPU_ISA"] = profile.cpu_isa
    if profile.intra_op_threads:
        env["TF_NUM_INTRAOP_THREADS"] = str(profile.intra_op_threads)
    if profile.inter_op_threads:
        env["TF_NUM_INTEROP_THREADS"] = str(profile.inter_op_threads)
    return env


# Variables that would change the numbers if the profile left them to the environment.
PINNED = ("TF_ENABLE_ONEDNN_OPTS", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA",
          "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def apply_profile(profile: Reproducibility) -> None:
    """Set the profile's variables (and clear the ones it leaves free) before TensorFlow loads."""
    if "tensorflow" in sys.modules:
        raise ProfileError("the reproducibility profile must be applied before TensorFlow is "
                           "imported (TensorFlow reads its threading and oneDNN settings once)")
    wanted = profile_environment(profile)
    for name in PINNED:
        current = os.environ.get(name)
        if current is not None and current != wanted.get(name):
            log.warning("%s=%s in the environment ignored: params.yaml's reproducibility profile "
                        "sets %s", name, current, wanted.get(name, "TensorFlow's default"))
        os.environ.pop(name, None)
    os.environ.update(wanted)


def skip_imports(modules: tuple[str, ...]) -> None:
    """Make `modules` unimportable in this process: `import` raises ImportError, which Keras,
    dvclive and tf2onnx catch for their optional extras. A stage that never uses scikit-learn
    (Keras's `keras.wrappers`), matplotlib (`keras.visualization`) or pandas (DataFrame inputs)
    saves what importing them costs: 1.6 CPU-s of 7.0 for train's and export's libraries
    (measured, 5 interleaved runs each)."""
    for name in modules:
        sys.modules.setdefault(name, None)


def seed_everything(seed: int, profile: Reproducibility) -> None:
    """One seed for weights, shuffling and augmentation; deterministic kernels; profile threads."""
    import keras
    import tensorflow as tf

    if profile.intra_op_threads:
        tf.config.threading.set_intra_op_parallelism_threads(profile.intra_op_threads)
    if profile.inter_op_threads:
        tf.config.threading.set_inter_op_parallelism_threads(profile.inter_op_threads)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def cpu() -> dict:
    """The CPU's vendor and model and the instruction-set flags that oneDNN can dispatch on."""
    vendor, model, flags = "unknown", platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                key, _, value = line.partition(":")
                if key.strip() == "vendor_id":
                    vendor = value.strip()
                elif key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    wanted = sorted({f for needed in ISA_FLAGS.values() for f in needed} | {"amx_tile", "avx512_bf16"})
    return {"vendor": vendor, "model": model, "flags": [f for f in wanted if f in flags],
            "cores": len(os.sched_getaffinity(0))}


def gpus() -> list[str]:
    import tensorflow as tf

    return [g.name for g in tf.config.list_physical_devices("GPU")]


def device(found_gpus: list[str] | None = None) -> str:
    found = gpus() if found_gpus is None else found_gpus
    return f"GPU ({', '.join(found)})" if found else f"CPU ({os.cpu_count()} cores)"


def honoured(profile: Reproducibility, found_gpus: list[str] | None = None) -> tuple[bool, str]:
    """Whether this machine computes what the profile describes, and if not, why not.

    A GPU runs other kernels, and a CPU without the profile's instruction set makes oneDNN fall
    back to a lower one: the numbers then differ from the committed ones (within the band).
    """
    if gpus() if found_gpus is None else found_gpus:
        return False, "a GPU trains here; the profile pins CPU arithmetic"
    if profile.cpu_isa != "native":
        have = set(cpu()["flags"])
        missing = [f for f in ISA_FLAGS[profile.cpu_isa] if f not in have]
        if missing:
            return False, f"this CPU lacks {', '.join(missing)}, needed for cpu_isa {profile.cpu_isa}"
    return True, "CPU with the profile's instruction set"


def facts(profile: Reproducibility) -> dict:
    """What was in force: recorded in reports/runtime/<dataset>/ beside every stage's output."""
    import tensorflow as tf

    found_gpus = gpus()
    ok, why = honoured(profile, found_gpus)
    return {
        "profile": profile.model_dump(),
        "profile_honoured": ok,
        "profile_note": why,
        "environment": {name: os.environ.get(name) for name in PINNED},
        "threads": {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                    "inter_op": tf.config.threading.get_inter_op_parallelism_threads()},
        "cpu": cpu(),
        "device": device(found_gpus),
        "versions": versions(),
    }


def record(paths: DatasetPaths, stage: str, stage_facts: dict) -> None:
    """Write reports/runtime/<dataset>/<stage>.json, then every such file as the one script the
    overview page loads (a page opened from disk may load scripts, not read JSON)."""
    write_json(paths.runtime / f"{stage}.json", stage_facts)
    everything: dict[str, dict] = {}
    for path in sorted(paths.runtime.parent.glob("*/*.json")):
        everything.setdefault(path.parent.name, {})[path.stem] = json.loads(path.read_text())
    script = ProjectPaths(paths.root).runtime_facts_script
    write_text(script, f"window.LENET_RUNTIME = {json.dumps(everything, indent=1)};\n")


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


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
