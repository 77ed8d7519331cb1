"""`lenet` (also `python -m pipeline`): the project's command line.

    lenet <stage> --dataset NAME     what dvc.yaml runs (pipeline/stages/commands.py): download,
                                     validate, preprocess, train, evaluate, export, overview, and
                                     reference (validation's reference, rebuilt on purpose)
    lenet predict | demo | verify | report | apply | summary | exp | assets   tools
    lenet tune                       tune/dvc.yaml's search (a stage command)
    lenet server start|stop|status, lenet flow, lenet audit, lenet serve, lenet worker,
    lenet grid                       (Prefect: the server, flows, schedules, workers, grids)

`lenet <command> --help` gives each command's options. The tools' and Prefect's commands live
here and no stage imports this module: editing them reruns no stage (dvc.yaml runs
`python -m pipeline.stages`).

Imports: pipeline.core, pipeline.command and pipeline.stages.commands (the stage registry) at
load; every tool, the report and orchestration inside the command that runs it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from pipeline.command import Command, Context, option, registrar
from pipeline.command import main as run_main
from pipeline.command import parser as build_parser
from pipeline.core.errors import PipelineError
from pipeline.core.paths import DatasetPaths, ProjectPaths
from pipeline.stages.commands import REGISTRY as STAGE_COMMANDS

DESCRIPTION = ("LeNet-5 on MNIST and Fashion-MNIST: a DVC pipeline whose every reported accuracy "
               "reproduces from params.yaml. `lenet COMMAND --help` gives a command's options.")
log = logging.getLogger("pipeline")
REGISTRY: dict[str, Command] = dict(STAGE_COMMANDS)
command = registrar(REGISTRY)


# Tools around the pipeline.

@command("predict", "classify image files (PNG, JPEG, IDX, .npy) with an exported ONNX model, "
         "anywhere; no TensorFlow", "tool",
         option("files", nargs="+", type=Path, metavar="FILE"),
         option("--model", type=Path, help="an ONNX model exported by this pipeline: its metadata "
                "gives the classes and input; no params.yaml needed"),
         option("--dataset", help="inside the project: the model of this key of params.yaml's "
                "`datasets` (models/<dataset>/model.onnx), when --model is not given"),
         option("--top", type=int, default=3, help="how many classes to show per image"),
         option("--format", choices=["table", "json", "csv"], default="table", dest="form"),
         option("--invert", choices=["auto", "yes", "no"], default="auto",
                help="dark ink on light paper? auto: decided from each image's border"),
         option("--check-provenance", action="store_true",
                help="refuse a model without provenance; where a params.yaml is present, also one "
                     "trained on other data than it names"),
         reads_params=True)
def run_predict(ctx: Context) -> int:
    from pipeline.tools import predict

    args = ctx.options
    if args.model is None and args.dataset is None:
        raise PipelineError("say which model: --model FILE (anywhere), or --dataset NAME inside "
                            "the project (models/<dataset>/model.onnx)")
    if args.model is None:
        ctx.params.dataset(args.dataset)  # a dataset params.yaml defines, or the list of them
    model = args.model or DatasetPaths(args.dataset).onnx_model
    # params.yaml is read only to name the default model, or to compare the training data.
    params = ctx.params if args.check_provenance and ctx.params_file.exists() else None
    return predict.run(model, args.files, args.top, args.form, args.invert,
                       provenance=args.check_provenance, params=params, dataset=args.dataset)


@command("verify", "retrain the committed params.yaml in a scratch checkout; compare the bytes "
         "with dvc.lock and metrics/", "tool",
         option("--dataset", action="append", help="one dataset (repeatable); default: all"),
         option("--rev", default="HEAD", help="the commit to verify (default: HEAD)"))
def run_verify(ctx: Context) -> int:
    from pipeline.tools import verify

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
    base, change = (
        rerun.rerun_reduced(args.base, args.reduced) if args.reduced else (args.base, None)
    )
    verdicts = report.run(ctx.params, base, change, args.out, args.post_comment)
    print(f"{args.out / 'report.md'}: " + ", ".join(f"{k} {v}" for k, v in verdicts.items()))
    strict = args.fail_on_regression or ctx.params.report.fail_on_regression
    return 2 if strict and "regressed" in verdicts.values() else 0


@command("summary", "per dataset: test accuracy, errors, the change against the committed "
         "numbers, and where to look next (the end of `make repro`)", "tool", reads_params=True)
def run_summary(ctx: Context) -> None:
    from pipeline.tools import summary

    summary.run(ctx.params, ProjectPaths())


@command(
    "exp",
    "the experiments table: per experiment, the params that differ and each "
    "dataset's test accuracy and errors (dvc exp show's data, one line per experiment)",
    "tool",
    option(
        "dvc_args",
        nargs="*",
        metavar="DVC_EXP_SHOW_ARG",
        help="passed to `dvc exp show --json` after `--`, e.g. -- --all-commits",
    ),
    option(
        "--html",
        nargs="?",
        type=Path,
        const=Path("reports/experiments.html"),
        metavar="PATH",
        help="write the experiments page instead (offline HTML: per dataset, each seed's test "
        "accuracy as a point, grouped by the params that vary; default: reports/experiments.html)",
    ),
)
def run_exp(ctx: Context) -> None:
    if ctx.options.html is not None:
        from pipeline.tools import experiments_page

        experiments_page.run(ctx.options.html, ctx.options.dvc_args)
        return
    from pipeline.tools import experiments

    experiments.run(ctx.options.dvc_args)


@command("demo", "a page on 127.0.0.1 that classifies what you draw, with the exported models "
         "in the browser (ONNX Runtime Web, nothing fetched from the network)", "tool",
         option("--port", type=int, default=8000, help="default 8000; 0 picks a free one"),
         reads_params=True)
def run_demo(ctx: Context) -> None:
    from pipeline.tools import demo

    demo.serve(ctx.params, ProjectPaths(), ctx.options.port)


@command("apply", "write a YAML file of settings (a preset, tuned values) into params.yaml", "tool",
         option("overrides", type=Path, help="e.g. presets/classic.yaml"),
         option("--as-set-args", action="store_true",
                help="print `dvc exp run` -S arguments instead of editing params.yaml"),
         reads_params=True)
def run_apply(ctx: Context) -> None:
    import yaml

    from pipeline.tools.params_edit import apply_overrides, load_overrides, set_args

    overrides = load_overrides(ctx.options.overrides)
    if ctx.options.as_set_args:  # `datasets.*` keys: each dataset of params.yaml
        ctx.params  # noqa: B018  validated first
        print(" ".join(set_args(overrides, yaml.safe_load(ctx.params_file.read_text()))))
        return
    changed = apply_overrides(ctx.params_file, overrides)
    for key, (old, new) in changed.items():
        print(f"{ctx.params_file}: {key}: {old} -> {new}")
    if not changed:
        print(f"{ctx.params_file}: already matches {ctx.options.overrides}")


@command("dataset", "your own data as a dataset: add NAME --from SOURCE (IDX files, class "
         "folders of images, or a CSV; writes params.yaml, dvc.yaml's registry and the validation "
         "reference), list, remove NAME", "tool",
         option("action", choices=("add", "list", "remove")),
         option("name", nargs="?", help="the dataset's key in params.yaml's `datasets`"),
         option("--from", dest="source", metavar="SOURCE", help="add: a folder or URL holding the "
                "four IDX files; train/ and test/ (or one tree) of class folders of images; or "
                "a CSV of label,pixel0..pixel783 (train and test files, or one)"),
         option("--classes", help="add: the class names in label order, comma-separated "
                "(default: the folder names, or the labels)"),
         option("--test-fraction", type=float, default=0.2, help="add, one tree or one CSV: each "
                "class's share that goes to test (default 0.2)"),
         option("--seed", type=int, help="add: the seed of that split and of the order of the "
                "images (default: params.yaml's seed)"),
         option("--invert", choices=["auto", "yes", "no"], default="auto",
                help="add, images: dark ink on light paper? as `lenet predict --invert`"),
         option("--horizontal-flip", action="store_true",
                help="add: a mirrored image keeps its class (augmentation may flip it)"),
         reads_params=True)
def run_dataset(ctx: Context) -> None:
    from pipeline.tools import dataset

    args = ctx.options
    dataset.run(args.action, args.name, args.source, args.classes, args.test_fraction, args.seed,
                args.invert, args.horizontal_flip, ctx.params_file)


@command(
    "assets",
    "install the pinned offline copies of the pages' JavaScript and CSS and the "
    "drawing page's ONNX Runtime Web from npm, and DVC's plots template (`make install` runs it)",
    "tool",
)
def run_assets(ctx: Context) -> None:
    from pipeline.pages import assets
    from pipeline.tools import demo

    assets.install(ProjectPaths())
    demo.install_assets(ProjectPaths())


# Prefect: a local server, the pipeline as a flow, the scheduled audit, a GPU worker.

TRAIN_POOL = option("--train-pool", help="work pool for the train stages (default: train here)")
TIME_LIMIT = option("--time-limit", type=float, metavar="SECONDS",
                    help="wall-clock limit of each run on a worker, after which it is ended and "
                         "sent again (default: 4 hours)")
RETRIES = option("--retries", type=int, default=2,
                 help="times a crashed or timed-out run is sent again (default: 2)")


@command("server", "the project's Prefect server on 127.0.0.1 (SQLite in .prefect/, or "
         "PostgreSQL for many workers)", "prefect",
         option("action", choices=("start", "stop", "status")),
         option("--port", type=int, default=4200),
         option("--host", default="127.0.0.1", help="the address to listen on; anything but "
                "loopback needs PREFECT_SERVER_API_AUTH_STRING=user:password set"),
         option("--database", metavar="URL", help="postgresql+asyncpg://USER:PASSWORD@HOST:PORT/DB "
                "(PostgreSQL 14+ with pg_trgm); default: SQLite in .prefect/"),
         option("--lost-after", type=float, metavar="SECONDS", help="a flow run without a "
                "heartbeat this long is marked Crashed (default: 90; heartbeats every 30 s)"))
def run_server(ctx: Context) -> None:
    from pipeline.orchestration import server

    args = ctx.options
    if args.action == "start":
        url = server.start_server(args.port, host=args.host, database=args.database,
                                  lost_after=args.lost_after)
        print(f"Prefect server up: PREFECT_API_URL={url}\n"
              f"its UI: {server.ui_url(url)}")
    elif args.action == "stop":
        print("stopped" if server.stop_server() else "no server started by this project")
    else:
        url = server.server_url()
        print(f"{url}: {'healthy' if server.healthy(url) else 'not answering'}")


@command("flow", "run the whole pipeline once as a Prefect flow", "prefect", TRAIN_POOL,
         TIME_LIMIT, RETRIES)
def run_flow(ctx: Context) -> None:
    from pipeline.orchestration import server

    server.connect()
    from pipeline.orchestration.flows import lenet_pipeline

    run_here(lenet_pipeline, ctx.options)


@command("audit", "run the audit once: the pipeline as a flow, then verify every dataset",
         "prefect", TRAIN_POOL, TIME_LIMIT, RETRIES)
def run_audit(ctx: Context) -> None:
    from pipeline.orchestration import server

    server.connect()
    from pipeline.orchestration.flows import lenet_audit

    run_here(lenet_audit, ctx.options)


def run_here(flow, args) -> None:
    """Run `flow` in this process as a Prefect flow run, say where the UI shows it (whether it
    completed or not), then raise what it raised."""
    from pipeline.orchestration import server

    state = flow(train_pool=args.train_pool, time_limit=args.time_limit, retries=args.retries,
                 return_state=True)
    run = state.state_details.flow_run_id
    print(f"flow run {run} ({state.name}): "
          f"{server.ui_url(os.environ['PREFECT_API_URL'])}/runs/flow-run/{run}")
    state.result()


@command("serve", "serve the audit on a schedule (blocks; Ctrl-C stops serving)", "prefect",
         option("--cron", default="0 3 * * *", help="default: nightly at 03:00"),
         option("--interval", type=float, help="seconds between runs, instead of --cron"),
         option("--name", default="nightly", help="the deployment's name"),
         option("--notify", metavar="URL", help="webhook that gets every failed run (JSON)"),
         TRAIN_POOL)
def run_serve(ctx: Context) -> None:
    from pipeline.orchestration import server

    server.connect()
    from pipeline.orchestration import deploy

    args = ctx.options
    deploy.serve_audit(args.name, args.cron, args.interval, args.train_pool, args.notify)


@command("worker", "serve a work pool from this machine: each run (a grid's set, a train stage) "
         "in a fresh checkout of the commit it names (blocks)", "prefect",
         option("--pool", default="gpu", help="the work pool (default: gpu)"),
         option("--limit", type=int, help="runs at once on this machine (default: no limit)"),
         option("--name", help="this worker's name (default: host-PID)"))
def run_worker(ctx: Context) -> None:
    from pipeline.orchestration import server

    server.connect()
    from pipeline.orchestration import deploy

    deploy.work(ctx.options.pool, ctx.options.limit, ctx.options.name)


@command("grid", "parameter sets as DVC experiments: seeds and -S grids, on a pool's workers "
         "(--pool) or here one after another", "prefect",
         option("--seeds", type=int, metavar="N", help="params.yaml's seed, seed+1, ..., seed+N-1"),
         option("-S", "--set", action="append", default=[], dest="settings", metavar="KEY=A,B",
                help="a params.yaml key and its values (repeatable; the sets are the product)"),
         option("--pool", help="the work pool whose workers compute the sets (default: here)"),
         option("--name", help="the experiments' name prefix (default: grid-<id>)"),
         option("--git-remote", default="origin", help="the git remote workers clone from and "
                "push experiments to (default: origin)"),
         RETRIES, TIME_LIMIT)
def run_grid(ctx: Context) -> int:
    args = ctx.options
    if args.pool:
        from pipeline.orchestration import server

        server.connect()  # before Prefect is imported: it reads its settings once
    from pipeline.orchestration import grid

    return grid.run(args.seeds, args.settings, args.pool, args.name, args.git_remote,
                    args.retries, args.time_limit)


def parser():
    return build_parser(REGISTRY, "lenet", DESCRIPTION)


def main(argv: list[str] | None = None) -> int:
    return run_main(REGISTRY, "lenet", DESCRIPTION, argv)
