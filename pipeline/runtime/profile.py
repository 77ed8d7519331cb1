"""The reproducibility profile: the settings that change the arithmetic, pinned before TensorFlow
loads.

Same params.yaml gives the same bytes only if the arithmetic is the same: which instruction set
oneDNN dispatches to and how many threads split a reduction both change the rounding (measured:
ONEDNN_MAX_CPU_ISA, TF_NUM_INTRAOP_THREADS and TF_ENABLE_ONEDNN_OPTS each change the trained
weights). `apply_profile` pins them from params.yaml's `reproducibility` section before TensorFlow
is imported; an environment variable that says otherwise is overridden, with a warning, so it can
never change a number silently.
"""

from __future__ import annotations

import logging
import os
import sys

from pipeline.core.config import Reproducibility
from pipeline.core.errors import PipelineError

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
