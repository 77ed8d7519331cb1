"""`lenet predict` and the provenance the export stage writes into the ONNX file."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import yaml
from PIL import Image, ImageDraw

from harness.synthetic import make_split, run_in
from pipeline.core import idx
from pipeline.tools import predict

integration = pytest.mark.integration


def png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG that declares width x height but holds no pixels: huge to decode, tiny on disk."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))


def test_a_drawn_dark_digit_on_light_paper_becomes_an_mnist_image(tmp_path):
    photo = Image.new("RGB", (300, 400), (215, 210, 200))  # greyish paper, a dark pen "7"
    ImageDraw.Draw(photo).line([(60, 80), (240, 80), (130, 330)], fill=(30, 30, 40), width=28)
    photo.save(tmp_path / "seven.jpg")
    (item,) = predict.load([tmp_path / "seven.jpg"], invert="auto")
    image = item.pixels
    assert image.shape == (28, 28) and image.max() > 250  # inverted: light ink, full range
    assert image[0].max() == image[-1].max() == image[:, 0].max() == image[:, -1].max() == 0
    rows, cols = np.nonzero(image > 0.1 * 255)
    # the ink's box fits 20x20 (+ resampling)
    assert max(np.ptp(rows), np.ptp(cols)) + 1 in (20, 21)
    centre = [(image.sum(axis=1 - axis) * np.arange(28)).sum() / image.sum() for axis in (0, 1)]
    assert np.allclose(centre, 13.5, atol=0.6)  # centred by mass, as MNIST was


def test_unreadable_files_are_reported_by_name_and_the_rest_still_loaded(tmp_path):
    images, _ = make_split(1, seed=3)
    Image.fromarray(images[0]).save(tmp_path / "good.png")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "corrupt.png").write_bytes((tmp_path / "good.png").read_bytes()[:60])
    png_header_only(tmp_path / "huge.png", 20_000, 20_000)
    np.save(tmp_path / "wrong-shape.npy", np.zeros((3, 32, 32)))
    names = [
        "good.png",
        "notes.txt",
        "empty.png",
        "corrupt.png",
        "huge.png",
        "wrong-shape.npy",
        "gone.png",
    ]
    items = {Path(i.source).name: i for i in predict.load([tmp_path / n for n in names], "auto")}
    assert np.array_equal(items["good.png"].pixels, images[0])  # 28x28, light on dark: as it is
    assert "not an image Pillow can read" in items["notes.txt"].error
    assert items["empty.png"].error == "empty file"
    assert "not a readable image" in items["corrupt.png"].error
    assert "20000x20000 pixels is too large" in items["huge.png"].error
    assert "shape (3, 32, 32)" in items["wrong-shape.npy"].error
    assert items["gone.png"].error == "no such file"


def tiny_test_images(project: Path) -> tuple[np.ndarray, list[str]]:
    """The tiny test images and the evaluate stage's prediction for each, in test-set order."""
    images = idx.read(project / "data" / "raw" / "digits" / "t10k-images-idx3-ubyte.gz")
    rows = json.loads((project / "reports" / "eval" / "digits" / "confusion.json").read_text())
    return images, [row["predicted"] for row in rows]


def predict_json(project: Path, *args: str, check: bool = True):
    result = run_in(project, "python", "-m", "pipeline", "predict", "--dataset", "digits",
                    "--format", "json", *args, check=check)
    return result, json.loads(result.stdout) if result.stdout.strip() else None


