"""One way in for every stage: `python -m pipeline <stage> --dataset <name>` (what dvc.yaml runs)."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import time
from pathlib import Path

from pipeline.config import PARAMS_FILE, load_params
from pipeline.errors import PipelineError
from pipeline.paths import DatasetPaths

STAGES = ("download", "validate", "preprocess", "train", "evaluate", "export")


def _run_stage(stage: str, name: str, params_file: Path) -> None:
    params = load_params(params_file)  # validated before any work, whatever the stage
    dataset = params.dataset(name)
    paths = DatasetPaths(name)
    module = importlib.import_module(f"pipeline.{stage}")
    if stage == "download":
        module.run(name, dataset, params.download, paths.raw)
    elif stage == "validate":
        module.run(name, dataset, paths)
    elif stage == "preprocess":
        module.run(dataset, params.preprocess, params.seed, paths)
    else:
        module.run(name, dataset, params, paths)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lenet", description=__doc__)
    parser.add_argument("stage", choices=STAGES)
    parser.add_argument("--dataset", required=True, help="a key of params.yaml's `datasets`")
    parser.add_argument("--params", type=Path, default=PARAMS_FILE)
    args = parser.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF's C++ start-up chatter hides our logs
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("pipeline")
    log.setLevel(logging.INFO)  # our progress; libraries stay at WARNING
    started = time.perf_counter()
    try:
        _run_stage(args.stage, args.dataset, args.params)
    except PipelineError as error:
        print(f"error: {args.stage}@{args.dataset}: {error}", file=sys.stderr)
        return 1
    log.info("%s@%s done in %.1fs", args.stage, args.dataset, time.perf_counter() - started)
    return 0
