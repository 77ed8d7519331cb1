"""LeNet-5 on MNIST and Fashion-MNIST: a DVC pipeline whose every reported accuracy reproduces
from params.yaml. The packages, lowest first; each imports only packages above it in this list
(which ones exactly: tests/test_layout.py's ALLOWED):

    core/           typed params, paths, errors, atomic files, IDX and arrays, metrics, subprocesses
    runtime/        the reproducibility profile (applied before TensorFlow loads), machine facts
    model/          LeNet-5 and its layers, resume state (imports Keras: after the profile)
    pages/          figures, markdown to HTML, pinned offline web assets
    command.py      the command framework: parser, profile, one-line errors
    stages/         one module per DVC stage (tune too); entry point `python -m pipeline.stages`
    tools/          predict (never TensorFlow), verify, params editing, summary, experiments table
    report/         the pull-request report
    orchestration/  Prefect: server, flows built from dvc.yaml, deployments and workers
    cli.py          `lenet`: the stages' commands plus the tools' and Prefect's

A stage's dvc.yaml deps are its import closure (tests/test_dvc_deps.py), so stages never import
tools, report, orchestration or cli: editing those reruns no stage. tests/test_layout.py enforces
the order above and that no import cycle exists, imports inside functions included.
"""

import os

# ONNX Runtime (1.29 and later) uploads usage telemetry on Linux too, from any process that opens
# a session and lives a few seconds. The project works offline and keeps every library's telemetry
# off in its own config (DVC's in .dvc/config, Prefect's in prefect.toml), this one here.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
