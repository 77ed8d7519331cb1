"""Every command of `lenet` (also `python -m pipeline`): one function `(Context) -> exit code`.

The command line is generated from REGISTRY (pipeline/cli.py). Each command imports what it
runs inside its function: the stages must apply the reproducibility profile before TensorFlow is
imported, and `lenet server stop` should not pay for TensorFlow at all.
"""

from __future__ import annotations

import argparse
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import PARAMS_FILE, Dataset, Params, load_params
from pipeline.paths import DatasetPaths, ProjectPaths

log = logging.getLogger("pipeline")


@dataclass
class Context:
    """What a command gets: its command-line options, and params.yaml (validated on first use)."""

    options: argparse.Namespace
    params_file: Path = PARAMS_FILE

    @functools.cached_property
    def params(self) -> Params:
        return load_params(self.params_file)

    @property
    def name(self) -> str:
        """The dataset a per-dataset command works on (a key of params.yaml's `datasets`)."""
        return self.options.dataset

    @functools.cached_property
    def dataset(self) -> Dataset:
        return self.params.dataset(self.name)

    @property
    def paths(self) -> DatasetPaths:
        return DatasetPaths(self.name)


def option(*flags: str, **settings) -> tuple[tuple[str, ...], dict]:
    """One argparse argument of a command: option("--base", required=True, help=...)."""
    return flags, settings


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    run: Callable[[Context], int | None]
    group: str  # "stage", "tool" or "prefect": how `lenet --help` lists it
    options: tuple = ()
    per_dataset: bool = False  # takes --dataset
    reads_params: bool = False  # takes --params
    # Runs under params.yaml's reproducibility profile, applied before TensorFlow is imported.
    under_profile: bool = False
    # Writes the workspace's results: refused while another run owns it (pipeline/runlock.py).
    exclusive: bool = False
    # Optional packages its libraries would import and it never uses (runtime.skip_imports).
    skips: tuple[str, ...] = ()


REGISTRY: dict[str, Command] = {}


def command(name: str, help: str, group: str, *options, per_dataset: bool = False,
            reads_params: bool = False, under_profile: bool = False, exclusive: bool = False,
            skips: tuple[str, ...] = ()):
    def register(run: Callable[[Context], int | None]):
        REGISTRY[name] = Command(name, help, run, group, options, per_dataset,
                                 reads_params or per_dataset, under_profile, exclusive, skips)
        return run
    return register


# The stages: what dvc.yaml runs, one dataset at a time.

@command("download", "fetch the dataset's IDX files from its mirrors", "stage", per_dataset=True,
         under_profile=True, exclusive=True)
def run_download(ctx: Context) -> None:
    from pipeline import download

    download.run(ctx.name, ctx.dataset, ctx.params.download, ctx.paths.raw)


@command("validate", "check the raw files against Great Expectations suites", "stage",
         per_dataset=True, under_profile=True, exclusive=True)
def run_validate(ctx: Context) -> None:
    from pipeline import validate

    validate.run(ctx.name, ctx.dataset, ctx.params.validation, ctx.paths)


@command("profile", "rebuild suites/<dataset>.profile.json, validation's reference, from "
         "data/raw/<dataset>", "stage", per_dataset=True, under_profile=True, exclusive=True)
def run_profile(ctx: Context) -> None:
    from pipeline import validate

    log.info("%s: reference profile written to %s", ctx.name,
             validate.build_profile(ctx.name, ctx.dataset, ctx.paths))


@command("preprocess", "pad to 32x32, normalise, split off validation", "stage", per_dataset=True,
         under_profile=True, exclusive=True)
def run_preprocess(ctx: Context) -> None:
    from pipeline import preprocess

    preprocess.run(ctx.dataset, ctx.params.preprocess, ctx.params.seed, ctx.paths)


# What Keras, dvclive and tf2onnx import if they can, and train and export never use; evaluate
# draws its figures with matplotlib.
UNUSED_BY_TRAINING = ("sklearn", "matplotlib", "pandas")


@command("train", "train LeNet-5", "stage", per_dataset=True, under_profile=True, exclusive=True,
         skips=UNUSED_BY_TRAINING)
