"""The accuracy and speed benchmark: the real pipeline on the real data, measured side by side.

    make bench            # or: python -m bench.run [--skip-classic] [--update-readme]
    python -m bench.run --epoch-only   # step 4 alone: the epoch target, about 5 min

Steps, all in this one command so that ratios compare runs on the same (noisy) machine:
 1. `dvc repro --force` twice on the default params.yaml: wall time, test accuracy, and whether
    the two runs' metrics files and dvc.lock are byte-identical;
 2. bench/plain_keras.py, a tutorial-style Keras script, for the train-throughput ratio;
 3. ONNX Runtime vs Keras `predict` on the exported model, batch 1 and batch 1000;
 4. only with --against-baseline: seconds per training epoch, HEAD's defaults against the
    pipeline of EPOCH_BASELINE, four epochs of MNIST each, EPOCH_PAIRS times, alternating, in
    scratch checkouts (the closed epoch-speed work's acceptance test, about 10 min); the ratio is
    the median of the pairs';
 5. the 1998 "classic" preset (presets/classic.yaml) through the same pipeline, params.yaml
    restored afterwards.
Prints one table of targets (docgen/targets.py; the 5-seed means come from `make bench-seeds`'
last run on this params.yaml, if there is one); writes bench/results/latest.json. `make bench`
then renders the docs from it (python -m docgen); --update-readme here does the same, and
`python -m bench.run --render` renders them from bench/results/latest.json, measuring nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time

import yaml

from bench.common import (
    CLASSIC_METRICS,
    DATASETS,
    LATEST_RESULTS,
    PROJECT,
    RESULTS,
    ROOT,
    median_epoch,
    metrics_accuracy,
    train_facts,
)
from docgen.markdown import markdown_table
from docgen.results import latest_results
from docgen.targets import EPOCH_BASELINE, EPOCH_SPEEDUP, epoch_speedup, summary_rows
from docgen.writer import update_docs
from pipeline.core import workspace
from pipeline.core.paths import DatasetPaths, ProjectPaths

# with 2, one slow baseline run in a 15-minute window took the ratio from 1.4x to 1.8x
EPOCH_PAIRS = 3


def sh(*command: str, capture: bool = False) -> str:
    """Run in the repository, echoing the command; long runs stream their output."""
    print("$", " ".join(command), flush=True)
    return workspace.run(*command, cwd=ROOT, capture=capture).stdout or ""


def paths(ds: str) -> DatasetPaths:
    return DatasetPaths(ds, ROOT)


def timed_repro() -> tuple[float, dict[str, bytes]]:
    started = time.perf_counter()
    sh("dvc", "repro", "--force")
    wall = time.perf_counter() - started
    outputs = {ds: paths(ds).metrics.read_bytes() for ds in DATASETS}
    return wall, {**outputs, "dvc.lock": PROJECT.dvc_lock.read_bytes()}


def train_throughput(ds: str) -> float:
    return train_facts(ds)["images_per_second"]


def machine() -> str:
    """The CPU and profile that produced the results: said beside them in the README."""
    facts = train_facts(DATASETS[0])
    cpu = facts["cpu"]
    return (
        f"{cpu['model']} ({', '.join(cpu['flags'])}; {cpu['cores']} cores), {facts['device']}, "
        f"reproducibility profile {'honoured' if facts['profile_honoured'] else 'NOT honoured'}"
    )


def epoch_seconds(revision: str, ds: str = "mnist", epochs: int = 4) -> float | None:
    """Median seconds per training epoch after the first (which traces the graph) of `revision`'s
    default params, `epochs` epochs in a scratch checkout that shares this checkout's DVC cache."""
    from pipeline.tools.params_edit import apply_overrides
    from pipeline.tools.verify import restore_upstream

    with workspace.scratch_checkout(revision, ROOT) as checkout:
        # older revisions: train.epochs
        shape = yaml.safe_load(ProjectPaths(checkout).params.read_text())
        own = shape["datasets"][ds].get("train") or {}
        key = f"datasets.{ds}.train.epochs" if "epochs" in own else "train.epochs"
        apply_overrides(ProjectPaths(checkout).params, {key: epochs}, check=False)
        restore_upstream(checkout, f"preprocess@{ds}")
        # Forced: an earlier run of the same revision and epochs would be restored from DVC's run
        # cache, untimed.
        workspace.run("dvc", "repro", "--force", "--single-item", f"train@{ds}", cwd=checkout,
                      capture=False)
        return median_epoch(ds, checkout)


def epoch_comparison() -> dict:
    """{"baseline": s, "current": s, "pair_ratios": [...]}: median seconds per epoch of
    EPOCH_BASELINE and HEAD over EPOCH_PAIRS runs each, alternated, and each pair's ratio (a pair's
    two runs follow each other, so a slow spell of this noisy machine falls on both)."""
    timings = {"baseline": [], "current": []}
    for _ in range(EPOCH_PAIRS):
        timings["baseline"].append(epoch_seconds(EPOCH_BASELINE))
        timings["current"].append(epoch_seconds("HEAD"))
    print(f"seconds per epoch, each run: {timings}", flush=True)
    return {
        **{side: statistics.median(times) for side, times in timings.items()},
        "pair_ratios": [
            b / c for b, c in zip(timings["baseline"], timings["current"], strict=True)
        ],
    }


