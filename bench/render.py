"""Benchmark: canvas frame time of the annotation workspace renderer.

A 3840x2160 synthetic image and 200 masks (random ellipses, COCO RLE compressed by
pycocotools) are loaded into the real renderer modules (frontend/static/frontend/js,
built by scripts/build-frontend) in headless Chromium. The page is served straight from
the files through Playwright's request routing (no web server). Then the view pans and
zooms through many frames (fit -> 1:1 -> 8x and back, across the image) and each frame
is timed with performance.now() around `renderer.render()`, twice over:

* ``render``        - the render call alone (Chromium may defer rasterization);
* ``render+flush``  - the call plus a 1-pixel getImageData, which forces the canvas to
  rasterize everything drawn, so the figure includes the actual pixel work;
* ``unbaked+flush`` - the same right after a mask change, before the renderer has baked
  image and masks into one pyramid (it does so when idle): two scaled draws per frame.

Usage: ``.venv/bin/python bench/render.py [--frames 400] [--masks 200]`` (~20 s).
The target is p95 < 16 ms (60 fps) for render+flush.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "frontend" / "static"
WIDTH, HEIGHT = 3840, 2160
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

HARNESS = """<!doctype html>
<html><head><style>html,body{margin:0;height:100%;overflow:hidden}
canvas{display:block;width:100vw;height:100vh}</style></head>
<body><canvas id="c"></canvas>
<script type="module">
import { Renderer } from "/static/frontend/js/renderer.js";
import { MaskBitmap, MaskLayer, makeCanvas, context2d } from "/static/frontend/js/masks.js";
import { fitView, zoomAt, panBy } from "/static/frontend/js/view.js";

function syntheticImage(w, h) {
  const canvas = makeCanvas(w, h);
  const ctx = context2d(canvas);
  const g = ctx.createLinearGradient(0, 0, w, h);
  g.addColorStop(0, "#264653"); g.addColorStop(0.5, "#e9c46a"); g.addColorStop(1, "#e76f51");
  ctx.fillStyle = g; ctx.fillRect(0, 0, w, h);
  for (let i = 0; i < 3000; i++) {
    ctx.fillStyle = `hsl(${(i * 37) % 360} 60% ${30 + (i % 40)}%)`;
    ctx.fillRect((i * 7919) % w, (i * 104729) % h, 4 + (i % 60), 4 + (i % 45));
  }
  return canvas;
}

