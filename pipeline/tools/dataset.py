"""`lenet dataset add | list | remove`: a dataset of your own, beside MNIST, in one command.

`lenet dataset add NAME --from SOURCE`, where SOURCE is a folder (or a file:// or http(s):// URL)
holding one of:

- the four IDX files of 28x28 images (`train-images-idx3-ubyte[.gz]`, `t10k-labels...` or any
  names that say train/test and images/labels; gzipped or not);
- image folders: `train/<class>/*.png|jpg|...` and `test/<class>/...`, or one tree of
  `<class>/...` that is split (below). Any size and mode: each image becomes 28x28 grey by the
  preprocessing `lenet predict` and the drawing page use (pipeline/tools/predict.py's `load`);
- a CSV of `label,pixel0,...,pixel783` (a header row optional; labels as numbers or names):
  a train and a test file (their names say which), or one file that is split (below). A URL may
  name the CSV file itself.

One tree or one CSV is split by a stated rule: per class, the images in name order (CSV: row
order) are shuffled with numpy's default_rng(SEED) (`--seed`, default params.yaml's `seed`);
round(n x FRACTION) of them (`--test-fraction`; at least 1, at most n - 1) go to test, the rest to
train. Every split built here (image folders, CSV) is then put in an order shuffled by a generator
of the same seed, so that classes interleave; IDX files keep theirs.

Everything is read and checked before anything is written: a bad input ends with one line naming
the file, class or value at fault, and changes nothing. Then: the IDX files (gzipped) go to
data/imports/NAME/ unless SOURCE already holds them gzipped (then SOURCE is the mirror); the
download stage fetches them from there, checked against the md5s of their decompressed content;
the validation reference is built from them (`lenet reference`); and only then are the entry in
params.yaml's `datasets` and the model's registry entry in dvc.yaml's `artifacts` written (each
file replaced whole). A new dataset has `train: {}`: params.yaml's shared train settings.

`lenet dataset remove NAME` takes all of that out again, with the dataset's outputs and its
dvc.lock entries; `lenet dataset list` shows what params.yaml defines.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from pipeline.core import idx, workspace
from pipeline.core.config import ParamsError, load_params, parse_params
from pipeline.core.errors import PipelineError
from pipeline.core.files import write_text
from pipeline.core.paths import DatasetPaths, ProjectPaths

SIDE = 28
NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
SPLITS = ("train", "test")
KINDS = ("images", "labels")
# The names the download stage and MNIST's mirrors use; files written here get them.
STANDARD = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
IMPORTS = Path("data") / "imports"
CHUNK = 2048  # images decoded at once (float32 28x28 each)
FETCH_TIMEOUT_S = 60


class DatasetError(PipelineError):
    """A source `lenet dataset add` cannot use, or a name it cannot take; nothing was changed."""


def registry_name(name: str) -> str:
    """The model's name in dvc.yaml's registry: `dvc artifacts get REPO lenet5-fashion-mnist`."""
    return "lenet5-" + name.replace("_", "-")


# --- reading a source ------------------------------------------------------------------------


@dataclass
class Split:
    images: np.ndarray  # (N, 28, 28) uint8, light ink on dark
    labels: np.ndarray  # (N,) uint8, indices into the classes


@dataclass
class Found:
    """A source read and checked: its splits, classes, and how they were made."""

    kind: str  # what SOURCE held, for the summary
    splits: dict[str, Split]
    classes: list[str]
    how: str  # how train and test came to be
    mirror: str | None = None  # SOURCE as a mirror of gzipped IDX files (URL, ending in /)
    names: dict[str, str] = field(default_factory=lambda: dict(STANDARD))  # file names there
    notes: list[str] = field(default_factory=list)


@dataclass
class Options:
    classes: list[str] | None
    test_fraction: float
    seed: int
    invert: str


class Source:
    """A folder on this machine, or a URL: files by name (a URL cannot list a folder)."""

    def __init__(self, text: str):
        self.text = text
        parsed = urllib.parse.urlparse(text)
        if parsed.scheme == "file":
            self.path: Path | None = Path(urllib.request.url2pathname(parsed.path))
            self.url = None
        elif parsed.scheme in ("http", "https"):
            self.path, self.url = None, text
        elif parsed.scheme and len(parsed.scheme) > 1:
            raise DatasetError(
                f"{text}: unsupported URL scheme {parsed.scheme!r} (use a folder, "
                "file://, http:// or https://)"
            )
        else:
            self.path, self.url = Path(text).expanduser(), None
        if self.path is not None and not self.path.exists():
            raise DatasetError(f"{self.path}: no such file or folder")

    def folder_url(self) -> str:
        """SOURCE as a mirror base URL (a folder's file:// URI)."""
        base = self.path.resolve().as_uri() if self.path is not None else self.url
        return base if base.endswith("/") else base + "/"

    def fetch(self, name: str) -> bytes | None:
        """A file of the URL's folder, or None where the server has none (404)."""
        url = urllib.parse.urljoin(self.folder_url(), name)
        try:
            with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_S) as response:
                return response.read()
        except urllib.error.HTTPError as error:
            if error.code in (403, 404, 410):
                return None
            raise DatasetError(f"{url}: HTTP {error.code} {error.reason}") from None
        except (OSError, urllib.error.URLError) as error:
            raise DatasetError(f"{url}: cannot fetch ({getattr(error, 'reason', error)})") from None


