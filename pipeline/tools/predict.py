"""`lenet predict`: classify image files with an exported ONNX model, through ONNX Runtime alone.

No TensorFlow: start-up pays for numpy, Pillow and ONNX Runtime only. Everything about the model
(its classes, input, dataset) comes from the file's own metadata, so `lenet predict --model FILE`
works anywhere, without params.yaml. Inputs are turned into what
the model was trained on (grey 28x28, light ink on a dark background, 0..255):

- PNG, JPEG or anything Pillow opens, any size or colour: made grey (transparency over white),
  inverted when the ink is darker than the paper (detected from the border, or set with
  --invert), stretched from the paper's level to the darkest ink, then, as MNIST was made, the
  ink's bounding box scaled to fit 20x20 and placed in 28x28 with its centre of mass at the centre.
  An image that is already 28x28 is taken as it is, apart from polarity: it is in the datasets'
  format, where the position of the ink may matter.
- IDX files (named like MNIST's `*-ubyte[.gz]`, or `*.idx[.gz]`) and .npy arrays of shape
  (28, 28) or (N, 28, 28): taken as they are.

A file that cannot be read is reported by name and the others are still classified.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.core import idx
from pipeline.core.errors import PipelineError

SIDE, BOX = 28, 20  # MNIST: the ink's box fits 20x20, centred by mass in 28x28
MAX_PIXELS = 50_000_000  # larger images are refused before they are decoded
MAX_BYTES = 200_000_000
ARRAY_FILES = (".npy", "-ubyte", "-ubyte.gz", ".idx", ".idx.gz")  # the rest goes to Pillow


class Unusable(Exception):
    """A file this command will not classify, and why (too large, empty, no ink, ...)."""


class ModelRefused(PipelineError):
    """The model lacks the metadata predict needs (dataset, classes, input) or that
    --check-provenance needs, or it was trained on other data than params.yaml names."""


@dataclass
class Item:
    """One image to classify, or the reason a file gave none."""

    source: str  # the file, with #index for one image of a multi-image file
    pixels: np.ndarray | None = None  # (28, 28) float32, 0..255, light ink on dark
    error: str | None = None


def paper_shade(grey: np.ndarray) -> float:
    """The median of the image's border: mostly paper, whatever the ink does."""
    return float(np.median(np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])))


def ink_is_dark(grey: np.ndarray) -> bool:
    """Dark ink on light paper: the paper is brighter than the middle of the range."""
    return paper_shade(grey) > 127


def to_mnist(grey: np.ndarray) -> np.ndarray:
    """A light-on-dark image of any size as MNIST's 28x28: paper to 0, ink stretched to 255, the
    ink's box scaled to fit 20x20, its centre of mass at the centre."""
    from PIL import Image

    paper = paper_shade(grey)
    peak = float(grey.max())
    if peak - paper < 16:
        raise Unusable("no ink found (the image is one flat shade)")
    ink = np.clip((grey - paper) / (peak - paper), 0, 1) * 255
    rows, cols = np.nonzero(ink > 0.1 * 255)
    box = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    scale = BOX / max(box.shape)
    size = (max(1, round(box.shape[1] * scale)), max(1, round(box.shape[0] * scale)))
    small = np.asarray(
        Image.fromarray(box.astype(np.float32), mode="F").resize(size, Image.LANCZOS)
    )
    small = np.clip(small, 0, 255)
    total = small.sum()
    centre_row = (small.sum(axis=1) * np.arange(small.shape[0])).sum() / total
    centre_col = (small.sum(axis=0) * np.arange(small.shape[1])).sum() / total
    top = int(np.clip(round(SIDE / 2 - 0.5 - centre_row), 0, SIDE - small.shape[0]))
    left = int(np.clip(round(SIDE / 2 - 0.5 - centre_col), 0, SIDE - small.shape[1]))
    canvas = np.zeros((SIDE, SIDE), np.float32)
    canvas[top : top + small.shape[0], left : left + small.shape[1]] = small
    return canvas


