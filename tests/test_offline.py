"""Nothing the project runs reaches the internet on its own: no library's telemetry."""

import os
import sys

import pytest

from harness.helpers import Sentinel
from harness.synthetic import ROOT
from pipeline.core import workspace

# A process that imports the project, opens an ONNX Runtime session like the export stage, and
# lives long enough for ONNX Runtime's uploader (measured: its first request within 12 s).
ONNX_SESSION = (
    "import pipeline, time, numpy as np, onnxruntime as ort; "
    "s = ort.InferenceSession('{model}', providers=['CPUExecutionProvider']); "
    "s.run(None, {{s.get_inputs()[0].name: np.zeros((1, 28, 28), np.float32)}}); time.sleep(15)"
)

# ONNX Runtime 1.31 sends nothing where one of these is set (the names in libonnxruntime.so beside
# its telemetry code; `CI` as well, which many runners set): on a CI runner the test would pass
# with the project's own switch removed. The child process sees none of them.
CI_VARIABLES = (
    "CI", "TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI", "CIRCLECI", "TRAVIS", "JENKINS_URL",
    "CODEBUILD_BUILD_ID", "BUILDKITE", "TEAMCITY_VERSION", "APPVEYOR", "BITBUCKET_BUILD_NUMBER",
    "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI",
)


@pytest.mark.integration
def test_onnx_runtime_sends_no_telemetry_from_a_project_process(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 28, 28])
    same = helper.make_tensor_value_info("same", TensorProto.FLOAT, [1, 28, 28])
    identity = helper.make_node("Identity", ["image"], ["same"])
    graph = helper.make_graph([identity], "g", [image], [same])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.save(model, tmp_path / "model.onnx")
    sentinel = Sentinel()
    try:
        env = {**os.environ, "HTTP_PROXY": sentinel.url, "HTTPS_PROXY": sentinel.url,
               "NO_PROXY": "127.0.0.1,localhost"}
        for name in ("ORT_DISABLE_TELEMETRY", *CI_VARIABLES):  # the environment says nothing
            env.pop(name, None)
        workspace.run(sys.executable, "-c", ONNX_SESSION.format(model=tmp_path / "model.onnx"),
                      cwd=ROOT, env=env)
    finally:
        sentinel.close()
    assert sentinel.requests == []
