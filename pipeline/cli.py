"""One way in: `python -m pipeline <stage> --dataset <name>` runs a stage (what dvc.yaml calls);
`python -m pipeline tune` runs the hyperparameter search (what tune/dvc.yaml calls);
`python -m pipeline apply FILE` writes a preset or tuned settings into params.yaml;
`python -m pipeline report --base REV` compares params and metrics with REV (the PR comment);
`python -m pipeline verify` retrains the committed params.yaml and compares the bytes."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import time
from pathlib import Path

from pipeline import runtime
from pipeline.config import PARAMS_FILE, load_params
from pipeline.errors import PipelineError
from pipeline.paths import DatasetPaths

STAGES = ("download", "validate", "preprocess", "train", "evaluate", "export")
log = logging.getLogger("pipeline")


def run_stage(stage: str, name: str, params_file: Path) -> None:
    params = load_params(params_file)  # validated before any work, whatever the stage
    dataset = params.dataset(name)
    paths = DatasetPaths(name)
    runtime.apply_profile(params.reproducibility)  # before any stage module imports TensorFlow
    module = importlib.import_module(f"pipeline.{'validate' if stage == 'profile' else stage}")
    started = time.perf_counter()
    if stage == "download":
        module.run(name, dataset, params.download, paths.raw)
    elif stage == "validate":
        module.run(name, dataset, params.validation, paths)
    elif stage == "profile":
        log.info("%s: reference profile written to %s", name, module.build_profile(name, dataset, paths))
    elif stage == "preprocess":
        module.run(dataset, params.preprocess, params.seed, paths)
    else:
        module.run(name, dataset, params, paths)
    log.info("%s@%s done in %.1fs", stage, name, time.perf_counter() - started)


def apply(overrides_file: Path, params_file: Path, as_set_args: bool) -> None:
    from pipeline.params_edit import apply_overrides, load_overrides, set_args

    overrides = load_overrides(overrides_file)
    if as_set_args:
        print(" ".join(set_args(overrides)))
        return
    changed = apply_overrides(params_file, overrides)
    for key, (old, new) in changed.items():
        print(f"{params_file}: {key}: {old} -> {new}")
    if not changed:
        print(f"{params_file}: already matches {overrides_file}")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="lenet", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    for stage in STAGES:
        sub = commands.add_parser(stage, help=f"run the {stage} stage for one dataset")
        sub.add_argument("--dataset", required=True, help="a key of params.yaml's `datasets`")
        sub.add_argument("--params", type=Path, default=PARAMS_FILE)
    sub = commands.add_parser("profile", help="rebuild suites/<dataset>.profile.json, the "
                                             "validation reference, from data/raw/<dataset>")
    sub.add_argument("--dataset", required=True)
    sub.add_argument("--params", type=Path, default=PARAMS_FILE)
    sub = commands.add_parser("tune", help="keras-tuner search as set in params.yaml's `tune`")
    sub.add_argument("--params", type=Path, default=PARAMS_FILE)
    sub = commands.add_parser("report", help="params/metrics diff against a base revision")
    sub.add_argument("--base", required=True, help="git revision to compare with, e.g. origin/main")
    sub.add_argument("--out", type=Path, default=Path("reports/pr"))
    sub.add_argument("--params", type=Path, default=PARAMS_FILE)
    sub.add_argument("--post-comment", action="store_true",
                     help="create or update the pull request's report comment (GitHub Actions)")
    sub.add_argument("--pull", action="store_true",
                     help="first `dvc pull` the workspace's outputs from the DVC remote")
    sub.add_argument("--reduced", type=Path, metavar="PRESET",
                     help="first rerun base and workspace with these settings (CI without a remote)")
    sub.add_argument("--fail-on-regression", action="store_true",
                     help="exit 2 when a dataset regressed (also: report.fail_on_regression)")
    sub = commands.add_parser("verify", help="retrain and re-evaluate the committed params.yaml in "
                                             "a scratch checkout; compare with dvc.lock and metrics/")
    sub.add_argument("--dataset", action="append", help="one dataset (repeatable); default: all")
    sub.add_argument("--rev", default="HEAD", help="the commit to verify (default: HEAD)")
    sub = commands.add_parser("apply", help="write a YAML file of settings into params.yaml")
    sub.add_argument("overrides", type=Path, help="e.g. presets/classic.yaml")
    sub.add_argument("--params", type=Path, default=PARAMS_FILE)
    sub.add_argument(
        "--as-set-args", action="store_true",
        help="print `dvc exp run` -S arguments instead of editing params.yaml",
    )
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF's C++ start-up chatter hides our logs
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)  # our progress; libraries stay at WARNING
    try:
        if args.command == "apply":
            apply(args.overrides, args.params, args.as_set_args)
        elif args.command == "report":
            from pipeline import report

            base = report.rerun_reduced(args.base, args.reduced) if args.reduced else args.base
            verdicts = report.run(load_params(args.params), base, args.out, args.post_comment)
            print(f"{args.out / 'report.md'}: " + ", ".join(f"{k} {v}" for k, v in verdicts.items()))
            if args.fail_on_regression and "regressed" in verdicts.values():
                return 2
        elif args.command == "verify":
            from pipeline import verify

            verdicts = verify.run(args.dataset, args.rev)
            for verdict in verdicts:
                print(verdict.line())
            if not all(v.passed for v in verdicts):
                return 1
        elif args.command == "tune":
            params = load_params(args.params)
            runtime.apply_profile(params.reproducibility)
            from pipeline import tune

            summary = tune.run(params)
            log.info("tune: %s (details in %s)", summary, tune.OUT_DIR)
        else:  # a stage, or profile
            run_stage(args.command, args.dataset, args.params)
    except PipelineError as error:
        where = f"{args.command}@{args.dataset}" if hasattr(args, "dataset") else args.command
        print(f"error: {where}: {error}", file=sys.stderr)
        return 1
    return 0
