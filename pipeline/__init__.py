"""LeNet-5 on MNIST and Fashion-MNIST: the stages of dvc.yaml and the `lenet` command line."""

import os

# ONNX Runtime (1.29 and later) uploads usage telemetry on Linux too, from any process that opens
# a session and lives a few seconds. The project works offline and keeps every library's telemetry
# off in its own config (DVC's in .dvc/config, Prefect's in prefect.toml), this one here.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