@integration
def test_the_exported_model_carries_its_provenance(reproduced_project):
    model = reproduced_project / "models" / "digits" / "model.onnx"
    meta = ort.InferenceSession(str(model)).get_modelmeta().custom_metadata_map
    params = yaml.safe_load((reproduced_project / "params.yaml").read_text())
    metrics = json.loads((reproduced_project / "metrics" / "digits.json").read_text())
    assert meta["dataset"] == "digits"
    assert json.loads(meta["classes"]) == params["datasets"]["digits"]["classes"]
    assert json.loads(meta["data_md5"]) == {
        f["name"]: f["md5"] for f in params["datasets"]["digits"]["files"].values()
    }
    assert json.loads(meta["test_accuracy"]) == metrics["test"]["accuracy"]
    assert json.loads(meta["input"])["shape"] == ["N", 28, 28]
    assert json.loads(meta["reproducibility"])["cpu_isa"] == params["reproducibility"]["cpu_isa"]
    assert meta["opset"] == "15" and onnx.load(str(model)).opset_import[0].version == 15
    code_commit = run_in(
        reproduced_project, "git", "log", "-1", "--format=%H", "--", "pipeline"
    ).stdout
    assert meta["git_commit"] == code_commit.strip()
    assert len(meta["params_sha256"]) == 64
    card = json.loads((reproduced_project / "models" / "digits" / "model_card.json").read_text())
    assert {k: json.dumps(v) if not isinstance(v, str) else v for k, v in card.items()
            if k != "onnx_check"} == dict(meta)


@integration
def test_predict_on_pngs_agrees_with_the_evaluate_stage_and_reports_bad_files(
    reproduced_project, tmp_path
):
    images, evaluated = tiny_test_images(reproduced_project)
    files = []
    for i, image in enumerate(images):
        # Every third image as dark ink on light paper: detected and inverted back.
        Image.fromarray(255 - image if i % 3 == 0 else image).save(tmp_path / f"{i:03d}.png")
        files.append(str(tmp_path / f"{i:03d}.png"))
    (tmp_path / "notes.txt").write_text("not an image")
    png_header_only(tmp_path / "huge.png", 20_000, 20_000)
    bad = [str(tmp_path / "notes.txt"), str(tmp_path / "huge.png")]

    result, rows = predict_json(reproduced_project, *bad[:1], *files, *bad[1:], check=False)
    assert result.returncode == 1  # some files failed; the others were classified
    assert [row["top"][0]["class"] for row in rows[1:-1]] == evaluated
    assert "error" in rows[0] and "error" in rows[-1]
    assert f"error: {bad[1]}: 20000x20000 pixels is too large" in result.stderr
    # The IDX file itself: every image, the same answers.
    raw = reproduced_project / "data" / "raw" / "digits" / "t10k-images-idx3-ubyte.gz"
    _, rows = predict_json(reproduced_project, str(raw), "--top", "1")
    assert [row["top"][0]["class"] for row in rows] == evaluated


@integration
def test_verify_refuses_a_model_trained_on_other_data_or_without_provenance(
    reproduced_project, tmp_path
):
    image = tmp_path / "one.png"
    Image.fromarray(tiny_test_images(reproduced_project)[0][0]).save(image)
    assert predict_json(reproduced_project, "--check-provenance", str(image))[0].returncode == 0

    params_file = reproduced_project / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    params["datasets"]["digits"]["files"]["test_images"]["md5"] = "0" * 32  # the data changed
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    result, _ = predict_json(reproduced_project, "--check-provenance", str(image), check=False)
    assert (
        result.returncode == 1
        and "trained on other data than params.yaml's digits" in result.stderr
    )

    result, _ = predict_json(reproduced_project, "--top", "0", str(image), check=False)
    assert result.returncode == 1 and "--top must be at least 1" in result.stderr

    bare = tmp_path / "bare.onnx"
    proto = onnx.load(str(reproduced_project / "models" / "digits" / "model.onnx"))
    del proto.metadata_props[:]
    onnx.save(proto, str(bare))
    result, _ = predict_json(
        reproduced_project, "--check-provenance", "--model", str(bare), str(image), check=False
    )
    assert result.returncode == 1 and "no provenance metadata" in result.stderr