window.runBench = async ({ frames, masks }) => {
  const canvas = document.getElementById("c");
  const renderer = new Renderer(canvas);
  let t = performance.now();
  renderer.setImage(syntheticImage(__W__, __H__), __W__, __H__);
  const imageMs = performance.now() - t;
  t = performance.now();
  const bitmaps = masks.map((m) => MaskBitmap.fromRle(m.rle, m.color));
  const decodeMs = performance.now() - t;
  const layer = new MaskLayer(__W__, __H__);
  layer.setItems(bitmaps.map((bitmap) => ({ bitmap, visible: true })));
  renderer.layer = layer;
  t = performance.now();
  layer.level(0);
  const layerMs = performance.now() - t;
  const fit = fitView(__W__, __H__, renderer.width, renderer.height);
  const center = { x: renderer.width / 2, y: renderer.height / 2 };
  // A scripted session: zoom in around moving points, pan, zoom out again.
  const views = [];
  let view = fit;
  for (let i = 0; i < frames; i++) {
    const phase = i % 100;
    const anchor = { x: center.x + Math.sin(i / 7) * renderer.width * 0.3,
                     y: center.y + Math.cos(i / 11) * renderer.height * 0.3 };
    if (phase < 30) view = zoomAt(view, anchor, 1.12);
    else if (phase < 60) view = panBy(view, 23 * Math.sin(i / 5), 17 * Math.cos(i / 9));
    else if (phase < 90) view = zoomAt(view, anchor, 1 / 1.12);
    else view = fit;
    views.push(view);
  }
  t = performance.now();
  renderer.bake();
  const bakeMs = performance.now() - t;
  const measure = (flush) => {
    const times = [];
    for (const v of views) {
      renderer.view = v;
      const s = performance.now();
      renderer.render();
      if (flush) renderer.ctx.getImageData(0, 0, 1, 1);
      times.push(performance.now() - s);
    }
    return times;
  };
  measure(true);                    // warm-up
  const plain = measure(false);
  const flushed = measure(true);
  // Right after a mask change (before the idle-time bake): image + mask layer drawn apart.
  renderer.opacity += 0.0001;
  const unbaked = measure(true);
  renderer.opacity -= 0.0001;
  window.__renderer = renderer;
  window.__fit = fit;
  return { plain, flushed, unbaked, imageMs, decodeMs, layerMs, bakeMs,
           scales: views.map((v) => v.scale), viewport: [renderer.width, renderer.height] };
};
window.benchReady = true;
</script></body></html>
"""


def ellipse_rle(rng: np.random.Generator) -> dict[str, Any]:
    """Column-major runs of a random ellipse, computed per column (no full-size array)."""
    cx, cy = rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT)
    rx, ry = rng.uniform(20, 260), rng.uniform(20, 260)
    counts: list[int] = []
    position = 0  # pixels consumed so far, column-major
    for x in range(max(0, int(cx - rx)), min(WIDTH, int(cx + rx) + 1)):
        t = 1 - ((x - cx) / rx) ** 2
        if t <= 0:
            continue
        half = ry * t**0.5
        y0, y1 = max(0, int(np.ceil(cy - half))), min(HEIGHT, int(cy + half) + 1)
        if y1 <= y0:
            continue
        start = x * HEIGHT + y0
        counts += [start - position, y1 - y0]
        position = start + (y1 - y0)
    counts.append(WIDTH * HEIGHT - position)
    # Ellipses never fill a whole column, so no background run between columns is 0.
    rle = mask_utils.frPyObjects({"size": [HEIGHT, WIDTH], "counts": counts}, HEIGHT, WIDTH)
    return {"size": [HEIGHT, WIDTH], "counts": rle["counts"].decode("ascii")}


def make_masks(count: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(42)
    palette = ["#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0"]
    return [{"rle": ellipse_rle(rng), "color": palette[i % len(palette)]} for i in range(count)]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=400)
    parser.add_argument("--masks", type=int, default=200)
    parser.add_argument("--width", type=int, default=1600, help="viewport width (CSS px)")
    parser.add_argument("--height", type=int, default=900, help="viewport height (CSS px)")
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    parser.add_argument("--screenshot", help="save the fitted view with all masks to this PNG")
    args = parser.parse_args()
    if not (STATIC / "frontend" / "js" / "renderer.js").exists():
        print("build the frontend first: scripts/build-frontend", file=sys.stderr)
        return 2
    masks = make_masks(args.masks)
    html = HARNESS.replace("__W__", str(WIDTH)).replace("__H__", str(HEIGHT))

    from playwright.sync_api import Route, sync_playwright

    def serve(route: Route) -> None:
        path = route.request.url.split("://", 1)[1].split("/", 1)[1].split("?")[0]
        if path in ("", "harness.html"):
            route.fulfill(body=html, content_type="text/html")
            return
        file = (STATIC / path.removeprefix("static/")).resolve()
        if STATIC.resolve() in file.parents and file.is_file():
            kind = "text/javascript" if file.suffix == ".js" else "application/octet-stream"
            route.fulfill(body=file.read_bytes(), content_type=kind)
        else:
            route.fulfill(status=404, body="not found")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": args.width, "height": args.height})
        page.route("http://bench.local/**", serve)
        page.goto("http://bench.local/harness.html")
        page.wait_for_function("window.benchReady === true")
        result = page.evaluate("(a) => window.runBench(a)", {"frames": args.frames, "masks": masks})
        if args.screenshot:
            page.evaluate(
                "() => { const r = window.__renderer; r.view = window.__fit; r.render(); }"
            )
            page.screenshot(path=args.screenshot)
        version = browser.version
        browser.close()

    if args.json:
        print(json.dumps(result))
    print(
        f"Chromium {version}, viewport {result['viewport'][0]}x{result['viewport'][1]}, "
        f"image {WIDTH}x{HEIGHT}, {args.masks} masks, {args.frames} frames, "
        f"scale {min(result['scales']):.3f}..{max(result['scales']):.2f}"
    )
    print(
        f"setup: image pyramid {result['imageMs']:.0f} ms, decode {args.masks} RLE "
        f"{result['decodeMs']:.0f} ms, composite layer {result['layerMs']:.0f} ms, "
        f"bake {result['bakeMs']:.0f} ms"
    )
    series = (("render", "plain"), ("render+flush", "flushed"), ("unbaked+flush", "unbaked"))
    for name, key in series:
        values = result[key]
        print(
            f"{name:>13}: p50 {percentile(values, 50):6.2f} ms"
            f"  p95 {percentile(values, 95):6.2f} ms  max {max(values):6.2f} ms"
            f"  mean {statistics.fmean(values):6.2f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
