"""The stage commands: what dvc.yaml runs (`python -m pipeline.stages <stage> --dataset NAME`),
also reachable as `lenet <stage>`. Each imports its stage module inside the function, after
pipeline.command has applied the reproducibility profile."""

from __future__ import annotations

import logging

from pipeline.command import Command, Context, registrar
from pipeline.command import main as run_main
from pipeline.core.paths import ProjectPaths
from pipeline.stages.inputs import require_inputs

log = logging.getLogger("pipeline")
REGISTRY: dict[str, Command] = {}
_register = registrar(REGISTRY)


def stage(name: str, help: str, *options, **settings):
    """Register a stage command: it owns the workspace while it runs (exclusive), and refuses to
    start, naming the stage to run first, while an input dvc.yaml gives it is missing."""
    return _register(name, help, "stage", *options, exclusive=True,
                     precheck=require_inputs(name), **settings)


@stage("download", "fetch the dataset's IDX files from its mirrors", per_dataset=True,
       under_profile=True)
def run_download(ctx: Context) -> None:
    from pipeline.stages import download

    download.run(ctx.name, ctx.dataset, ctx.params.download, ctx.paths.raw)


@stage("validate", "check the raw files against Great Expectations suites",
       per_dataset=True, under_profile=True)
def run_validate(ctx: Context) -> None:
    from pipeline.stages import validate

    validate.run(ctx.name, ctx.dataset, ctx.params.validation, ctx.paths)


@stage("reference", "rebuild suites/<dataset>.reference.json, what validate compares the data "
       "with, from data/raw/<dataset> (trusted data only)", per_dataset=True,
       under_profile=True)
def run_reference(ctx: Context) -> None:
    from pipeline.stages import validate

    log.info("%s: validation reference written to %s", ctx.name,
             validate.build_reference(ctx.name, ctx.dataset, ctx.paths))


@stage("preprocess", "pad to 32x32, normalise, split off validation", per_dataset=True,
       under_profile=True)
def run_preprocess(ctx: Context) -> None:
    from pipeline.stages import preprocess

    preprocess.run(ctx.dataset, ctx.params.preprocess, ctx.params.seed, ctx.paths)


# What Keras, dvclive and tf2onnx import if they can, and train and export never use; evaluate
# draws its figures with matplotlib.
UNUSED_BY_TRAINING = ("sklearn", "matplotlib", "pandas")


@stage("train", "train LeNet-5", per_dataset=True, under_profile=True,
       skips=UNUSED_BY_TRAINING)
def run_train(ctx: Context) -> None:
    from pipeline.stages import train

    train.run(ctx.name, ctx.dataset, ctx.params, ctx.paths)


@stage("evaluate", "test metrics, confusion matrix, misclassified grid",
       per_dataset=True, under_profile=True, skips=("sklearn", "pandas"))
def run_evaluate(ctx: Context) -> None:
    from pipeline.stages import evaluate

    evaluate.run(ctx.name, ctx.dataset, ctx.params, ctx.paths)


@stage("export", "ONNX model (checked against Keras) and model card", per_dataset=True,
       under_profile=True, skips=UNUSED_BY_TRAINING)
def run_export(ctx: Context) -> None:
    from pipeline.stages import export

    export.run(ctx.name, ctx.dataset, ctx.params, ctx.paths)


@stage("overview", "reports/index.html: one page over the run's results, every dataset",
       reads_params=True)
def run_overview(ctx: Context) -> None:
    from pipeline.stages import overview

    overview.run(ctx.params, ProjectPaths())


# The search of tune/dvc.yaml: run on purpose (`dvc repro tune/dvc.yaml`), never by `dvc repro`.

@stage("tune", "keras-tuner search as set in params.yaml's `tune` (what tune/dvc.yaml runs)",
       reads_params=True, under_profile=True)
def run_tune(ctx: Context) -> None:
    from pipeline.stages import tune

    log.info("tune: %s (details in %s)", tune.run(ctx.params), tune.OUT_DIR)


DESCRIPTION = ("The stages of dvc.yaml, one dataset each: what `dvc repro` runs. "
               "`lenet` has the same commands and the tools.")


def main(argv: list[str] | None = None) -> int:
    return run_main(REGISTRY, "python -m pipeline.stages", DESCRIPTION, argv)
