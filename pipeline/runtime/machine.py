"""The machine's facts, recorded beside (never inside) the metrics: CPU, device, threads,
library versions, and whether the machine honours the reproducibility profile."""

from __future__ import annotations

import json
import os
import platform
from importlib import metadata

from pipeline.core.config import Reproducibility
from pipeline.core.files import write_json, write_text
from pipeline.core.paths import DatasetPaths, ProjectPaths
from pipeline.runtime.profile import ISA_FLAGS, PINNED

LIBRARIES = ("tensorflow", "keras", "numpy", "onnx", "onnxruntime", "dvc", "great-expectations")


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
    wanted = sorted(
        {f for needed in ISA_FLAGS.values() for f in needed} | {"amx_tile", "avx512_bf16"}
    )
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
            return (
                False,
                f"this CPU lacks {', '.join(missing)}, needed for cpu_isa {profile.cpu_isa}",
            )
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