def run_train(ctx: Context) -> None:
    from pipeline import train

    train.run(ctx.name, ctx.dataset, ctx.params, ctx.paths)


@command("evaluate", "test metrics, confusion matrix, misclassified grid", "stage",
         per_dataset=True, under_profile=True, exclusive=True, skips=("sklearn", "pandas"))
def run_evaluate(ctx: Context) -> None:
    from pipeline import evaluate

    evaluate.run(ctx.name, ctx.dataset, ctx.params, ctx.paths)


@command("export", "ONNX model (checked against Keras) and model card", "stage", per_dataset=True,
         under_profile=True, exclusive=True, skips=UNUSED_BY_TRAINING)
def run_export(ctx: Context) -> None:
    from pipeline import export

    export.run(ctx.name, ctx.dataset, ctx.params, ctx.paths)


@command("overview", "reports/index.html: one page over the run's results, every dataset", "stage",
         reads_params=True, exclusive=True)
def run_overview(ctx: Context) -> None:
    from pipeline import overview

    overview.run(ctx.params, ProjectPaths())


STAGES = ("download", "validate", "preprocess", "train", "evaluate", "export", "overview")


# Tools around the pipeline.

@command("tune", "keras-tuner search as set in params.yaml's `tune` (what tune/dvc.yaml runs)",
         "tool", reads_params=True, under_profile=True, exclusive=True)
def run_tune(ctx: Context) -> None:
    from pipeline import tune

    log.info("tune: %s (details in %s)", tune.run(ctx.params), tune.OUT_DIR)


@command("predict", "classify image files (PNG, JPEG, IDX, .npy) with the exported ONNX model; "
         "no TensorFlow", "tool",
         option("files", nargs="+", type=Path, metavar="FILE"),
         option("--model", type=Path, help="an ONNX model (default: models/<dataset>/model.onnx)"),
         option("--top", type=int, default=3, help="how many classes to show per image"),
         option("--format", choices=["table", "json", "csv"], default="table", dest="form"),
         option("--invert", choices=["auto", "yes", "no"], default="auto",
                help="dark ink on light paper? auto: decided from each image's border"),
         option("--verify", action="store_true",
                help="refuse a model without provenance, or trained on other data than "
                     "params.yaml's"),
         per_dataset=True)
def run_predict(ctx: Context) -> int:
    from pipeline import predict

    expected = {f.name: f.md5 for f in ctx.dataset.data_files()} if ctx.options.verify else None
    return predict.run(ctx.options.model or ctx.paths.onnx_model, ctx.options.files, expected,
                       ctx.options.top, ctx.options.form, ctx.options.invert)


@command("verify", "retrain the committed params.yaml in a scratch checkout; compare the bytes "
         "with dvc.lock and metrics/", "tool",
         option("--dataset", action="append", help="one dataset (repeatable); default: all"),
         option("--rev", default="HEAD", help="the commit to verify (default: HEAD)"))
def run_verify(ctx: Context) -> int:
    from pipeline import verify

    verdicts = verify.run(ctx.options.dataset, ctx.options.rev)
    for verdict in verdicts:
        print(verdict.line())
    return 0 if all(v.passed for v in verdicts) else 1


@command("report", "params and metrics compared with a base revision (the pull-request comment)",
         "tool",
         option("--base", required=True, help="git revision to compare with, e.g. origin/main"),
         option("--out", type=Path, default=Path("reports/pr")),
         option("--post-comment", action="store_true",
                help="create or update the pull request's report comment (GitHub Actions)"),
         option("--pull", action="store_true",
                help="first `dvc pull` the workspace's outputs from the DVC remote"),
         option("--reduced", type=Path, metavar="PRESET",
                help="first rerun base and workspace with these settings (CI without a remote)"),
         option("--fail-on-regression", action="store_true",
                help="exit 2 when a dataset regressed (also: report.fail_on_regression)"),
         reads_params=True)
