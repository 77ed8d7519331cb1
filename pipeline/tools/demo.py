"""`lenet demo`: a page on 127.0.0.1 that classifies what you draw, with the exported models.

The models run in the page through ONNX Runtime Web (npm `onnxruntime-web`, pinned in
tools/demo-assets/package-lock.json and served from this machine: the page fetches nothing from
the network). On load it classifies a strip of real test images and shows their labels beside
its answers; then draw with a mouse, pen or finger, or drop a picture. A drawing becomes the
model's 28x28 input exactly as `lenet predict` makes it (pipeline/tools/predict.py's
read_picture and to_mnist, ported to JavaScript below, Pillow's LANCZOS resampling included).

Served: the page, /data.json (per dataset: classes, provenance, the strip), /model/<dataset>.onnx
and /ort/<ONNX Runtime Web's wasm build>. Nothing else of the machine is reachable through it.
"""

from __future__ import annotations

import http.server
import json
import logging
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


def routes(params: Params, project: ProjectPaths) -> dict[str, Path | bytes]:
    ort_dist = assets_dir(project) / "node_modules" / "onnxruntime-web" / "dist"
    missing = [name for name in ORT_FILES if not (ort_dist / name).exists()]
    if missing:
        raise DemoError(f"{ort_dist}: {', '.join(missing)} missing: run `lenet assets` "
                        "(make install)")
    data = page_data(params, project)
    table: dict[str, Path | bytes] = {
        "/": PAGE.encode(), "/index.html": PAGE.encode(),
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


PAGE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>LeNet-5: draw, and a model classifies it</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;color:#222}
header{background:#1f3a5f;color:#fff;padding:.6em 1em}header h1{margin:0;font-size:1.3em}
main{max-width:60em;margin:0 auto;padding:1em;display:grid;gap:1em;grid-template-columns:1fr}
@media (min-width:700px){main{grid-template-columns:auto 1fr}}
canvas#pad{width:280px;height:280px;max-width:90vw;max-height:90vw;border:2px solid #1f3a5f;
  touch-action:none;background:#fff;cursor:crosshair}
.bars div{display:flex;align-items:center;gap:.5em;margin:.15em 0}
.bars span.name{min-width:7em}.bars span.bar{background:#1f3a5f;height:.9em}
#strip{display:flex;flex-wrap:wrap;gap:.5em;list-style:none;padding:0}
#strip li{text-align:center;font-size:.8em}#strip canvas{width:56px;height:56px;image-rendering:pixelated}
.wrong{color:#b00020}button,select{font-size:1em;padding:.3em .8em}
#drop{border:2px dashed #aaa;padding:.6em;margin-top:.5em}
</style></head>
<body>
<header><h1>LeNet-5: draw, and a model classifies it</h1></header>
<main>
<section aria-label="drawing">
  <label for="dataset">Model</label>
  <select id="dataset"></select>
  <p id="provenance"></p>
  <canvas id="pad" width="280" height="280" aria-label="drawing area: draw with a mouse, pen or finger"></canvas>
  <div><button id="clear" type="button">Clear</button></div>
  <div id="drop" tabindex="0" aria-label="drop an image here, or choose a file">
    Drop an image here, or <label>choose one <input id="file" type="file" accept="image/*"></label></div>
</section>
<section>
  <h2>Prediction</h2>
  <div id="prediction" class="bars" role="status" aria-live="polite">Draw something.</div>
  <h2>Test images</h2>
  <p>The first test images, their labels, and what this page's model says (red: wrong).</p>
  <ul id="strip"></ul>
  <p id="status" role="status"></p>
</section>
</main>
<script src="ort/ort.wasm.min.js"></script>
<script>
"use strict";
// --- the preprocessing of pipeline/tools/predict.py, step for step ---
const SIDE = 28, BOX = 20;
function pyRound(x) {  // Python's round(): halves to even
  const f = Math.floor(x), d = x - f;
  if (d > 0.5) return f + 1; if (d < 0.5) return f; return f % 2 === 0 ? f : f + 1;
}
function median(values) {
  const s = Float64Array.from(values).sort(), n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}
function paperShade(g, w, h) {
  const border = [];
  for (let x = 0; x < w; x++) border.push(g[x]);
  for (let x = 0; x < w; x++) border.push(g[(h - 1) * w + x]);
  for (let y = 0; y < h; y++) border.push(g[y * w]);
  for (let y = 0; y < h; y++) border.push(g[y * w + w - 1]);
  return median(border);
}
function greyOf(rgba, w, h) {  // Pillow's convert("L") of an image composited over white
  const g = new Float32Array(w * h);
  for (let i = 0; i < w * h; i++) {
    let [r, gg, b, a] = [rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2], rgba[4 * i + 3]];
    if (a < 255) {  // alpha_composite over white, as Pillow does for 8-bit channels
      r = Math.round((r * a + 255 * (255 - a)) / 255); gg = Math.round((gg * a + 255 * (255 - a)) / 255);
      b = Math.round((b * a + 255 * (255 - a)) / 255);
    }
    g[i] = (r * 19595 + gg * 38470 + b * 7471 + 0x8000) >> 16;
  }
  return g;
}
function lanczos(x) {
  const sinc = v => { if (v === 0) return 1; v *= Math.PI; return Math.sin(v) / v; };
  return (-3 <= x && x < 3) ? sinc(x) * sinc(x / 3) : 0;
}
function coefficients(inSize, outSize) {  // Pillow's precompute_coeffs, LANCZOS (support 3)
  const scale = inSize / outSize, filterscale = Math.max(scale, 1), support = 3 * filterscale;
  const out = [];
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale, ss = 1 / filterscale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    const k = []; let ww = 0;
    for (let x = 0; x < xmax; x++) { const w = lanczos((x + xmin - center + 0.5) * ss); k.push(w); ww += w; }
    out.push({xmin, k: k.map(w => ww !== 0 ? w / ww : w)});
  }
  return out;
}
function resizeF(src, w, h, nw, nh) {  // Pillow's resize of a mode "F" image: horizontal, then vertical
  let cur = src, cw = w;
  if (nw !== w) {
    const cs = coefficients(w, nw), t = new Float32Array(nw * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < nw; x++) {
      let s = 0; const {xmin, k} = cs[x];
      for (let i = 0; i < k.length; i++) s += cur[y * w + xmin + i] * k[i];
      t[y * nw + x] = s;
    }
    cur = t; cw = nw;
  }
  if (nh !== h) {
    const cs = coefficients(h, nh), t = new Float32Array(cw * nh);
    for (let y = 0; y < nh; y++) { const {xmin, k} = cs[y];
      for (let x = 0; x < cw; x++) {
        let s = 0; for (let i = 0; i < k.length; i++) s += cur[(xmin + i) * cw + x] * k[i];
        t[y * cw + x] = s;
      } }
    cur = t;
  }
  return cur;
}
function toMnist(g, w, h) {  // predict.to_mnist
  const paper = paperShade(g, w, h); let peak = -Infinity;
  for (const v of g) peak = Math.max(peak, v);
  if (peak - paper < 16) return null;  // no ink
  const ink = new Float32Array(w * h);
  let r0 = h, r1 = -1, c0 = w, c1 = -1;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const v = Math.min(Math.max((g[y * w + x] - paper) / (peak - paper), 0), 1) * 255;
    ink[y * w + x] = v;
    if (v > 0.1 * 255) { r0 = Math.min(r0, y); r1 = Math.max(r1, y); c0 = Math.min(c0, x); c1 = Math.max(c1, x); }
  }
  const bh = r1 - r0 + 1, bw = c1 - c0 + 1, box = new Float32Array(bw * bh);
  for (let y = 0; y < bh; y++) for (let x = 0; x < bw; x++) box[y * bw + x] = ink[(r0 + y) * w + c0 + x];
  const scale = BOX / Math.max(bh, bw);
  const nw = Math.max(1, pyRound(bw * scale)), nh = Math.max(1, pyRound(bh * scale));
  const small = resizeF(box, bw, bh, nw, nh).map(v => Math.min(Math.max(v, 0), 255));
  let total = 0, cr = 0, cc = 0;
  for (let y = 0; y < nh; y++) for (let x = 0; x < nw; x++) { const v = small[y * nw + x]; total += v; cr += v * y; cc += v * x; }
  cr /= total; cc /= total;
  const top = Math.min(Math.max(pyRound(SIDE / 2 - 0.5 - cr), 0), SIDE - nh);
  const left = Math.min(Math.max(pyRound(SIDE / 2 - 0.5 - cc), 0), SIDE - nw);
  const out = new Float32Array(SIDE * SIDE);
  for (let y = 0; y < nh; y++) for (let x = 0; x < nw; x++) out[(top + y) * SIDE + left + x] = small[y * nw + x];
  return out;
}
function inputOf(rgba, w, h) {  // predict.read_picture: grey, polarity, then 28x28
  let g = greyOf(rgba, w, h);
  if (paperShade(g, w, h) > 127) g = g.map(v => 255 - v);  // dark ink on light paper
  return (w === SIDE && h === SIDE) ? g : toMnist(g, w, h);
}
window.lenetInput = inputOf;  // for the parity test

// --- the page ---
const $ = id => document.getElementById(id);
let data, sessions = {}, current;
ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = new URL("ort/", location.href).href;
async function classify(name, pixels) {
  const session = sessions[name];
  const out = await session.run({[session.inputNames[0]]: new ort.Tensor("float32", pixels, [1, SIDE, SIDE])});
  const p = out[session.outputNames[0]].data, classes = data[name].classes;
  return Array.from(p, (v, i) => ({name: classes[i], p: v})).sort((a, b) => b.p - a.p);
}
function showPrediction(ranked) {
  $("prediction").innerHTML = "";
  for (const {name, p} of ranked.slice(0, 3)) {
    const row = document.createElement("div");
    row.innerHTML = `<span class="name"></span><span class="bar" style="width:${Math.round(p * 200)}px"></span><span>${(100 * p).toFixed(1)}%</span>`;
    row.querySelector(".name").textContent = name;
    $("prediction").append(row);
  }
  $("prediction").dataset.top = ranked[0].name;
}
function drawGrey(canvas, pixels) {
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(SIDE, SIDE);
  pixels.forEach((v, i) => { img.data.set([255 - v, 255 - v, 255 - v, 255], 4 * i); });
  ctx.putImageData(img, 0, 0);
}
async function showStrip(name) {
  $("strip").innerHTML = "";
  for (const item of data[name].strip) {
    const li = document.createElement("li"), c = document.createElement("canvas");
    c.width = c.height = SIDE; drawGrey(c, item.pixels);
    const top = (await classify(name, Float32Array.from(item.pixels)))[0].name;
    li.append(c); li.insertAdjacentHTML("beforeend", `<div></div><div></div>`);
    li.children[1].textContent = "label: " + item.label;
    li.children[2].textContent = "page: " + top;
    if (top !== item.label) li.classList.add("wrong");
    li.dataset.label = item.label; li.dataset.page = top; li.dataset.evaluated = item.evaluated;
    $("strip").append(li);
  }
}
async function select(name) {
  current = name;
  const d = data[name];
  $("provenance").textContent = `${name}: test accuracy ${(100 * d.test_accuracy).toFixed(2)}%, code at commit ${d.commit.slice(0, 12)}`;
  await showStrip(name);
  await update();
}
const pad = $("pad"), pen = pad.getContext("2d");
function clearPad() { pen.fillStyle = "#fff"; pen.fillRect(0, 0, pad.width, pad.height);
  $("prediction").textContent = "Draw something."; delete $("prediction").dataset.top; }
let drawing = false, last, pending = false;
async function update() {
  const input = inputOf(pen.getImageData(0, 0, pad.width, pad.height).data, pad.width, pad.height);
  if (!input) return;
  showPrediction(await classify(current, input));
}
function schedule() { if (!pending) { pending = true; requestAnimationFrame(async () => { pending = false; await update(); }); } }
function point(e) { const r = pad.getBoundingClientRect(); return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height]; }
pad.addEventListener("pointerdown", e => { drawing = true; last = point(e); pad.setPointerCapture?.(e.pointerId); });
pad.addEventListener("pointermove", e => {
  if (!drawing) return;
  const p = point(e);
  pen.strokeStyle = "#000"; pen.lineWidth = 18; pen.lineCap = pen.lineJoin = "round";
  pen.beginPath(); pen.moveTo(...last); pen.lineTo(...p); pen.stroke(); last = p; schedule();
});
for (const type of ["pointerup", "pointercancel", "pointerleave"]) pad.addEventListener(type, () => { if (drawing) { drawing = false; schedule(); } });
$("clear").addEventListener("click", clearPad);
async function fromFile(file) {
  const bitmap = await createImageBitmap(file), c = document.createElement("canvas");
  c.width = bitmap.width; c.height = bitmap.height; const ctx = c.getContext("2d"); ctx.drawImage(bitmap, 0, 0);
  const input = inputOf(ctx.getImageData(0, 0, c.width, c.height).data, c.width, c.height);
  if (!input) { $("prediction").textContent = "No ink found in that image."; return; }
  clearPad(); showPrediction(await classify(current, input));
}
$("file").addEventListener("change", e => e.target.files[0] && fromFile(e.target.files[0]));
$("drop").addEventListener("dragover", e => e.preventDefault());
$("drop").addEventListener("drop", e => { e.preventDefault(); e.dataTransfer.files[0] && fromFile(e.dataTransfer.files[0]); });
$("dataset").addEventListener("change", e => select(e.target.value));
(async () => {
  const started = performance.now();
  data = await (await fetch("data.json")).json();
  for (const name of Object.keys(data)) {
    sessions[name] = await ort.InferenceSession.create(`model/${name}.onnx`, {executionProviders: ["wasm"]});
    $("dataset").append(new Option(name, name));
  }
  clearPad();
  await select(Object.keys(data)[0]);
  document.body.dataset.ready = (performance.now() - started).toFixed(0);
  $("status").textContent = `Ready: models loaded and the test images classified in ${document.body.dataset.ready} ms.`;
})().catch(error => { $("status").textContent = "Could not start: " + error; document.body.dataset.error = String(error); });
</script>
</body></html>
"""
