"""`lenet demo`'s page as package data: the files an installed package ships are the page the
server sends, its stylesheet and drawing script inlined."""

from __future__ import annotations

import fnmatch
import tomllib
from importlib import resources

from harness.synthetic import ROOT
from pipeline.core.paths import ProjectPaths
from pipeline.tools import demo

PAGE_FILES = ("index.html", "draw.css", "draw.js")


def packaged(name: str) -> str:
    return (resources.files("pipeline.tools") / "demo_page" / name).read_text(encoding="utf-8")


def test_the_page_files_are_package_data():
    """pyproject.toml's package data names each file, so a non-editable install has them too."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["pipeline.tools"]
    for name in PAGE_FILES:
        assert packaged(name), name
        assert any(fnmatch.fnmatch(f"demo_page/{name}", p) for p in patterns), name


def test_the_served_page_is_the_packaged_page_with_its_drawing_script(tmp_path, monkeypatch):
    ort = tmp_path / "tools" / "demo-assets" / "node_modules" / "onnxruntime-web" / "dist"
    ort.mkdir(parents=True)
    for name in demo.ORT_FILES:
        (ort / name).write_bytes(b"")
    monkeypatch.setattr(demo, "page_data", lambda params, project: {})
    table = demo.routes(None, ProjectPaths(tmp_path))

    served = table["/"].decode()
    assert table["/index.html"] == table["/"]
    script, style = packaged("draw.js"), packaged("draw.css")
    assert "window.lenetInput = inputOf;" in script  # the drawing's preprocessing
    assert f"<script>\n{script}</script>" in served
    assert f"<style>\n{style}</style>" in served
    # index.html around them, and no link to a file the server does not serve
    head, _, _ = packaged("index.html").partition("<link")
    assert served.startswith(head)
    assert "draw.js" not in served and "draw.css" not in served
