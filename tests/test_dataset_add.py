"""`lenet dataset add | list | remove` (pipeline/tools/dataset.py) on tiny synthetic data.

The same arrays (harness.synthetic's blocks, 10 classes) are written as each kind of source: IDX
files gzipped or not, served over HTTP, CSV files, one CSV, 28x28 PNG folders. Each is added to a
copy of the tiny project (the real download stage and `lenet reference` run) and must give the
same images and labels. Pictures of other sizes are made 28x28 by `lenet predict`'s preprocessing.
Each bad input gets one line and changes nothing. One integration test runs docs/pipeline.md's
recipe as written: add, `dvc repro` (the new dataset's stages and the overview only), predict;
then removes the dataset again.
"""

from __future__ import annotations

import gzip
import json
import re
import shlex
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image, ImageDraw

from harness.synthetic import ROOT, make_split, run_in
from pipeline.cli import main
from pipeline.core import idx
from pipeline.core.config import load_params
from pipeline.core.paths import DatasetPaths, ProjectPaths
from pipeline.tools import dataset, predict

SHAPES = ("circle", "cross", "square")


@pytest.fixture(scope="module")
def arrays() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {"train": make_split(20, seed=3), "test": make_split(5, seed=4)}


def as_set(images: np.ndarray, labels: np.ndarray) -> list[tuple[int, bytes]]:
    """A split as a sorted list of (label, pixels): equal whatever the order of the images."""
    return sorted(zip(labels.tolist(), (image.tobytes() for image in images), strict=True))


def write_idx(folder: Path, arrays, gzipped: bool = True, names: dict | None = None) -> Path:
    names = names or {
        "train_images": "train-images-idx3-ubyte",
        "train_labels": "train-labels-idx1-ubyte",
        "test_images": "t10k-images-idx3-ubyte",
        "test_labels": "t10k-labels-idx1-ubyte",
    }
    folder.mkdir(parents=True, exist_ok=True)
    for split, (images, labels) in arrays.items():
        for kind, array in (("images", images), ("labels", labels)):
            raw = idx.encode(array)
            name = names[f"{split}_{kind}"]
            if gzipped:
                (folder / f"{name}.gz").write_bytes(gzip.compress(raw, mtime=0))
            else:
                (folder / name).write_bytes(raw)
    return folder


def csv_text(images: np.ndarray, labels, header: bool = True) -> str:
    rows = ["label," + ",".join(f"pixel{i}" for i in range(784))] if header else []
    rows += [
        f"{label}," + ",".join(map(str, image.reshape(-1)))
        for image, label in zip(images, labels, strict=True)
    ]
    return "\n".join(rows) + "\n"


def write_pngs(folder: Path, images: np.ndarray, labels: np.ndarray, classes: list[str]) -> None:
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        target = folder / classes[label] / f"{i:04d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(target)


