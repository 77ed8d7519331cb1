"""Tools around the pipeline, run by `lenet` (pipeline/cli.py), never by a stage:

    predict      classify images with an exported ONNX model (never imports TensorFlow)
    verify       retrain the committed params.yaml in a scratch checkout, compare the bytes
    params_edit  write presets or tuned values into params.yaml, or as `dvc exp run -S` arguments

May import pipeline.core and pipeline.runtime (never pipeline.model: no TensorFlow). Imported by pipeline.cli and pipeline.orchestration (verify).
"""