def read_source(text: str, options: Options) -> Found:
    """What SOURCE holds, read whole and checked (DatasetError otherwise)."""
    source = Source(text)
    if source.url is not None:
        return read_url(source, options)
    path = source.path
    if path.is_file():
        if not path.name.lower().endswith((".csv", ".csv.gz")):
            raise DatasetError(
                f"{path}: give a folder (IDX files, image folders or CSV files) or a .csv file"
            )
        return from_csv({"all": (str(path), path.read_bytes())}, options)
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    idx_files = [p for p in files if re.search(r"ubyte|\.idx", p.name, re.IGNORECASE)]
    if idx_files:
        return from_idx_files(idx_files, options, source)
    csv_files = [p for p in files if p.name.lower().endswith((".csv", ".csv.gz"))]
    if csv_files:
        return from_csv(csv_split(csv_files, path), options)
    folders = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if folders:
        return from_image_folders(path, folders, options)
    raise DatasetError(f"{path}: holds no IDX files, CSV files or class folders of images")


def read_url(source: Source, options: Options) -> Found:
    url = source.url
    if urllib.parse.urlparse(url).path.lower().endswith((".csv", ".csv.gz")):
        data = Source(url.rsplit("/", 1)[0] + "/").fetch(url.rsplit("/", 1)[1])
        if data is None:
            raise DatasetError(f"{url}: not found")
        return from_csv({"all": (url, data)}, options)
    found = {}
    for key, name in STANDARD.items():
        for candidate in (name, name.removesuffix(".gz")):
            if (data := source.fetch(candidate)) is not None:
                found[key] = (candidate, data)
                break
    if len(found) == len(STANDARD):
        return from_idx(found, options, source)
    tables = {
        split: (source.folder_url() + f"{split}.csv", data)
        for split in SPLITS
        if (data := source.fetch(f"{split}.csv")) is not None
    }
    if len(tables) == len(SPLITS):
        return from_csv(tables, options)
    wanted = ", ".join(
        f"{n}[.gz]" for n in (name.removesuffix(".gz") for name in STANDARD.values())
    )
    raise DatasetError(
        f"{url}: found neither the four IDX files ({wanted}) nor train.csv and "
        "test.csv there (a URL cannot list a folder of images: download it and "
        "give the folder)"
    )


def role(name: str) -> str | None:
    """train_images, test_labels, ... as an IDX file's name says, or None."""
    lower = name.lower()
    split = "test" if re.search(r"t10k|test", lower) else "train" if "train" in lower else None
    kind = (
        "images"
        if re.search(r"image|idx3", lower)
        else "labels"
        if re.search(r"label|idx1", lower)
        else None
    )
    return f"{split}_{kind}" if split and kind else None


def from_idx_files(paths: list[Path], options: Options, source: Source) -> Found:
    found: dict[str, tuple[str, bytes]] = {}
    for path in paths:
        key = role(path.name)
        if key is None:
            raise DatasetError(
                f"{path}: an IDX file whose name says neither train/test (t10k) and images/labels"
            )
        if key in found:
            raise DatasetError(
                f"{path}: a second {key.replace('_', ' ')} file (beside {found[key][0]})"
            )
        found[key] = (path.name, path.read_bytes())
    missing = [key.replace("_", " ") for key in STANDARD if key not in found]
    if missing:
        raise DatasetError(
            f"{source.path}: no {', '.join(missing)} IDX file (found "
            f"{', '.join(name for name, _ in found.values())})"
        )
    return from_idx(found, options, source)


