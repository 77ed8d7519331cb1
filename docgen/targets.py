"""The accuracy and speed benchmark's targets (`make bench`, bench/run.py), and their verdicts on
a results file: the rows of docs/benchmarks.md's targets table, which bench/run.py prints too. The
5-seed means come from the `python -m bench.seeds` run that describes params.yaml."""

from __future__ import annotations

import statistics
from pathlib import Path

from docgen.markdown import title
from docgen.results import current_seed_run

TARGETS = {"mnist": 0.9930, "fashion_mnist": 0.915}  # the committed seed; other datasets: none
SEED_MEAN_TARGETS = {"mnist": 0.9950, "fashion_mnist": 0.920}  # issue 15
# Issue 51: what a 5-seed mean must keep while the training time is cut (time to accuracy).
ACCURACY_FLOORS = {"mnist": 0.9950, "fashion_mnist": 0.9250}
SEED_MEAN_SEEDS = 5  # the seeds a mean needs to count against SEED_MEAN_TARGETS
ANCHORS = {
    "mnist": "LeCun 1998: 99.05% (99.2% distortions)",
    "fashion_mnist": "Zalando 2-conv CNN: 91.6%; d2l LeNet: 76%",
}
REPRO_BUDGET_S = 600
THROUGHPUT_RATIO = 0.9
# Issue 15: epochs of 54,000 augmented images from about 7 s to 4 s, measured against the pipeline
# as it was before that work (this revision), trained in the same command.
EPOCH_BASELINE = "aae49d7"
EPOCH_BEFORE_S, EPOCH_AFTER_S = 7, 4
EPOCH_SPEEDUP = EPOCH_BEFORE_S / EPOCH_AFTER_S


def epoch_speedup(seconds: dict) -> tuple[float, str]:
    """The epoch target's ratio, the median of the pairs' (one slow baseline run cannot carry it),
    and how it reads in the table; results from before pairs were kept: the medians' ratio."""
    ratios = seconds.get("pair_ratios") or [seconds["baseline"] / seconds["current"]]
    ratio = statistics.median(ratios)
    spread = (
        f"; {len(ratios)} pairs: {min(ratios):.2f}-{max(ratios):.2f}×" if len(ratios) > 1 else ""
    )
    return (
        ratio,
        f"{ratio:.2f}× ({seconds['current']:.2f} s vs {seconds['baseline']:.2f} s{spread})",
    )


def summary_rows(r: dict, root: Path) -> list[list[str]]:
    """The targets table of the results `r` (bench/results/latest.json) in the checkout at `root`:
    [target, anchor, measured, pass or FAIL or —] per row."""

    def verdict(ok: bool) -> str:
        return "pass" if ok else "FAIL"

    ratio = r["train_images_per_second"]["fashion_mnist"] / r["plain_keras_images_per_second"]
    inf = r["inference"]
    rows = [
        [f"{ds} test accuracy ≥ {TARGETS[ds]:.2%}", ANCHORS[ds], f"{accuracy:.2%}",
         verdict(accuracy >= TARGETS[ds])] if ds in TARGETS else
        [f"{ds} test accuracy (report only)", "—", f"{accuracy:.2%}", "—"]
        for ds, accuracy in r["accuracy"].items()
    ]
    rows += [
        [
            f"full `dvc repro --force`, every dataset ≤ {REPRO_BUDGET_S / 60:g} min",
            "—",
            f"{r['repro_seconds'] / 60:.1f} min (2nd run {r['repro_seconds_second_run'] / 60:.1f})",
            verdict(r["repro_seconds"] <= REPRO_BUDGET_S),
        ],
        [
            f"train throughput ≥ {THROUGHPUT_RATIO}× plain Keras",
            "bench/plain_keras.py",
            (
                f"{ratio:.2f}× ({r['train_images_per_second']['fashion_mnist']:.0f} vs "
                f"{r['plain_keras_images_per_second']:.0f} images/s)"
            ),
            verdict(ratio >= THROUGHPUT_RATIO),
        ],
        [
            "ONNX Runtime vs Keras predict, batch 1",
            "—",
            (
                f"{inf['onnx_batch1']:.0f} vs {inf['keras_batch1']:.0f} images/s "
                f"({inf['onnx_batch1'] / inf['keras_batch1']:.0f}×)"
            ),
            verdict(inf["onnx_batch1"] > inf["keras_batch1"]),
        ],
        [
            "ONNX Runtime vs Keras predict, batch 1000",
            "—",
            (
                f"{inf['onnx_batch1000']:.0f} vs {inf['keras_batch1000']:.0f} images/s "
                f"({inf['onnx_batch1000'] / inf['keras_batch1000']:.1f}×)"
            ),
            verdict(inf["onnx_batch1000"] > inf["keras_batch1000"]),
        ],
        [
            "two full runs give identical metrics and dvc.lock",
            "—",
            str(r["identical_metrics"]),
            verdict(r["identical_metrics"]),
        ],
    ]
    if "epoch_seconds" in r:
        epoch_ratio, epoch_text = epoch_speedup(r["epoch_seconds"])
        rows.append(
            [
                (
                    f"epoch of 54,000 augmented images ≥ {EPOCH_SPEEDUP:.2f}× faster than the "
                    f"pipeline of {EPOCH_BASELINE} (about {EPOCH_BEFORE_S} s -> {EPOCH_AFTER_S} s)"
                ),
                "—",
                epoch_text,
                verdict(epoch_ratio >= EPOCH_SPEEDUP),
            ]
        )
    seeds = current_seed_run(root)
    for ds, target in SEED_MEAN_TARGETS.items():
        stats = seeds["summary"].get(ds) if seeds else None
        rows.append(
            [
                f"{ds} test accuracy, mean of {SEED_MEAN_SEEDS} seeds ≥ {target:.2%}",
                ANCHORS[ds],
                f"{stats['mean']:.2%} ± {stats['std']:.2%} ({stats['seeds']} seeds)"
                if stats
                else "not measured on this params.yaml: `make bench-seeds`",
                verdict(
                    bool(stats) and stats["seeds"] >= SEED_MEAN_SEEDS and stats["mean"] >= target
                ),
            ]
        )
    if "classic" in r:
        rows.append(
            [
                "1998 classic preset (report only)",
                "LeCun 1998: 99.05%",
                ", ".join(
                    f"{title(ds)} {accuracy:.2%}"
                    for ds, accuracy in r["classic"].items()
                    if ds != "wall_seconds"
                ),
                "—",
            ]
        )
    return rows

