"""`lenet predict` speed: throughput on the 10,000 test images as PNG files (decoding included)
and the start-up time of the command, beside the cost of importing TensorFlow that it avoids.

Needs the dataset's exported model (`dvc repro`) and its raw test files. Also counts how often
predict's answer on the PNGs agrees with the evaluate stage (they are the same 28x28 images).

    python -m bench.predict_speed --dataset mnist
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from pipeline.core import idx, workspace
from pipeline.core.config import load_params
from pipeline.core.paths import DatasetPaths, ProjectPaths


def timed(*command: str) -> tuple[float, str]:
    started = time.perf_counter()
    output = workspace.run(*command, check=False).stdout
    return time.perf_counter() - started, output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument(
        "--repeats", type=int, default=5, help="start-up timings to take the median of"
    )
    args = parser.parse_args()
    paths = DatasetPaths(args.dataset)
    dataset = load_params(ProjectPaths().params).dataset(args.dataset)
    images = idx.read(paths.raw / dataset.files.test_images.name)
    evaluated = [row["predicted"] for row in json.loads(paths.confusion.read_text())]
    predict = [sys.executable, "-m", "pipeline", "predict", "--dataset", args.dataset]

    with tempfile.TemporaryDirectory() as scratch:
        files = [str(Path(scratch) / f"{i:05d}.png") for i in range(len(images))]
        for image, file in zip(images, files, strict=True):
            Image.fromarray(image).save(file)
        one_file = [timed(*predict, files[0])[0] for _ in range(args.repeats)]
        seconds, output = timed(*predict, "--format", "csv", "--top", "1", *files)
    answers = [line.split(",")[2] for line in output.splitlines()[1:]]
    tf_import = [timed(sys.executable, "-c", "import tensorflow")[0] for _ in range(args.repeats)]
    print(json.dumps({
        "dataset": args.dataset,
        "png_files": len(files),
        "seconds": round(seconds, 2),
        "files_per_second": round(len(files) / seconds, 1),
        "startup_seconds_one_file_median": round(statistics.median(one_file), 3),
        "import_tensorflow_seconds_median": round(statistics.median(tf_import), 3),
        "agrees_with_evaluate": f"{sum(a == e for a, e in zip(answers, evaluated, strict=True))}"
                                f"/{len(evaluated)}",
    }, indent=2))


if __name__ == "__main__":
    main()
