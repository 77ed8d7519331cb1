"""`lenet demo`: the page classifies in headless Chromium, offline, as `lenet predict` would."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from harness.helpers import DEMO_ASSETS, drive_demo
from pipeline.tools import predict
from tests.test_predict import tiny_test_images

pytestmark = pytest.mark.integration


def test_the_page_classifies_the_test_strip_and_a_drawing_offline_as_predict_would(
        reproduced_project, tmp_path):
    # The project's own copy of the pinned ONNX Runtime Web, as `lenet assets` installs it.
    (reproduced_project / "tools" / "demo-assets").mkdir(parents=True, exist_ok=True)
    (reproduced_project / "tools" / "demo-assets" / "node_modules").symlink_to(
        DEMO_ASSETS / "node_modules"
    )
    images, evaluated = tiny_test_images(reproduced_project)
    pictures = []
    drawn = Image.new("RGB", (280, 280), "white")  # a 7, dark ink on light paper, any size
    ImageDraw.Draw(drawn).line([(60, 60), (220, 60), (120, 240)], fill="black", width=18)
    drawn.save(tmp_path / "drawn.png")
    pictures.append(tmp_path / "drawn.png")
    Image.fromarray(images[0]).save(tmp_path / "real.png")  # the datasets' own format
    Image.fromarray(255 - images[1]).resize((97, 131), Image.BILINEAR).save(tmp_path / "photo.png")
    pictures += [tmp_path / "real.png", tmp_path / "photo.png"]

    seen = drive_demo(reproduced_project, pictures, tmp_path / "page.json")

    assert seen["refused"] == [], seen["refused"]  # nothing left 127.0.0.1
    strip = seen["strip"]
    assert len(strip) == min(12, len(evaluated))
    # the evaluate stage's answers
    assert [item["page"] for item in strip] == evaluated[:len(strip)]
    assert all(item["evaluated"] == answer for item, answer in zip(strip, evaluated, strict=False))
    # the pointer-drawn stroke, classified
    assert seen["drawn"]["top"] in {f"c{i}" for i in range(10)}
    assert seen["drawn"]["live"] == "polite"
    for picture, page in zip(pictures, seen["inputs"], strict=True):
        ours = predict.read_picture(picture, "auto")
        assert np.abs(np.asarray(page).reshape(28, 28) - ours).max() <= 1, picture.name
