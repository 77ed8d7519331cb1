"""`lenet` (also `python -m pipeline`): the command line, generated from pipeline/commands.py.

    lenet <stage> --dataset NAME     what dvc.yaml runs: download, validate, preprocess, train,
                                     evaluate, export (and profile, validation's reference)
    lenet tune | verify | report | apply ...
    lenet server start|stop|status, lenet flow, lenet audit, lenet serve, lenet worker   (Prefect)

`lenet <command> --help` gives each command's options.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from pipeline import runlock, runtime
from pipeline.commands import REGISTRY, Command, Context
from pipeline.config import PARAMS_FILE
from pipeline.errors import PipelineError
from pipeline.files import no_room
from pipeline.paths import ProjectPaths

GROUPS = {"stage": "pipeline stages (one dataset each)", "tool": "tools",
          "prefect": "Prefect orchestration"}
DESCRIPTION = ("LeNet-5 on MNIST and Fashion-MNIST: a DVC pipeline whose every reported accuracy "
               "reproduces from params.yaml. `lenet COMMAND --help` gives a command's options.")
log = logging.getLogger("pipeline")


def parser() -> argparse.ArgumentParser:
    listing = "\n".join(
        f"{title}:\n" + "\n".join(f"  {c.name:<11} {c.help}" for c in REGISTRY.values() if c.group == group)
        for group, title in GROUPS.items())
    root = argparse.ArgumentParser(prog="lenet", description=DESCRIPTION, epilog=listing, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for spec in REGISTRY.values():
        sub = commands.add_parser(spec.name, description=spec.help)
        if spec.per_dataset:
            sub.add_argument("--dataset", required=True, help="a key of params.yaml's `datasets`")
        if spec.reads_params:
            sub.add_argument("--params", type=Path, default=PARAMS_FILE)
        for flags, settings in spec.options:
            sub.add_argument(*flags, **settings)
    return root


def execute(spec: Command, ctx: Context) -> int:
    if spec.per_dataset:
        ctx.dataset  # noqa: B018  params.yaml and the dataset's name are validated before any work
    if spec.exclusive:
        runlock.claim(ProjectPaths().run_lock)
    if spec.under_profile:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # TensorFlow's C++ INFO lines
        runtime.drop_native_noise()
        runtime.apply_profile(ctx.params.reproducibility)
    runtime.skip_imports(spec.skips)
    started = time.perf_counter()
    code = spec.run(ctx) or 0
    if spec.group == "stage":
        where = f"{spec.name}@{ctx.name}" if spec.per_dataset else spec.name
        log.info("%s done in %.1fs", where, time.perf_counter() - started)
    return code


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)  # our progress; libraries stay at WARNING
    spec = REGISTRY[args.command]
    ctx = Context(args, getattr(args, "params", PARAMS_FILE))
    try:
        return execute(spec, ctx)
    except (PipelineError, OSError) as error:
        failure = error if isinstance(error, PipelineError) else no_room(error)
        if failure is None:  # an OSError with a traceback worth reading
            raise
        where = f"{spec.name}@{args.dataset}" if spec.per_dataset else spec.name
        print(f"error: {where}: {failure}", file=sys.stderr)
        return 1
