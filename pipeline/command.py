"""The command framework shared by the stage entry point (`python -m pipeline.stages`) and the
`lenet` program: a Command is one function `(Context) -> exit code` with its options; `main`
builds the argparse parser from a registry, validates params.yaml, applies the reproducibility
profile where asked, and turns an expected failure into one `error:` line (no traceback).

Each command imports what it runs inside its function: the stages must apply the profile before
TensorFlow is imported, and `lenet server stop` should not pay for TensorFlow at all.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.core import runlock
from pipeline.core.config import PARAMS_FILE, Dataset, Params, load_params
from pipeline.core.errors import PipelineError
from pipeline.core.files import no_room
from pipeline.core.paths import DatasetPaths, ProjectPaths
from pipeline.runtime import noise, profile

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
    # Writes the workspace's results: refused while another run owns it (core/runlock.py).
    exclusive: bool = False
    # Optional packages its libraries would import and it never uses (runtime.profile.skip_imports).
    skips: tuple[str, ...] = ()
    # Before running: a check of the inputs that names what to run first (stages: their
    # dvc.yaml deps).
    precheck: Callable[[Context], None] | None = None


def registrar(registry: dict[str, Command]):
    """A decorator factory that adds commands to `registry`."""
    def command(name: str, help: str, group: str, *options, per_dataset: bool = False,
                reads_params: bool = False, under_profile: bool = False, exclusive: bool = False,
                skips: tuple[str, ...] = (), precheck: Callable[[Context], None] | None = None):
        def register(run: Callable[[Context], int | None]):
            registry[name] = Command(name, help, run, group, options, per_dataset,
                                     reads_params or per_dataset, under_profile, exclusive, skips,
                                     precheck)
            return run
        return register
    return command


GROUPS = {"stage": "pipeline stages (one dataset each)", "tool": "tools",
          "prefect": "Prefect orchestration"}


def parser(registry: dict[str, Command], prog: str, description: str) -> argparse.ArgumentParser:
    listing = "\n".join(
        f"{title}:\n" + "\n".join(f"  {c.name:<11} {c.help}" for c in registry.values()
                                  if c.group == group)
        for group, title in GROUPS.items() if any(c.group == group for c in registry.values()))
    root = argparse.ArgumentParser(prog=prog, description=description, epilog=listing,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for spec in registry.values():
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
    if spec.precheck:
        spec.precheck(ctx)
    if spec.exclusive:
        runlock.claim(ProjectPaths().run_lock)
    if spec.under_profile:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # TensorFlow's C++ INFO lines
        noise.drop_native_noise()
        profile.apply_profile(ctx.params.reproducibility)
    profile.skip_imports(spec.skips)
    started = time.perf_counter()
    code = spec.run(ctx) or 0
    if spec.group == "stage":
        where = f"{spec.name}@{ctx.name}" if spec.per_dataset else spec.name
        log.info("%s done in %.1fs", where, time.perf_counter() - started)
    return code


def main(registry: dict[str, Command], prog: str, description: str,
         argv: list[str] | None = None) -> int:
    args = parser(registry, prog, description).parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)  # our progress; libraries stay at WARNING
    spec = registry[args.command]
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