def from_idx(found: dict[str, tuple[str, bytes]], options: Options, source: Source) -> Found:
    where = source.path or source.folder_url().rstrip("/")
    arrays = {}
    for key, (name, data) in found.items():
        raw = idx.decompress_bytes(data, f"{where}/{name}") if data[:2] == b"\x1f\x8b" else data
        arrays[key] = idx.parse(raw, f"{where}/{name}")
    splits = {}
    for split in SPLITS:
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        image_name, label_name = found[f"{split}_images"][0], found[f"{split}_labels"][0]
        if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
            size = (
                "x".join(map(str, images.shape[1:]))
                if images.ndim == 3
                else f"shape {images.shape}"
            )
            raise DatasetError(
                f"{where}/{image_name}: images of {size}, not 28x28 (IDX files are "
                "taken as they are; give other sizes as a folder of images)"
            )
        if labels.ndim != 1:
            raise DatasetError(
                f"{where}/{label_name}: labels of shape {labels.shape}, expected (N,)"
            )
        if len(images) != len(labels):
            raise DatasetError(
                f"{where}: {image_name} holds {len(images)} images but "
                f"{label_name} {len(labels)} labels"
            )
        splits[split] = Split(np.ascontiguousarray(images), np.ascontiguousarray(labels))
    classes = options.classes or [
        str(i) for i in range(int(max(s.labels.max(initial=0) for s in splits.values())) + 1)
    ]
    for split, data in splits.items():
        outside = sorted({int(v) for v in np.unique(data.labels) if v >= len(classes)})
        if outside:
            raise DatasetError(
                f"{where}/{found[f'{split}_labels'][0]}: labels {outside} outside "
                f"the {len(classes)} classes {classes}"
            )
    gzipped = all(data[:2] == b"\x1f\x8b" for _, data in found.values())
    return Found(
        "the four IDX files",
        splits,
        classes,
        "train and test as given, in their order",
        mirror=source.folder_url() if gzipped else None,
        names={key: name for key, (name, _) in found.items()} if gzipped else dict(STANDARD),
    )


def csv_split(paths: list[Path], folder: Path) -> dict[str, tuple[str, bytes]]:
    """{"train": ..., "test": ...} by the files' names, or {"all": ...} for one file."""
    if len(paths) == 1:
        return {"all": (str(paths[0]), paths[0].read_bytes())}
    named = {split: [p for p in paths if split in p.name.lower()] for split in SPLITS}
    if all(len(files) == 1 for files in named.values()) and named["train"] != named["test"]:
        return {split: (str(files[0]), files[0].read_bytes()) for split, files in named.items()}
    raise DatasetError(
        f"{folder}: {len(paths)} CSV files ({', '.join(p.name for p in paths)}); "
        "expected one, or one whose name says train and one test"
    )