def inference_speed(ds: str) -> dict[str, float]:
    """Images per second, ONNX Runtime vs Keras predict, at batch 1 and batch 1000."""
    import keras
    import numpy as np
    import onnxruntime as ort

    from pipeline.core.data import load_processed
    from pipeline.model.lenet import classifier_of

    arrays = load_processed(paths(ds).processed)
    x = arrays["x_test"][:1000]
    raw = np.zeros((1000, 28, 28), np.float32)  # ONNX input: raw pixels; speed is content-blind
    model = classifier_of(keras.saving.load_model(paths(ds).keras_model))
    session = ort.InferenceSession(str(paths(ds).onnx_model),
                                   providers=["CPUExecutionProvider"])
    feed = session.get_inputs()[0].name

    def rate(fn, batch: int, calls: int) -> float:
        fn(0, batch)  # warm-up (graph tracing, session init)
        start = time.perf_counter()
        for i in range(calls):
            fn(i % (1000 // batch), batch)
        return batch * calls / (time.perf_counter() - start)

    def keras_predict(i, batch):
        model.predict(x[i * batch:(i + 1) * batch], batch_size=batch, verbose=0)

    def onnx_run(i, batch):
        session.run(None, {feed: raw[i * batch:(i + 1) * batch]})

    return {
        "onnx_batch1": rate(onnx_run, 1, 500), "keras_batch1": rate(keras_predict, 1, 100),
        "onnx_batch1000": rate(onnx_run, 1000, 20), "keras_batch1000": rate(keras_predict, 1000, 5),
    }


def classic_run() -> dict[str, float]:
    """The 1998 preset through the same pipeline; params.yaml is put back whatever happens."""
    params = PROJECT.params
    backup = params.read_bytes()
    try:
        sh(sys.executable, "-m", "pipeline", "apply", "presets/classic.yaml")
        started = time.perf_counter()
        sh("dvc", "repro")
        wall = time.perf_counter() - started
        shutil.copytree(
            PROJECT.metrics_dir, CLASSIC_METRICS, dirs_exist_ok=True
        )
        return {
            "wall_seconds": wall,
            **{ds: metrics_accuracy(ROOT, ds) for ds in DATASETS},
        }
    finally:
        params.write_bytes(backup)
        sh("dvc", "repro")  # the run cache brings back the default outputs without retraining


def main() -> int:
    cli = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    cli.add_argument("--skip-classic", action="store_true", help="skip the 1998 preset run")
    cli.add_argument(
        "--classic-only",
        action="store_true",
        help="rerun only the classic preset, keeping the rest of bench/results/latest.json",
    )
    cli.add_argument(
        "--epoch-only",
        action="store_true",
        help="only step 4, the epoch comparison (about 5 min); prints it, writes nothing",
    )
    cli.add_argument(
        "--against-baseline",
        action="store_true",
        help=f"also step 4: train the historical {EPOCH_BASELINE} against HEAD (about 10 min)",
    )
    cli.add_argument("--update-readme", action="store_true",
                     help="rewrite the generated blocks of docs/benchmarks.md and README.md")
    cli.add_argument("--render", action="store_true",
                     help="measure nothing: rewrite those blocks from bench/results/latest.json")
    args = cli.parse_args()
    if args.render:
        results = latest_results(ROOT)
        if results is None:
            cli.error(f"no {LATEST_RESULTS.relative_to(ROOT)}: `make bench` writes it")
        update_docs(ROOT, results, summary_rows(results, ROOT))
        return 0
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    RESULTS.mkdir(parents=True, exist_ok=True)

    if args.epoch_only:
        ratio, text = epoch_speedup(epoch_comparison())
        print(f"epoch, HEAD against {EPOCH_BASELINE}: {text} ({EPOCH_SPEEDUP:.2f}× asked)")
        return 0 if ratio >= EPOCH_SPEEDUP else 1
    if args.classic_only:
        results = json.loads(LATEST_RESULTS.read_text())
        results["classic"] = classic_run()
        return report(results, args.update_readme)

    # timing starts from downloaded data
    sh("dvc", "repro", *[f"download@{ds}" for ds in DATASETS])
    wall_1, metrics_1 = timed_repro()
    results = {
        "repro_seconds": wall_1,
        "accuracy": {ds: metrics_accuracy(ROOT, ds) for ds in DATASETS},
        "train_images_per_second": {ds: train_throughput(ds) for ds in DATASETS},
        "machine": machine(),
        "commit": workspace.run("git", "rev-parse", "--short", "HEAD", cwd=ROOT).stdout.strip(),
    }
    baseline = json.loads(
        sh(
            sys.executable,
            "-m",
            "bench.plain_keras",
            "--dataset",
            "fashion_mnist",
            "--epochs",
            "4",
            capture=True,
        )
        .strip()
        .splitlines()[-1]
    )
    results["plain_keras_images_per_second"] = baseline["images_per_second"]
    results["inference"] = inference_speed("fashion_mnist")
    if args.against_baseline:
        results["epoch_seconds"] = epoch_comparison()
    wall_2, metrics_2 = timed_repro()
    results["repro_seconds_second_run"] = wall_2
    results["identical_metrics"] = metrics_1 == metrics_2
    if not args.skip_classic:
        results["classic"] = classic_run()
    return report(results, args.update_readme)


def report(results: dict, update_readme: bool) -> int:
    """Save and print the results; exit status 1 when a target failed."""
    LATEST_RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    rows = summary_rows(results, ROOT)
    print()
    print(markdown_table(["target", "anchor", "measured", "pass"], rows))
    if update_readme:
        update_docs(ROOT, results, rows)
    return 0 if all(row[3] != "FAIL" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