def read_picture(path: Path, invert: str) -> np.ndarray:
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None  # Pillow's own bomb check, replaced by the one below
    with Image.open(path) as image:  # reads the header only: the size is known before decoding
        if image.width * image.height > MAX_PIXELS:
            raise Unusable(f"{image.width}x{image.height} pixels is too large "
                             f"(at most {MAX_PIXELS:,} pixels)")
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            paper = Image.new("RGBA", image.size, "white")
            image = Image.alpha_composite(paper, image.convert("RGBA"))
        grey = np.asarray(image.convert("L"), dtype=np.float32)
    if invert == "yes" or (invert == "auto" and ink_is_dark(grey)):
        grey = 255 - grey
    return grey if grey.shape == (SIDE, SIDE) else to_mnist(grey)


def read_arrays(path: Path) -> np.ndarray:
    """IDX (gzip or not) or .npy images, as (N, 28, 28)."""
    data = path.read_bytes()
    if path.suffix == ".npy":
        images = np.load(io.BytesIO(data), allow_pickle=False)
    else:
        images = idx.parse(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data, path)
    images = images[None] if images.ndim == 2 else images
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        raise Unusable(f"expected images of 28x28, got an array of shape {images.shape}")
    return images.astype(np.float32)


def load(paths: list[Path], invert: str) -> list[Item]:
    items = []
    for path in paths:
        try:
            if not path.is_file():
                raise Unusable("no such file")
            if (size := path.stat().st_size) == 0:
                raise Unusable("empty file")
            if size > MAX_BYTES:
                raise Unusable(f"{size:,} bytes is too large (at most {MAX_BYTES:,})")
            if path.name.endswith(ARRAY_FILES):
                images = read_arrays(path)
                items += [Item(f"{path}#{i}" if len(images) > 1 else str(path), image)
                          for i, image in enumerate(images)]
            else:
                items.append(Item(str(path), read_picture(path, invert)))
        except Unusable as error:
            items.append(Item(str(path), error=str(error)))
        except Exception as error:  # noqa: BLE001  any unreadable file is reported, not fatal
            reason = f"not a readable image, IDX or .npy file ({error or type(error).__name__})"
            if type(error).__name__ == "UnidentifiedImageError":
                reason = "not an image Pillow can read (PNG, JPEG, ...), nor IDX or .npy"
            items.append(Item(str(path), error=reason))
    return items


def metadata(session) -> dict:
    """The export stage's provenance, decoded (JSON values back to structures)."""
    found = session.get_modelmeta().custom_metadata_map
    decoded = {}
    for key, value in found.items():
        try:
            decoded[key] = json.loads(value)
        except json.JSONDecodeError:
            decoded[key] = value
    return decoded


# What `lenet predict --model` needs from the file itself: the export stage writes all of it.
REQUIRED_METADATA = ("dataset", "classes", "input")


def require_contract(model: Path, facts: dict) -> None:
    """Refuse a model that does not say what it classifies and what it takes, naming what is
    missing."""
    missing = [key for key in REQUIRED_METADATA if key not in facts]
    if missing:
        raise ModelRefused(f"{model}: no provenance metadata: missing {', '.join(missing)} "
                           "(exported by an older pipeline, or not by this one); re-export it "
                           "with `dvc repro`")
    contract = facts["input"]
    if list(contract.get("shape", []))[1:] != [SIDE, SIDE] or list(contract.get("range", [])) != [
        0,
        255,
    ]:
        raise ModelRefused(f"{model}: its input is {contract}, not the 28x28 images of 0..255 this "
                           "command makes")