def draw(kind: str, rng: np.random.Generator, size: int, mode: str) -> Image.Image:
    """A dark outline of a shape on white paper, `size` pixels square."""
    image = Image.new("RGB", (size, size), "white")
    pen = ImageDraw.Draw(image)
    margin = int(rng.integers(size // 8, size // 4))
    x0, y0 = (int(v) for v in rng.integers(0, margin, 2))
    x1, y1 = (size - 1 - int(v) for v in rng.integers(0, margin, 2))
    width = max(2, size // 10)
    if kind == "circle":
        pen.ellipse([x0, y0, x1, y1], outline="black", width=width)
    elif kind == "square":
        pen.rectangle([x0, y0, x1, y1], outline="black", width=width)
    else:
        pen.line([x0, y0, x1, y1], fill="black", width=width)
        pen.line([x0, y1, x1, y0], fill="black", width=width)
    return image.convert(mode)


def write_shapes(root: Path, per_split: dict[str, int], seed: int = 0) -> Path:
    """Pictures of three shapes, 36 to 63 pixels, RGB or grey, PNG and JPEG: `{split}/{shape}/`
    (a split of "" makes one tree)."""
    rng = np.random.default_rng(seed)
    for split, n in per_split.items():
        for shape in SHAPES:
            folder = root / split / shape
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                picture = draw(shape, rng, int(rng.integers(36, 64)), "L" if i % 3 else "RGB")
                picture.save(folder / f"{shape}-{i:03d}.{'jpg' if i % 2 else 'png'}")
    return root


@pytest.fixture(scope="module")
def sources(tmp_path_factory, arrays) -> dict[str, Path]:
    """The same arrays as every kind of source, and two picture folders; built once."""
    root = tmp_path_factory.mktemp("sources")
    classes = [f"c{i}" for i in range(10)]
    found = {
        "idx.gz": write_idx(root / "idx-gz", arrays),
        "idx": write_idx(
            root / "idx",
            arrays,
            gzipped=False,
            names={
                "train_images": "train.images.idx",
                "train_labels": "train.labels.idx",
                "test_images": "test.images.idx",
                "test_labels": "test.labels.idx",
            },
        ),
    }
    (root / "csv").mkdir()
    for split, (images, labels) in arrays.items():
        (root / "csv" / f"mnist_{split}.csv").write_text(csv_text(images, labels))
        write_pngs(root / "png" / split, images, labels, classes)
    found |= {"csv": root / "csv", "png": root / "png"}
    # One CSV of both splits, labels as names and no header: split by the stated rule.
    images = np.concatenate([arrays["train"][0], arrays["test"][0]])
    labels = np.concatenate([arrays["train"][1], arrays["test"][1]])
    (root / "one.csv").write_text(csv_text(images, [classes[i] for i in labels], header=False))
    found["one.csv"] = root / "one.csv"
    found["shapes"] = write_shapes(root / "shapes", {"train": 6, "test": 2})
    found["tree"] = write_shapes(root / "tree", {"": 5}, seed=1)
    return found


def lenet(project: Path, monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """`lenet ARGS` in-process, in `project`: (exit code, stdout, stderr)."""
    monkeypatch.chdir(project)
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def raw_split(project: Path, name: str, split: str) -> list[tuple[int, bytes]]:
    entry = load_params(project / "params.yaml").dataset(name)
    raw = DatasetPaths(name, project).raw
    images = idx.read(raw / getattr(entry.files, f"{split}_images").name)
    labels = idx.read(raw / getattr(entry.files, f"{split}_labels").name)
    return as_set(images, labels)


@pytest.mark.parametrize("kind", ["idx.gz", "idx", "csv", "png", "http"])
def test_each_source_kind_gives_the_same_dataset(
    kind, sources, arrays, tiny_project, monkeypatch, capsys, http_mirror
):
    """Through the real download stage from the mirror the entry names, and `lenet reference`."""
    url, _, _ = http_mirror  # the tiny project's own mirror: its digits, served over HTTP
    source = f"{url}digits/" if kind == "http" else str(sources[kind])
    before = {path: (tiny_project / path).read_text() for path in ("params.yaml", "dvc.yaml")}
    code, out, err = lenet(
        tiny_project, monkeypatch, capsys, "dataset", "add", "blocks", "--from", source
    )
    assert code == 0, err
    assert "rows: train 200, test 50" in out and "warning" not in out, out
    for path, section, key in (
        ("params.yaml", "datasets", "blocks"),
        ("dvc.yaml", "artifacts", "lenet5-blocks"),
    ):
        after = (tiny_project / path).read_text()  # one entry added, the rest as it was
        assert after != before[path] and dataset.remove_entry(after, section, key) == before[path]
    entry = yaml.safe_load((tiny_project / "params.yaml").read_text())["datasets"]["blocks"]
    assert entry["train"] == {} and entry["rows"] == {"train": 200, "test": 50}
    assert entry["classes"] == [f"c{i}" if kind == "png" else str(i) for i in range(10)]
    if kind in ("idx.gz", "http"):  # the source is the mirror: nothing copied
        assert entry["urls"] == [
            source.rstrip("/") + "/" if kind == "http" else Path(source).as_uri() + "/"
        ]
        assert not (tiny_project / "data/imports/blocks").exists()
    else:
        assert entry["urls"] == [(tiny_project / "data/imports/blocks").resolve().as_uri() + "/"]
    artifacts = yaml.safe_load((tiny_project / "dvc.yaml").read_text())["artifacts"]
    assert artifacts["lenet5-blocks"]["path"] == "models/blocks/model.onnx"
    assert DatasetPaths("blocks", tiny_project).reference.is_file()
    if kind == "http":
        return  # the tiny project's own digits: other arrays than `arrays`
    for split, (images, labels) in arrays.items():
        assert raw_split(tiny_project, "blocks", split) == as_set(images, labels), split
    # git sees the two edited files and the new reference; the data stays out of git.
    status = run_in(tiny_project, "git", "status", "--porcelain").stdout.split("\n")
    assert sorted(line for line in status if line) == [
        " M dvc.yaml",
        " M params.yaml",
        "?? suites/blocks.reference.json",
    ]


def test_one_csv_is_split_per_class_by_the_stated_rule(sources, arrays):
    """Labels as names, no header: classes sorted; per class round(n x 0.2) to test, seeded."""
    options = dataset.Options(None, 0.2, 42, "auto")
    found = dataset.read_source(str(sources["one.csv"]), options)
    assert found.classes == [f"c{i}" for i in range(10)]
    assert [int((found.splits["test"].labels == c).sum()) for c in range(10)] == [5] * 10  # of 25
    both = as_set(
        np.concatenate([s.images for s in found.splits.values()]),
        np.concatenate([s.labels for s in found.splits.values()]),
    )
    assert both == as_set(
        np.concatenate([a[0] for a in arrays.values()]),
        np.concatenate([a[1] for a in arrays.values()]),
    )
    again = dataset.read_source(str(sources["one.csv"]), options)
    assert again.splits["test"].images.tobytes() == found.splits["test"].images.tobytes()
    other = dataset.read_source(str(sources["one.csv"]), dataset.Options(None, 0.2, 7, "auto"))
    assert as_set(other.splits["test"].images, other.splits["test"].labels) != as_set(
        found.splits["test"].images, found.splits["test"].labels
    )
    assert "round(n x 0.2) to test" in found.how and "(seed 42)" in found.how


def test_pictures_become_28x28_exactly_as_predict_makes_them(sources):
    """One preprocessing: what `lenet predict` (and the drawing page) feed the model."""
    options = dataset.Options(["square", "circle", "cross"], 0.2, 42, "auto")
    found = dataset.read_source(str(sources["shapes"]), options)
    assert found.classes == ["square", "circle", "cross"]
    for split in ("train", "test"):
        files = sorted((sources["shapes"] / split).rglob("*.*"))
        expected = [
            (
                ["square", "circle", "cross"].index(f.parent.name),
                np.clip(np.rint(item.pixels), 0, 255).astype(np.uint8).tobytes(),
            )
            for f, item in zip(files, predict.load(files, "auto"), strict=True)
        ]
        assert as_set(found.splits[split].images, found.splits[split].labels) == sorted(expected)
    tree = dataset.read_source(str(sources["tree"]), options)  # 5 per shape: 1 to test
    assert [int((tree.splits["test"].labels == c).sum()) for c in range(3)] == [1, 1, 1]


def snapshot(project: Path) -> dict[str, bytes]:
    """Every file of the project outside .git, .dvc and .lenet (the run lock's last record):
    what a refused add must leave alone."""
    return {
        str(p.relative_to(project)): p.read_bytes()
        for p in project.rglob("*")
        if p.is_file() and not {".git", ".dvc", ".lenet"} & set(p.relative_to(project).parts)
    }


def bad_idx_counts(root, arrays):
    folder = write_idx(root, arrays)
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx.encode(arrays["train"][1][:-1]))
    )
    return ["--from", str(folder)]


def bad_labels(root, arrays):
    return [
        "--from",
        str(write_idx(root, arrays)),
        "--classes",
        ",".join(f"k{i}" for i in range(9)),
    ]


def bad_size(root, arrays):
    big = {
        split: (np.pad(images, ((0, 0), (2, 2), (2, 2))), labels)
        for split, (images, labels) in arrays.items()
    }
    return ["--from", str(write_idx(root, big))]


def bad_empty_class(root, arrays):
    write_shapes(root, {"train": 2, "test": 2})
    for picture in (root / "test" / "cross").iterdir():
        picture.unlink()
    return ["--from", str(root)]


def bad_picture(root, arrays):
    write_shapes(root, {"train": 2, "test": 2})
    (root / "train" / "circle" / "torn.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    return ["--from", str(root)]


def bad_csv_row(root, arrays):
    root.mkdir()
    text = csv_text(*arrays["train"]).splitlines()
    text[3] = text[3] + ",7"
    (root / "train.csv").write_text("\n".join(text) + "\n")
    (root / "test.csv").write_text(csv_text(*arrays["test"]))
    return ["--from", str(root)]


BAD = {
    "counts differ": (
        bad_idx_counts,
        "blocks",
        (
            r".*/source: train-images-idx3-ubyte\.gz holds 200 images "
            r"but train-labels-idx1-ubyte\.gz 199 labels"
        ),
    ),
    "labels outside the classes": (
        bad_labels,
        "blocks",
        (
            r".*/train-labels-idx1-ubyte\.gz: labels \[9\] "
            r"outside the 9 classes \['k0', .*\]"
        ),
    ),
    "IDX not 28x28": (
        bad_size,
        "blocks",
        r".*/train-images-idx3-ubyte\.gz: images of 32x32, not 28x28 .*",
    ),
    "an empty class folder": (
        bad_empty_class,
        "blocks",
        (
            r".*/test/cross: no images \(\.png, .*\) in this "
            r"class folder"
        ),
    ),
    "an unreadable picture": (
        bad_picture,
        "blocks",
        (
            r".*/train/circle/torn\.png: not a readable image "
            r"\(Truncated File Read\)"
        ),
    ),
    "a CSV row too long": (
        bad_csv_row,
        "blocks",
        (
            r".*/train\.csv: 786 values per row, expected 785 .*|"
            r".*/train\.csv: not a CSV of label,pixel0\.\.pixel783 .*"
        ),
    ),
    "too few images to split off validation": (
        lambda root, arrays: [
            "--from",
            str(write_idx(root, {"train": make_split(1, 5), "test": make_split(1, 6)})),
        ],
        "blocks",
        (
            r"with this dataset params\.yaml would be invalid: "
            r"preprocess\.validation_fraction=0\.1 "
            r"gives 1 validation images for dataset 'blocks': fewer than its 10 classes, .*"
        ),
    ),
    "a name that exists": (
        lambda root, arrays: ["--from", str(write_idx(root, arrays))],
        "digits",
        r"dataset 'digits' exists already in params\.yaml .*",
    ),
    "a name that is no key": (
        lambda root, arrays: ["--from", str(write_idx(root, arrays))],
        "My-Data",
        r"'My-Data' is not a valid dataset name: .*",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_input_gets_one_line_and_changes_nothing(
    case, arrays, tiny_project, tmp_path, monkeypatch, capsys
):
    make, name, message = BAD[case]
    args = make(tmp_path / "source", arrays)
    before = snapshot(tiny_project)
    code, out, err = lenet(tiny_project, monkeypatch, capsys, "dataset", "add", name, *args)
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert re.fullmatch(r"error: dataset: " + message, err.strip()), err
    assert snapshot(tiny_project) == before


def test_remove_takes_out_what_add_wrote(sources, tiny_project, monkeypatch, capsys):
    before = snapshot(tiny_project)
    assert (
        lenet(
            tiny_project,
            monkeypatch,
            capsys,
            "dataset",
            "add",
            "blocks",
            "--from",
            str(sources["idx"]),
        )[0]
        == 0
    )
    code, out, _ = lenet(tiny_project, monkeypatch, capsys, "dataset", "list")
    assert code == 0 and re.search(
        r"^blocks\s+10\s+200\s+50\s+not trained\s+file://", out, re.MULTILINE
    ), out
    code, out, err = lenet(tiny_project, monkeypatch, capsys, "dataset", "remove", "blocks")
    assert code == 0, err
    after = snapshot(tiny_project)
    assert after == before
    # The last dataset, and the one the search tunes, stay: one line each, nothing changed.
    code, _, err = lenet(tiny_project, monkeypatch, capsys, "dataset", "remove", "digits")
    assert code == 1 and "'digits' is the only dataset" in err
    assert snapshot(tiny_project) == after


# --- the recipe of docs/pipeline.md, as written, with `dvc repro` -----------------------------


def recipe() -> list[list[str]]:
    """The first code block of docs/pipeline.md's "Adding a dataset", its comments cut."""
    section = (ROOT / "docs/pipeline.md").read_text().split("## Adding a dataset", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL).group(1)
    return [shlex.split(line.split("  #")[0]) for line in block.splitlines() if line.strip()]


@pytest.mark.integration
def test_the_documented_recipe_adds_trains_and_predicts_a_new_dataset_alone(reproduced_project):
    """Pictures of three shapes: the new dataset's six stages and the overview run, the tiny
    digits' stay up to date; `dvc status` is clean after; predict and the page use its model."""
    commands = recipe()
    assert [words[:3] for words in commands] == [
        ["lenet", "dataset", "add"],
        ["dvc", "repro"],
        ["lenet", "predict", "--dataset"],
    ]
    write_shapes(reproduced_project / "shapes", {"train": 16, "test": 4})
    added = run_in(reproduced_project, *commands[0])
    assert "rows: train 48, test 12" in added.stdout, added.stdout

    started = time.perf_counter()
    repro = run_in(reproduced_project, *commands[1])
    took = time.perf_counter() - started
    ran = set(re.findall(r"Running stage '([^']+)'", repro.stdout))
    assert ran == {
        f"{stage}@shapes"
        for stage in ("download", "validate", "preprocess", "train", "evaluate", "export")
    } | {"overview"}, repro.stdout
    assert all(
        f"Stage '{stage}@digits' didn't change" in repro.stdout
        for stage in ("download", "validate", "train", "export")
    ), repro.stdout
    assert run_in(reproduced_project, "dvc", "status", "dvc.yaml", "--json").stdout.strip() == "{}"
    print(f"dvc repro of the new dataset: {took:.0f} s")

    predicted = run_in(reproduced_project, *commands[2])
    assert re.search(r"circle-000\.png\s+(circle|cross|square) \(", predicted.stdout), (
        predicted.stdout
    )
    from pipeline.tools import demo

    page = demo.page_data(
        load_params(reproduced_project / "params.yaml"), ProjectPaths(reproduced_project)
    )
    assert set(page) == {"digits", "shapes"} and page["shapes"]["classes"] == list(SHAPES)
    assert "shapes" in run_in(reproduced_project, "lenet", "summary").stdout

    # Taken out again: its dvc.lock entries and outputs go, only the overview is left to rerun.
    run_in(reproduced_project, "lenet", "dataset", "remove", "shapes")
    status = json.loads(run_in(reproduced_project, "dvc", "status", "dvc.yaml", "--json").stdout)
    assert list(status) == ["overview"], status
    assert "@shapes" not in (reproduced_project / "dvc.lock").read_text()
    assert not (reproduced_project / "models/shapes").exists()
