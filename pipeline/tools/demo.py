"""`lenet demo`: a page on 127.0.0.1 that classifies what you draw, with the exported models.

The models run in the page through ONNX Runtime Web (npm `onnxruntime-web`, pinned in
tools/demo-assets/package-lock.json and served from this machine: the page fetches nothing from
the network). On load it classifies a strip of real test images and shows their labels beside
its answers; then draw with a mouse, pen or finger, or drop a picture. A drawing becomes the
model's 28x28 input exactly as `lenet predict` makes it (pipeline/tools/predict.py's
read_picture and to_mnist, ported to JavaScript in demo_page/draw.js, Pillow's LANCZOS resampling
included).

Served: the page (demo_page/index.html, its stylesheet and script inlined), /data.json (per
dataset: classes, provenance, the strip), /model/<dataset>.onnx and /ort/<ONNX Runtime Web's wasm
build>. Nothing else of the machine is reachable through it.
"""

from __future__ import annotations

import http.server
import json
import logging
from importlib import resources
from pathlib import Path

from pipeline.core import idx
from pipeline.core.config import Params
from pipeline.core.errors import PipelineError
from pipeline.core.paths import DatasetPaths, ProjectPaths
from pipeline.pages import assets

log = logging.getLogger("pipeline")
STRIP = 12  # real test images shown on load, with their labels and the page's answers
HOST = "127.0.0.1"
ORT_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm",
         ".onnx": "application/octet-stream", ".json": "application/json",
         ".html": "text/html; charset=utf-8"}


# The page, package data in demo_page/: index.html links its stylesheet and script, which the
# server inlines, so that the page is one document and the tags below its only references to them.
PAGE_FILES = resources.files("pipeline.tools") / "demo_page"
INLINED = {'<link rel="stylesheet" href="draw.css">': ("style", "draw.css"),
           '<script src="draw.js"></script>': ("script", "draw.js")}


class DemoError(PipelineError):
    """The page cannot be served: a model, its card or the assets are missing."""


def assets_dir(project: ProjectPaths) -> Path:
    return project.root / "tools" / "demo-assets"


def install_assets(project: ProjectPaths) -> None:
    """npm ci of the pinned ONNX Runtime Web (and the browser driver the page's test uses)."""
    assets.npm_ci(assets_dir(project))


def page_data(params: Params, project: ProjectPaths) -> dict:
    """What the page shows besides the drawing: per dataset with an exported model, its classes,
    provenance (commit, test accuracy) and the first STRIP test images with their labels and the
    evaluate stage's predictions."""
    found = {}
    for name, dataset in params.datasets.items():
        paths = DatasetPaths(name, project.root)
        if not paths.onnx_model.exists():
            continue
        card = json.loads(paths.model_card_json.read_text())
        images = idx.read(paths.raw / dataset.files.test_images.name)[:STRIP]
        labels = idx.read(paths.raw / dataset.files.test_labels.name)[:STRIP]
        evaluated = json.loads(paths.confusion.read_text())[:STRIP]
        found[name] = {
            "classes": dataset.classes,
            "commit": card["git_commit"],
            "test_accuracy": card["test_accuracy"],
            "strip": [{"pixels": image.reshape(-1).tolist(), "label": dataset.classes[int(label)],
                       "evaluated": row["predicted"]}
                      for image, label, row in zip(images, labels, evaluated, strict=True)],
        }
    if not found:
        raise DemoError("no exported model: run `make repro` (or `dvc pull`) first")
    return found


def page() -> str:
    """index.html with draw.css and draw.js inlined where it links them."""
    text = (PAGE_FILES / "index.html").read_text(encoding="utf-8")
    for tag, (element, name) in INLINED.items():
        if text.count(tag) != 1:
            raise DemoError(f"{PAGE_FILES / 'index.html'}: expected {tag} once")
        code = (PAGE_FILES / name).read_text(encoding="utf-8")
        if f"</{element}" in code:
            raise DemoError(f"{PAGE_FILES / name}: contains </{element}: it cannot be inlined")
        text = text.replace(tag, f"<{element}>\n{code}</{element}>")
    return text


def routes(params: Params, project: ProjectPaths) -> dict[str, Path | bytes]:
    ort_dist = assets_dir(project) / "node_modules" / "onnxruntime-web" / "dist"
    missing = [name for name in ORT_FILES if not (ort_dist / name).exists()]
    if missing:
        raise DemoError(f"{ort_dist}: {', '.join(missing)} missing: run `lenet assets` "
                        "(make install)")
    data = page_data(params, project)
    document = page().encode()
    table: dict[str, Path | bytes] = {
        "/": document, "/index.html": document,
        "/data.json": json.dumps(data).encode(),
    }
    table |= {f"/model/{name}.onnx": DatasetPaths(name, project.root).onnx_model for name in data}
    table |= {f"/ort/{name}": ort_dist / name for name in ORT_FILES}
    return table


def serve(params: Params, project: ProjectPaths, port: int) -> None:
    table = routes(params, project)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            route = self.path.split("?", 1)[0]
            target = table.get(route)
            if target is None:
                self.send_error(404)
                return
            body = target if isinstance(target, bytes) else target.read_bytes()
            self.send_response(200)  # the route's suffix says the type; "/" is the page
            self.send_header("Content-Type", TYPES.get(Path(route).suffix or ".html",
                                                       "application/octet-stream"))
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # quiet: one line per request is noise here
            pass

    server = http.server.ThreadingHTTPServer((HOST, port), Handler)
    print(f"demo: http://{HOST}:{server.server_address[1]}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