def run_report(ctx: Context) -> int:
    from pipeline import report
    from pipeline.report import rerun

    args = ctx.options
    if args.pull:
        rerun.pull()
    report.refuse_stale(args.base, args.out, args.post_comment)
    base, change = rerun.rerun_reduced(args.base, args.reduced) if args.reduced else (args.base, None)
    verdicts = report.run(ctx.params, base, change, args.out, args.post_comment)
    print(f"{args.out / 'report.md'}: " + ", ".join(f"{k} {v}" for k, v in verdicts.items()))
    strict = args.fail_on_regression or ctx.params.report.fail_on_regression
    return 2 if strict and "regressed" in verdicts.values() else 0


@command("apply", "write a YAML file of settings (a preset, tuned values) into params.yaml", "tool",
         option("overrides", type=Path, help="e.g. presets/classic.yaml"),
         option("--as-set-args", action="store_true",
                help="print `dvc exp run` -S arguments instead of editing params.yaml"),
         reads_params=True)
def run_apply(ctx: Context) -> None:
    from pipeline.params_edit import apply_overrides, load_overrides, set_args

    overrides = load_overrides(ctx.options.overrides)
    if ctx.options.as_set_args:
        print(" ".join(set_args(overrides)))
        return
    changed = apply_overrides(ctx.params_file, overrides)
    for key, (old, new) in changed.items():
        print(f"{ctx.params_file}: {key}: {old} -> {new}")
    if not changed:
        print(f"{ctx.params_file}: already matches {ctx.options.overrides}")


@command("assets", "install the pinned offline copies of the pages' JavaScript and CSS from npm, "
         "and DVC's plots template (`make install` runs it)", "tool")
def run_assets(ctx: Context) -> None:
    from pipeline import web_assets

    web_assets.install(ProjectPaths())


# Prefect: a local server, the pipeline as a flow, the scheduled audit, a GPU worker.

TRAIN_POOL = option("--train-pool", help="work pool for the train stages (default: train here)")


@command("server", "the project's Prefect server on 127.0.0.1 (SQLite in .prefect/)", "prefect",
         option("action", choices=("start", "stop", "status")),
         option("--port", type=int, default=4200))
def run_server(ctx: Context) -> None:
    from pipeline import orchestrate

    action = ctx.options.action
    if action == "start":
        print(f"Prefect server up: PREFECT_API_URL={orchestrate.start_server(ctx.options.port)}")
    elif action == "stop":
        print("stopped" if orchestrate.stop_server() else "no server started by this project")
    else:
        url = orchestrate.server_url()
        print(f"{url}: {'healthy' if orchestrate.healthy(url) else 'not answering'}")


@command("flow", "run the whole pipeline once as a Prefect flow", "prefect", TRAIN_POOL)
def run_flow(ctx: Context) -> None:
    from pipeline import orchestrate

    orchestrate.connect()
    from pipeline.flow import lenet_pipeline

    lenet_pipeline(train_pool=ctx.options.train_pool)


@command("audit", "run the audit once: the pipeline as a flow, then verify every dataset",
         "prefect", TRAIN_POOL)
def run_audit(ctx: Context) -> None:
    from pipeline import orchestrate

    orchestrate.connect()
    from pipeline.flow import lenet_audit

    lenet_audit(train_pool=ctx.options.train_pool)


@command("serve", "serve the audit on a schedule (blocks; Ctrl-C stops serving)", "prefect",
         option("--cron", default="0 3 * * *", help="default: nightly at 03:00"),
         option("--interval", type=float, help="seconds between runs, instead of --cron"),
         option("--name", default="nightly", help="the deployment's name"),
         option("--notify", metavar="URL", help="webhook that gets every failed run (JSON)"),
         TRAIN_POOL)
def run_serve(ctx: Context) -> None:
    from pipeline import orchestrate

    orchestrate.connect()
    args = ctx.options
    orchestrate.serve_audit(args.name, args.cron, args.interval, args.train_pool, args.notify)


@command("worker", "on the GPU machine: deploy the train flow from this checkout and run a "
         "process worker on the pool (blocks)", "prefect",
         option("--pool", default="gpu"))
def run_worker(ctx: Context) -> None:
    from pipeline import orchestrate

    orchestrate.connect()
    orchestrate.work(ctx.options.pool)