def read_table(where: str, data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(labels as strings, pixels (N, 784) uint8) of one CSV file; a first row whose first pixel
    is not a number is a header."""
    import pandas as pd

    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    first = data.split(b"\n", 1)[0].split(b",")
    header = len(first) > 1 and not re.fullmatch(rb"\s*\d+(\.\d*)?\s*", first[1])
    try:
        table = pd.read_csv(
            io.BytesIO(data), header=0 if header else None, dtype={0: str}, skip_blank_lines=True
        )
    except (ValueError, pd.errors.ParserError) as error:
        reason = str(error).strip().splitlines()[-1]
        raise DatasetError(f"{where}: not a CSV of label,pixel0..pixel783 ({reason})") from None
    if table.shape[1] != 1 + SIDE * SIDE:
        raise DatasetError(
            f"{where}: {table.shape[1]} values per row, expected {1 + SIDE * SIDE} "
            "(a label, then 784 pixels)"
        )
    if table.empty:
        raise DatasetError(f"{where}: no rows")
    pixels = table.iloc[:, 1:]
    row_of = (lambda i: i + 2) if header else (lambda i: i + 1)
    numeric = pixels.apply(pd.to_numeric, errors="coerce")
    bad = numeric.isna().to_numpy() | ~np.isfinite(
        numeric.to_numpy(dtype=np.float64, na_value=np.nan)
    )
    values = numeric.to_numpy(dtype=np.float64, na_value=-1.0)
    bad |= (values < 0) | (values > 255) | (values != np.round(values))
    if bad.any():
        row, col = map(int, np.argwhere(bad)[0])
        raise DatasetError(
            f"{where}: line {row_of(row)}, pixel {col}: {pixels.iat[row, col]!r} is "
            "not a whole number in 0..255"
        )
    labels = table.iloc[:, 0]
    if labels.isna().any():
        raise DatasetError(
            f"{where}: line {row_of(int(np.flatnonzero(labels.isna())[0]))}: no label"
        )
    return labels.str.strip().to_numpy(dtype=str), values.astype(np.uint8)


def from_csv(tables: dict[str, tuple[str, bytes]], options: Options) -> Found:
    """`tables`: {"train": (file, content), "test": ...}, or {"all": ...} to split."""
    read = {split: read_table(where, data) for split, (where, data) in tables.items()}
    texts = np.concatenate([labels for labels, _ in read.values()])
    numeric = all(re.fullmatch(r"\d+", t) for t in np.unique(texts))
    if numeric:
        numbers = np.unique(texts.astype(np.int64))
        classes = options.classes or [str(i) for i in range(int(numbers.max()) + 1)]
    else:
        classes = options.classes or sorted(np.unique(texts).tolist())
    if len(classes) > 256:
        raise DatasetError(f"{len(classes)} classes: IDX labels hold at most 256")
    index = {name: i for i, name in enumerate(classes)}
    converted = {}
    for split, (labels, pixels) in read.items():
        if numeric:
            ids = labels.astype(np.int64)
            outside = sorted({int(v) for v in np.unique(ids) if v >= len(classes)})
        else:
            outside = sorted({t for t in np.unique(labels) if t not in index})
            ids = np.array([index.get(t, 0) for t in labels], dtype=np.int64)
        if outside:
            raise DatasetError(
                f"{tables[split][0]}: labels {outside} outside the {len(classes)} classes {classes}"
            )
        converted[split] = Split(pixels.reshape(-1, SIDE, SIDE), ids.astype(np.uint8))
    kind = "one CSV file" if "all" in converted else "a train and a test CSV file"
    if "all" in converted:
        splits, how = split_one(converted["all"], classes, options, "row order")
    else:
        splits, how = converted, "train and test as given"
    rng = np.random.default_rng(options.seed)
    return Found(
        kind,
        {s: shuffled(splits[s], rng) for s in SPLITS},
        classes,
        how + f"; each split shuffled (seed {options.seed})",
    )


def image_files(folder: Path) -> tuple[list[Path], int]:
    """The images of a class folder (by suffix, in name order), and how many other files it
    holds."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    return images, len(files) - len(images)


def from_image_folders(root: Path, folders: list[Path], options: Options) -> Found:
    names = {p.name for p in folders}
    notes = []
    if {"train", "test"} <= names:
        trees = {split: root / split for split in SPLITS}
        if names - {"train", "test"}:
            notes.append(
                f"folders beside train/ and test/ left out: {sorted(names - {'train', 'test'})}"
            )
    elif names & {"train", "test"}:
        raise DatasetError(
            f"{root}: has {'train' if 'train' in names else 'test'}/ but no "
            f"{'test' if 'train' in names else 'train'}/"
        )
    else:
        trees = {"all": root}
    per_tree = {}
    for split, tree in trees.items():
        per_tree[split] = sorted(
            p for p in tree.iterdir() if p.is_dir() and not p.name.startswith(".")
        )
        if not per_tree[split]:
            raise DatasetError(f"{tree}: no class folders")
    class_names = [p.name for p in per_tree[next(iter(trees))]]
    for split, tree in trees.items():
        others = [p.name for p in per_tree[split]]
        if others != class_names:
            raise DatasetError(
                f"{tree}: class folders {others} differ from {trees['train']}'s {class_names}"
            )
    if options.classes:
        if sorted(options.classes) != sorted(class_names):
            raise DatasetError(
                f"--classes {options.classes} are not the class folders {class_names}"
            )
        class_names = list(options.classes)
    if len(class_names) > 256:
        raise DatasetError(f"{root}: {len(class_names)} classes; IDX labels hold at most 256")
    ignored = 0
    converted = {}
    for split, tree in trees.items():
        paths, labels = [], []
        for label, name in enumerate(class_names):
            images, others = image_files(tree / name)
            ignored += others
            if not images:
                raise DatasetError(
                    f"{tree / name}: no images ({', '.join(IMAGE_SUFFIXES)}) in this class folder"
                )
            paths += images
            labels += [label] * len(images)
        converted[split] = Split(decode(paths, options.invert), np.array(labels, dtype=np.uint8))
    if ignored:
        notes.append(
            f"{ignored} file(s) in the class folders are not images by their suffix: left out"
        )
    if "all" in converted:
        splits, how = split_one(converted["all"], class_names, options, "name order")
        kind = "one tree of class folders of pictures"
    else:
        splits, how = converted, "train/ and test/ as given"
        kind = "class folders of pictures in train/ and test/"
    rng = np.random.default_rng(options.seed)
    return Found(
        kind,
        {s: shuffled(splits[s], rng) for s in SPLITS},
        class_names,
        how + f"; each split shuffled (seed {options.seed})",
        notes=[
            (
                f"each picture made 28x28 grey as `lenet predict` makes it "
                f"(--invert {options.invert})"
            ),
            *notes,
        ],
    )


def decode(paths: list[Path], invert: str) -> np.ndarray:
    """The images as (N, 28, 28) uint8 by lenet predict's preprocessing; the first unreadable file
    is a DatasetError naming it (and how many more there are)."""
    from pipeline.tools.predict import load  # the one preprocessing of pictures (and the page's)

    out = np.empty((len(paths), SIDE, SIDE), np.uint8)
    failed = []
    for start in range(0, len(paths), CHUNK):
        for i, item in enumerate(load(paths[start : start + CHUNK], invert), start):
            if item.error is not None:
                reason = item.error.replace(", nor IDX or .npy", "").replace(
                    ", IDX or .npy file", ""
                )
                failed.append((paths[i], reason))  # predict's words, less the arrays it also takes
            else:
                out[i] = np.clip(np.rint(item.pixels), 0, 255).astype(np.uint8)
    if failed:
        path, reason = failed[0]
        more = f" (and {len(failed) - 1} more unreadable images)" if len(failed) > 1 else ""
        raise DatasetError(f"{path}: {reason}{more}")
    return out


def split_one(
    data: Split, classes: list[str], options: Options, order: str
) -> tuple[dict[str, Split], str]:
    """The stated rule: per class, a seeded shuffle, round(n x fraction) to test (1..n-1)."""
    if not 0 < options.test_fraction < 1:
        raise DatasetError(
            f"--test-fraction {options.test_fraction}: give a fraction between 0 and 1"
        )
    rng = np.random.default_rng(options.seed)
    picks: dict[str, list[np.ndarray]] = {"train": [], "test": []}
    for label, name in enumerate(classes):
        members = np.flatnonzero(data.labels == label)
        if len(members) < 2:
            raise DatasetError(
                f"class {name!r} has {len(members)} image(s): at least 2 are needed "
                "to give train and test one each"
            )
        members = members[rng.permutation(len(members))]
        n_test = min(len(members) - 1, max(1, round(len(members) * options.test_fraction)))
        picks["test"].append(members[:n_test])
        picks["train"].append(members[n_test:])
    splits = {
        split: Split(data.images[np.concatenate(found)], data.labels[np.concatenate(found)])
        for split, found in picks.items()
    }
    how = (
        f"split per class: its images in {order}, shuffled (seed {options.seed}), "
        f"round(n x {options.test_fraction:g}) to test (at least 1), the rest to train"
    )
    return splits, how


def shuffled(split: Split, rng: np.random.Generator) -> Split:
    order = rng.permutation(len(split.labels))
    return Split(split.images[order], split.labels[order])


def check(found: Found) -> None:
    """What the pipeline needs of any source: two classes or more, each in both splits."""
    if len(found.classes) < 2:
        raise DatasetError(
            f"{len(found.classes)} class ({found.classes}): a classifier needs at least 2"
        )
    if len(set(found.classes)) != len(found.classes):
        raise DatasetError(f"classes {found.classes} name one class twice")
    for split, data in found.splits.items():
        if len(data.labels) == 0:
            raise DatasetError(f"the {split} split is empty")
        counts = np.bincount(data.labels, minlength=len(found.classes))
        empty = [found.classes[c] for c in np.flatnonzero(counts == 0)]
        if empty:
            raise DatasetError(
                f"classes {empty} have no images in {split} (the validate stage "
                "expects every class in both splits)"
            )


# --- what was found --------------------------------------------------------------------------


def encoded(found: Found) -> dict[str, bytes]:
    """The four IDX files' decompressed content, by params.yaml's file key."""
    return {
        f"{split}_{kind}": idx.encode(getattr(found.splits[split], kind))
        for split in SPLITS
        for kind in KINDS
    }


def report(name: str, found: Found, validation) -> list[str]:
    """Rows per split, class balance, image statistics; warnings where validate would fail."""
    train, test = found.splits["train"], found.splits["test"]
    lines = [
        f"  found: {found.kind}, {len(found.classes)} classes",
        f"  split: {found.how}",
        f"  rows: train {len(train.labels)}, test {len(test.labels)}",
    ]
    width = max(len(c) for c in found.classes) + 2
    lines.append(f"  {'class':<{width}}{'train':>16}{'test':>16}")
    for label, cls in enumerate(found.classes):
        cells = []
        for data in (train, test):
            n = int((data.labels == label).sum())
            cells.append(f"{n} ({n / len(data.labels):.1%})")
        lines.append(f"  {cls:<{width}}{cells[0]:>16}{cells[1]:>16}")
    for split, data in found.splits.items():
        flat = data.images.reshape(len(data.images), -1)
        ink = flat.mean(axis=1)
        lines.append(
            f"  {split} images: pixel mean {flat.mean():.1f}, std {flat.std():.1f}; "
            f"mean ink per image {ink.min():.1f} to {ink.max():.1f}"
        )
    blank = {
        s: int((d.images.reshape(len(d.images), -1).max(axis=1) == 0).sum())
        for s, d in found.splits.items()
    }
    saturated = {
        s: int(((d.images.reshape(len(d.images), -1) == 255).mean(axis=1) > 0.5).sum())
        for s, d in found.splits.items()
    }
    hashes = {hashlib.blake2b(image.tobytes(), digest_size=16).digest() for image in train.images}
    duplicates = sum(
        hashlib.blake2b(image.tobytes(), digest_size=16).digest() in hashes for image in test.images
    )
    lines.append(
        f"  blank images: {sum(blank.values())}; more than half at 255: "
        f"{sum(saturated.values())}; test images identical to a training image: {duplicates}"
    )
    lines += [f"  {note}" for note in found.notes]
    warnings = []
    for split, data in found.splits.items():
        n = len(data.labels)
        if blank[split] / n > validation.blank_tolerance:
            warnings.append(
                f"{blank[split]} blank {split} images: more than "
                f"validation.blank_tolerance ({validation.blank_tolerance}) allows"
            )
        if saturated[split] / n > validation.saturated_tolerance:
            warnings.append(
                f"{saturated[split]} {split} images more than half at 255: more than "
                f"validation.saturated_tolerance ({validation.saturated_tolerance}) allows"
            )
    if duplicates > validation.max_train_test_duplicates:
        warnings.append(
            f"{duplicates} test images are also training images: more than "
            f"validation.max_train_test_duplicates ({validation.max_train_test_duplicates})"
        )
    if warnings:
        lines += [
            f"  warning: validate@{name} will fail: {w} (or list the check in validation.warn)"
            for w in warnings
        ]
    return lines


# --- editing params.yaml and dvc.yaml --------------------------------------------------------


def _q(text: str) -> str:
    """`text` as a YAML scalar: plain where YAML reads it back as this string, else quoted."""
    if re.fullmatch(r"[A-Za-z][\w./:+-]*", text) and yaml.safe_load(text) == text:
        return text
    return json.dumps(text, ensure_ascii=False)


def params_entry(
    name: str, found: Found, md5s: dict[str, str], mirror: str, flip: bool, comment: str
) -> str:
    files = "\n".join(
        f"      {key}: {{name: {_q(found.names[key])}, md5: {md5s[key]}}}" for key in STANDARD
    )
    train, test = (len(found.splits[s].labels) for s in SPLITS)
    return (
        f"  # {comment}\n"
        f"  {name}:\n"
        f"    mirror_dir: {name}\n"
        f"    urls:\n"
        f"      - {_q(mirror)}\n"
        f"    files:\n{files}\n"
        f"    rows: {{train: {train}, test: {test}}}\n"
        f"    classes: [{', '.join(_q(c) for c in found.classes)}]\n"
        f"    horizontal_flip: {'true' if flip else 'false'}\n"
        f"    train: {{}}  # the shared `train` settings; keys given here override them\n"
    )


def artifact_entry(name: str, classes: int) -> str:
    description = (f"LeNet-5 on {name} (lenet dataset add): raw 28x28 pixels (0..255, light ink "
                   f"on dark) in, {classes} class probabilities out")
    return (
        f"  {registry_name(name)}:\n"
        f"    path: models/{name}/model.onnx\n"
        f"    type: model\n"
        f"    desc: {_q(description)}\n"
        f"    labels: [lenet5, {name.replace('_', '-')}, onnx, image-classification]\n"
    )


def _section(lines: list[str], section: str) -> tuple[int, int] | None:
    """(first line, end) of a top-level mapping `section:` in a YAML file's lines: the end is
    the next top-level line, less the blank lines and comments just above it."""
    try:
        start = next(
            i for i, line in enumerate(lines) if re.match(rf"{re.escape(section)}:\s*(#.*)?$", line)
        )
    except StopIteration:
        return None
    end = next(
        (i for i in range(start + 1, len(lines)) if re.match(r"[^\s#]", lines[i])), len(lines)
    )
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
        end -= 1
    return start, end


def insert_entry(text: str, section: str, entry: str) -> str:
    """`entry` (its lines indented by two) appended to the top-level mapping `section`."""
    lines = text.splitlines(keepends=True)
    found = _section(lines, section)
    if found is None:
        return text + ("" if text.endswith("\n") else "\n") + f"\n{section}:\n{entry}"
    _, end = found
    return "".join(lines[:end] + [entry] + lines[end:])


def remove_entry(text: str, section: str, key: str) -> str:
    """`text` without the entry `key` of the top-level mapping `section` (with the comment
    lines just above it), or `text` itself where it has none."""
    lines = text.splitlines(keepends=True)
    found = _section(lines, section)
    if found is None:
        return text
    start, end = found
    head = next(
        (i for i in range(start + 1, end) if re.match(rf"  {re.escape(key)}:(\s|$)", lines[i])),
        None,
    )
    if head is None:
        return text
    stop = next((i for i in range(head + 1, end) if re.match(r"  ?[^\s#]", lines[i])), end)
    while stop > head + 1 and not lines[stop - 1].strip():
        stop -= 1
    while head > start + 1 and re.match(r"  #", lines[head - 1]):
        head -= 1
    return "".join(lines[:head] + lines[stop:])


def edited(old: str, new: str, path: Path, section: str, key: str, entry: dict | None) -> str:
    """`new` if it is `old` with exactly `entry` added under `section` (None: removed), as YAML
    reads them; a DatasetError otherwise (a layout this editing does not handle)."""
    before, after = yaml.safe_load(old) or {}, yaml.safe_load(new) or {}
    expected = dict(before)
    expected[section] = dict(before.get(section) or {})
    if entry is None:
        expected[section].pop(key, None)
    else:
        expected[section][key] = entry
    if after != expected:
        raise DatasetError(
            f"{path}: could not edit its `{section}` section safely (an unusual "
            f"layout?); edit it by hand: {'add' if entry else 'remove'} {key}"
        )
    return new


# --- the commands ----------------------------------------------------------------------------


def parse_classes(text: str | None) -> list[str] | None:
    if text is None:
        return None
    classes = [c.strip() for c in text.split(",")]
    if not all(classes):
        raise DatasetError(f"--classes {text!r}: an empty class name")
    return classes


def check_name(name: str | None, params: dict, dvc: dict, project: ProjectPaths) -> str:
    if not name:
        raise DatasetError("name the dataset: lenet dataset add NAME --from SOURCE")
    if not NAME.fullmatch(name):
        raise DatasetError(
            f"{name!r} is not a valid dataset name: lower-case letters, digits and "
            "underscores, starting with a letter, at most 40 characters (it names stages "
            "train@NAME, folders and the model lenet5-NAME)"
        )
    if name in params.get("datasets", {}):
        raise DatasetError(
            f"dataset {name!r} exists already in params.yaml (`lenet dataset "
            f"remove {name}` first, or choose another name)"
        )
    if registry_name(name) in (dvc.get("artifacts") or {}):
        raise DatasetError(
            f"dvc.yaml's artifacts already has {registry_name(name)}: remove it "
            "first, or choose another name"
        )
    paths = DatasetPaths(name, project.root)
    for leftover in (paths.reference, paths.model_dir, project.root / IMPORTS / name):
        if leftover.exists():
            raise DatasetError(
                f"{leftover} exists: left from an earlier dataset {name!r}? "
                "Delete it, or choose another name"
            )
    return name


def add(
    name: str | None,
    source: str | None,
    options: Options,
    params_file: Path,
    project: ProjectPaths,
    flip: bool = False,
) -> list[str]:
    """Add the dataset; returns the summary's lines. Nothing is written before every check
    passed."""
    if not source:
        raise DatasetError("say where the data is: --from SOURCE (a folder or URL)")
    params_text, dvc_text = params_file.read_text(), project.dvc_yaml.read_text()
    load_params(params_file)  # the project's params.yaml is valid before it is edited
    name = check_name(name, yaml.safe_load(params_text), yaml.safe_load(dvc_text) or {}, project)
    found = read_source(source, options)
    check(found)
    contents = encoded(found)
    md5s = {key: idx.md5(content) for key, content in contents.items()}
    imports = project.root / IMPORTS / name
    mirror = found.mirror or imports.resolve().as_uri() + "/"
    comment = f"lenet dataset add {name} --from {source}: {found.kind}" + (
        "" if found.mirror else f"; its IDX files in {IMPORTS / name}/"
    )
    entry_text = params_entry(name, found, md5s, mirror, flip, comment)
    new_params = edited(
        params_text,
        insert_entry(params_text, "datasets", entry_text),
        params_file,
        "datasets",
        name,
        _entry_value(entry_text),
    )
    try:
        params = parse_params(yaml.safe_load(new_params), params_file)
    except ParamsError as error:
        problems = "; ".join(line.strip() for line in str(error).splitlines()[1:])
        raise DatasetError(f"with this dataset params.yaml would be invalid: {problems}") from None
    artifact = artifact_entry(name, len(found.classes))
    new_dvc = edited(
        dvc_text,
        insert_entry(dvc_text, "artifacts", artifact),
        project.dvc_yaml,
        "artifacts",
        registry_name(name),
        _entry_value(artifact),
    )
    summary = [f"lenet dataset add {name} --from {source}", *report(name, found, params.validation)]

    paths = DatasetPaths(name, project.root)
    made = [paths.raw, paths.reference] + ([] if found.mirror else [imports])
    try:
        if not found.mirror:
            imports.mkdir(parents=True)
            for key, content in contents.items():
                (imports / STANDARD[key]).write_bytes(gzip.compress(content, mtime=0))
        with tempfile.NamedTemporaryFile(
            "w", suffix=".yaml", prefix=".params.dataset-add.", dir=project.root, delete=False
        ) as staged:
            staged.write(new_params)
        try:
            for stage in ("download", "reference"):  # the real stages: the mirror serves the data
                workspace.run(
                    "python",
                    "-m",
                    "pipeline.stages",
                    stage,
                    "--dataset",
                    name,
                    "--params",
                    staged.name,
                    cwd=project.root,
                )
        finally:
            Path(staged.name).unlink(missing_ok=True)
        write_text(project.dvc_yaml, new_dvc)
        write_text(params_file, new_params)
    except BaseException as error:
        for path in made:
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(
                missing_ok=True
            )
        for parent in (imports.parent, paths.raw.parent):  # data/imports, data/raw if made here
            if parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
        if isinstance(error, workspace.CommandFailed):  # the stage's own error, on one line
            lines = str(error).splitlines()
            first = next((i for i, line in enumerate(lines) if line.startswith("error:")), 0)
            raise DatasetError(
                "nothing added: " + " ".join(line.strip() for line in lines[first:])
            ) from None
        raise
    shown = [
        (
            params_file,
            (
                f"datasets.{name}: md5s of the decompressed IDX files, rows, classes, "
                f"the mirror {mirror}"
            ),
        ),
        (project.dvc_yaml, f"artifacts.{registry_name(name)}: the model's registry entry"),
        (paths.reference, "the validation reference, from these files"),
    ]
    if not found.mirror:
        shown.append((imports, "the IDX files (gzipped): the mirror download@" + name + " reads"))
    width = max(len(str(p)) for p, _ in shown) + 2
    summary += [
        "  written:",
        *(f"    {p!s:<{width}}{what}" for p, what in shown),
        f"  next: review the above; `dvc repro` (the stages of {name}, and the overview);",
        (
            f"        commit params.yaml, dvc.yaml, dvc.lock, {paths.reference}, and metrics/ "
            f"and models/{name}/"
        ),
    ]
    return summary


def _entry_value(entry_text: str):
    """The value of the single-key mapping an entry's text (indented by two) holds."""
    return next(iter(yaml.safe_load(entry_text).values()))


def remove(name: str | None, params_file: Path, project: ProjectPaths) -> list[str]:
    if not name:
        raise DatasetError("name the dataset: lenet dataset remove NAME")
    params_text, dvc_text = params_file.read_text(), project.dvc_yaml.read_text()
    datasets = (yaml.safe_load(params_text) or {}).get("datasets") or {}
    if name not in datasets:
        raise DatasetError(f"no dataset {name!r} in params.yaml (it defines {', '.join(datasets)})")
    if len(datasets) == 1:
        raise DatasetError(f"{name!r} is the only dataset: the pipeline needs one")
    new_params = edited(
        params_text,
        remove_entry(params_text, "datasets", name),
        params_file,
        "datasets",
        name,
        None,
    )
    try:
        parse_params(yaml.safe_load(new_params), params_file)
    except ParamsError as error:
        problems = "; ".join(line.strip() for line in str(error).splitlines()[1:])
        raise DatasetError(f"without {name!r} params.yaml would be invalid: {problems}") from None
    new_dvc = edited(
        dvc_text,
        remove_entry(dvc_text, "artifacts", registry_name(name)),
        project.dvc_yaml,
        "artifacts",
        registry_name(name),
        None,
    )
    lock_text = project.dvc_lock.read_text() if project.dvc_lock.exists() else ""
    new_lock = lock_text
    for stage in (yaml.safe_load(lock_text) or {}).get("stages") or {}:
        if stage.endswith(f"@{name}"):
            new_lock = edited(
                new_lock,
                remove_entry(new_lock, "stages", stage),
                project.dvc_lock,
                "stages",
                stage,
                None,
            )
    paths = DatasetPaths(name, project.root)
    gone = [
        p
        for p in (
            paths.reference,
            project.root / IMPORTS / name,
            paths.raw,
            paths.processed,
            paths.validation_report,
            paths.data_docs,
            paths.model_dir,
            paths.train_log,
            paths.eval_dir,
            paths.metrics,
            paths.runtime,
            paths.resume_state,
        )
        if p.exists()
    ]
    write_text(params_file, new_params)
    write_text(project.dvc_yaml, new_dvc)
    if new_lock != lock_text:
        write_text(project.dvc_lock, new_lock)
    for path in gone:
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    return [
        f"lenet dataset remove {name}:",
        f"  {params_file}: datasets.{name} removed",
        f"  {project.dvc_yaml}: artifacts.{registry_name(name)} removed",
        *([f"  {project.dvc_lock}: its stages' entries removed"] if new_lock != lock_text else []),
        *(f"  deleted {path}" for path in gone),
        "  next: `dvc repro` (the overview only) and commit",
    ]


def listing(params_file: Path, project: ProjectPaths) -> list[str]:
    params = load_params(params_file)
    rows = [("dataset", "classes", "train", "test", "model", "source")]
    for name, dataset in params.datasets.items():
        metrics = DatasetPaths(name, project.root).metrics
        model = "not trained"
        if metrics.exists():
            model = f"{json.loads(metrics.read_text())['test']['accuracy']:.2%}"
        source = dataset.urls[0] if dataset.urls else f"LENET_DATA_MIRROR/{dataset.mirror_dir}/"
        more = f" (+{len(dataset.urls) - 1})" if len(dataset.urls) > 1 else ""
        rows.append(
            (
                name,
                str(len(dataset.classes)),
                str(dataset.rows.train),
                str(dataset.rows.test),
                model,
                source + more,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  ".join(
            f"{cell:<{w}}" if i == 0 else f"{cell:>{w}}"
            for i, (cell, w) in enumerate(zip(row[:-1], widths, strict=True))
        )
        + "  "
        + row[-1]
        for row in rows
    ]


def run(
    action: str,
    name: str | None,
    source: str | None,
    classes: str | None,
    test_fraction: float,
    seed: int | None,
    invert: str,
    flip: bool,
    params_file: Path,
) -> None:
    project = ProjectPaths()
    if action == "list":
        lines = listing(params_file, project)
    elif action == "remove":
        lines = remove(name, params_file, project)
    else:
        seed = load_params(params_file).seed if seed is None else seed
        lines = add(
            name,
            source,
            Options(parse_classes(classes), test_fraction, seed, invert),
            params_file,
            project,
            flip,
        )
    print("\n".join(lines))
