"""Tools around the pipeline, run by `lenet` (pipeline/cli.py), never by a stage:

    predict      classify images with an exported ONNX model (never imports TensorFlow)
    verify       retrain the committed params.yaml in a scratch checkout, compare the bytes
    params_edit  write presets or tuned values into params.yaml, or as `dvc exp run -S` arguments
    summary      the end of `make repro`: test accuracy per dataset against the committed numbers
    experiments  `lenet exp`: the experiments table at a terminal's width
    demo         `lenet demo`: the drawing page, the models running in the browser

May import pipeline.core, pipeline.runtime and pipeline.pages (never pipeline.model: no
TensorFlow). Imported by pipeline.cli and pipeline.orchestration (verify).
"""
