"""The stages of dvc.yaml, one module each, and their entry point `python -m pipeline.stages`.

    download -> validate -> preprocess -> train -> evaluate -> export, per dataset; then overview
    tune: tune/dvc.yaml's keras-tuner search, run on purpose

Rules (tests/test_layout.py enforces them; tests/test_dvc_deps.py pins each stage's import
closure as its dvc.yaml deps, so editing code that a stage does not run reruns nothing):
- A stage imports only pipeline.core, pipeline.runtime, pipeline.model, pipeline.pages,
  pipeline.command and other stage modules; never pipeline.cli, pipeline.tools, pipeline.report
  or pipeline.orchestration.
- Stages that compute a number run under the reproducibility profile, which pipeline.command applies
  before TensorFlow is imported: import TensorFlow and Keras inside modules, never here.

Imported by pipeline.cli (`lenet <stage>`) only; orchestration and tools run stages through DVC.
"""