@integration
def test_predict_never_imports_tensorflow(reproduced_project, tmp_path):
    image = tmp_path / "one.png"
    images, evaluated = tiny_test_images(reproduced_project)
    Image.fromarray(images[0]).save(image)
    check = (
        "import sys; from pipeline.cli import main; "
        f"code = main(['predict', '--dataset', 'digits', {str(image)!r}]); "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules; sys.exit(code)"
    )
    result = run_in(reproduced_project, "python", "-c", check)
    assert f"  {evaluated[0]} (" in result.stdout  # and it classified, as the evaluate stage did


def registry_name(dataset: str) -> str:
    return "lenet5-" + dataset.replace("_", "-")


def test_every_dataset_has_a_registry_entry_for_its_exported_model():
    root = Path(__file__).resolve().parents[1]
    artifacts = yaml.safe_load((root / "dvc.yaml").read_text())["artifacts"]
    datasets = yaml.safe_load((root / "params.yaml").read_text())["datasets"]
    assert {registry_name(d): f"models/{d}/model.onnx" for d in datasets} == \
        {name: entry["path"] for name, entry in artifacts.items()}
    assert {entry["type"] for entry in artifacts.values()} == {"model"}


@integration
def test_dvc_artifacts_get_fetches_the_model_by_name(reproduced_project, tmp_path):
    dvc_yaml = reproduced_project / "dvc.yaml"
    pipeline = yaml.safe_load(dvc_yaml.read_text())
    pipeline["artifacts"] = {
        registry_name("digits"): {"path": "models/digits/model.onnx", "type": "model"}
    }
    dvc_yaml.write_text(yaml.safe_dump(pipeline, sort_keys=False))
    run_in(reproduced_project, "dvc", "remote", "add", "-d", "shared", str(tmp_path / "remote"))
    run_in(reproduced_project, "dvc", "push", "-q")
    run_in(reproduced_project, "git", "commit", "-qam", "registry entry and remote")
    # A version is a git tag in the registry's convention (GTO): <name>@v<semver>.
    run_in(reproduced_project, "git", "tag", "-a", "lenet5-digits@v1.0.0", "-m", "first model")

    run_in(
        tmp_path,
        "dvc",
        "artifacts",
        "get",
        str(reproduced_project),
        "lenet5-digits",
        "-o",
        "got.onnx",
    )
    model = reproduced_project / "models" / "digits" / "model.onnx"
    assert (tmp_path / "got.onnx").read_bytes() == model.read_bytes()


@integration
def test_predict_with_only_a_model_file_works_outside_the_project(reproduced_project, tmp_path):
    """What a user with a downloaded model.onnx does: no checkout, no params.yaml, no --dataset."""
    import shutil
    import sys

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(reproduced_project / "models" / "digits" / "model.onnx", elsewhere / "model.onnx")
    images, evaluated = tiny_test_images(reproduced_project)
    for i, image in enumerate(images):
        Image.fromarray(image).save(elsewhere / f"{i:03d}.png")
    lenet = str(Path(sys.executable).parent / "lenet")
    files = sorted(str(p.name) for p in elsewhere.glob("*.png"))
    result = run_in(
        elsewhere, lenet, "predict", "--model", "model.onnx", "--format", "json", *files
    )
    assert [row["top"][0]["class"] for row in json.loads(result.stdout)] == evaluated
    assert not (elsewhere / "params.yaml").exists()

    checked = run_in(
        elsewhere, lenet, "predict", "--model", "model.onnx", "--check-provenance", files[0]
    )
    assert "provenance present (trained on digits" in checked.stderr
    assert "no params.yaml here to compare the data with" in checked.stderr

    nothing = run_in(elsewhere, lenet, "predict", files[0], check=False)
    assert nothing.returncode == 1 and "say which model: --model FILE" in nothing.stderr
    assert "Traceback" not in nothing.stderr

    proto = onnx.load(str(elsewhere / "model.onnx"))
    del proto.metadata_props[:]
    onnx.save(proto, str(elsewhere / "bare.onnx"))
    bare = run_in(elsewhere, lenet, "predict", "--model", "bare.onnx", files[0], check=False)
    assert bare.returncode == 1 and "missing dataset, classes, input" in bare.stderr