def check_provenance(model: Path, facts: dict, params, dataset: str | None) -> str:
    """Refuse a model without provenance, or (where a params.yaml is given) one trained on other
    data than params.yaml names for its dataset. Returns what was checked, for stderr."""
    if "data_md5" not in facts:
        raise ModelRefused(f"{model}: no provenance metadata: missing data_md5; re-export it "
                           "with `dvc repro`")
    if params is None:
        return (
            f"{model}: provenance present (trained on {facts['dataset']}, code "
            f"{str(facts.get('git_commit', '?'))[:12]}); "
            "no params.yaml here to compare the data with"
        )
    name = dataset or facts["dataset"]
    if name not in params.datasets:
        raise ModelRefused(f"{model}: trained on {name!r}, which params.yaml does not define")
    expected = {f.name: f.md5 for f in params.datasets[name].data_files()}
    if facts["data_md5"] != expected:
        raise ModelRefused(f"{model}: trained on other data than params.yaml's "
                           f"{name}: {facts['data_md5']} vs {expected}")
    return f"{model}: trained on params.yaml's {name} data (checksums match)"


def open_model(model: Path):
    import onnxruntime as ort

    if not model.is_file():
        raise PipelineError(f"{model}: no such model; run `dvc repro` (or `dvc pull`) first")
    try:
        return ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    except Exception as error:  # noqa: BLE001  ONNX Runtime raises its own exception types
        raise PipelineError(f"{model}: not a model ONNX Runtime can load ({error})") from None


def classify(session, classes: list[str] | None, items: list[Item], top: int) -> list[dict]:
    """One result per item: its top-k classes and probabilities, or why it has none."""
    good = [item for item in items if item.error is None]
    scores = iter(())
    if good:
        batch = np.stack([item.pixels for item in good]).astype(np.float32)
        probabilities = session.run(None, {session.get_inputs()[0].name: batch})[0]
        classes = classes or [str(i) for i in range(probabilities.shape[1])]
        scores = iter(probabilities)
    rows = []
    for item in items:
        if item.error is not None:
            rows.append({"file": item.source, "error": item.error})
            continue
        p = next(scores)
        best = np.argsort(-p, kind="stable")[:top]
        rows.append(
            {
                "file": item.source,
                "top": [{"class": classes[i], "probability": round(float(p[i]), 6)} for i in best],
            }
        )
    return rows


def render(rows: list[dict], form: str) -> str:
    if form == "json":
        return json.dumps(rows, indent=2)
    if form == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["file", "rank", "class", "probability", "error"])
        for row in rows:
            for rank, guess in enumerate(row.get("top", []), 1):
                writer.writerow([row["file"], rank, guess["class"], guess["probability"], ""])
            if "error" in row:
                writer.writerow([row["file"], "", "", "", row["error"]])
        return out.getvalue().rstrip("\n")
    width = max([len(row["file"]) for row in rows] + [4])
    lines = [f"{'file':<{width}}  prediction"]
    for row in rows:
        guesses = "  ".join(f"{g['class']} ({g['probability']:.1%})" for g in row.get("top", []))
        lines.append(f"{row['file']:<{width}}  {guesses or 'error: ' + row['error']}")
    return "\n".join(lines)


def run(model: Path, files: list[Path], top: int, form: str, invert: str,
        provenance: bool = False, params=None, dataset: str | None = None) -> int:
    """Print the predictions; exit code 1 if any file could not be classified.

    Everything about the model comes from its own metadata (classes, input, dataset). With
    `provenance` (--check-provenance), a model without provenance is refused, and with `params` (a
    params.yaml was found) one trained on other data than it names for the model's dataset.
    """
    if top < 1:
        raise PipelineError(f"--top must be at least 1, not {top}")
    session = open_model(model)
    facts = metadata(session)
    require_contract(model, facts)
    if provenance:
        print(check_provenance(model, facts, params, dataset), file=sys.stderr)
    rows = classify(session, facts["classes"], load(files, invert), top)
    print(render(rows, form))
    failed = [row for row in rows if "error" in row]
    for row in failed:
        print(f"error: {row['file']}: {row['error']}", file=sys.stderr)
    return 1 if failed else 0
