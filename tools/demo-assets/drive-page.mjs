// Drives the `lenet demo` page in Debian's headless Chromium through playwright-core, with every
// request that would leave 127.0.0.1 refused and recorded. Used by tests/test_demo.py and
// bench/demo_page.py:
//   node tools/demo-assets/drive-page.mjs URL OUT.json [SCREENSHOT.png] < images.json
// images.json: [{"rgba": base64, "width": w, "height": h}, ...] whose page inputs to return.
// Writes {ready_ms, strip, drawn, inference_ms, inputs, refused, bytes} to OUT.json.
import { readFileSync, writeFileSync } from "node:fs";
import { chromium } from "playwright-core";

const [url, out, screenshot] = process.argv.slice(2);
const images = JSON.parse(readFileSync(0, "utf8") || "[]");
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"],
});
const refused = [];
let bytes = 0;
try {
  const page = await browser.newPage({ viewport: { width: 900, height: 1100 } });
  await page.route("**/*", route => {
    const target = new URL(route.request().url());
    if (target.hostname === "127.0.0.1") return route.continue();
    refused.push(route.request().url());
    return route.abort();
  });
  page.on("response", async response => {
    try { bytes += (await response.body()).length; } catch { /* redirects have no body */ }
  });
  await page.goto(url);
  await page.waitForSelector("body[data-ready], body[data-error]", { timeout: 120000 });
  const error = await page.getAttribute("body", "data-error");
  if (error) throw new Error("the page did not start: " + error);
  const readyMs = Number(await page.getAttribute("body", "data-ready"));
  const strip = await page.$$eval("#strip li", items => items.map(li => (
    { label: li.dataset.label, page: li.dataset.page, evaluated: li.dataset.evaluated })));

  // A "1" drawn with real pointer events: down, a vertical stroke, up.
  const pad = await page.locator("#pad").boundingBox();
  const x = pad.x + pad.width / 2;
  await page.mouse.move(x, pad.y + pad.height * 0.15);
  await page.mouse.down();
  for (let i = 1; i <= 20; i++) await page.mouse.move(x, pad.y + pad.height * (0.15 + 0.7 * i / 20));
  await page.mouse.up();
  await page.waitForSelector("#prediction[data-top]", { timeout: 30000 });
  const drawn = {
    top: await page.getAttribute("#prediction", "data-top"),
    live: await page.getAttribute("#prediction", "aria-live"),
    text: await page.textContent("#prediction"),
  };
  const inferenceMs = await page.evaluate(async () => {
    const started = performance.now();
    for (let i = 0; i < 20; i++) await update();  // preprocessing and the model, as on each stroke
    return (performance.now() - started) / 20;
  });
  const inputs = await page.evaluate(list => list.map(({ rgba, width, height }) => {
    const raw = Uint8ClampedArray.from(atob(rgba), c => c.charCodeAt(0));
    const result = window.lenetInput(raw, width, height);
    return result ? Array.from(result) : null;
  }), images);
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  writeFileSync(out, JSON.stringify({ ready_ms: readyMs, strip, drawn, inference_ms: inferenceMs,
                                      inputs, refused, bytes }));
} finally {
  await browser.close();
}
