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
