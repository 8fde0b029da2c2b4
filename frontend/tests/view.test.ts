import assert from "node:assert/strict";
import { test } from "node:test";

import {
  MAX_SCALE,
  actualSize,
  fitView,
  panBy,
  pyramidLevel,
  smoothingFor,
  toImage,
  toScreen,
  visibleImageRect,
  zoomAt,
  type View,
} from "../src/view.js";

const close = (a: number, b: number): void => assert.ok(Math.abs(a - b) < 1e-9, `${a} != ${b}`);

test("screen and image coordinates are inverse", () => {
  const view: View = { scale: 2.5, offsetX: -30, offsetY: 12 };
  const p = { x: 123.25, y: 7.5 };
  const back = toImage(view, toScreen(view, p));
  close(back.x, p.x);
  close(back.y, p.y);
});

test("zooming keeps the point under the cursor in place", () => {
  let view: View = { scale: 0.7, offsetX: 40, offsetY: -10 };
  const cursor = { x: 311, y: 207 };
  const before = toImage(view, cursor);
  for (const factor of [1.1, 1.1, 3, 0.25, 8]) {
    view = zoomAt(view, cursor, factor);
    const after = toImage(view, cursor);
    close(after.x, before.x);
    close(after.y, before.y);
  }
});

test("zoom is clamped", () => {
  const view = zoomAt({ scale: 1, offsetX: 0, offsetY: 0 }, { x: 0, y: 0 }, 1e6);
  assert.equal(view.scale, MAX_SCALE);
});

test("fit centers the whole image", () => {
  const view = fitView(3840, 2160, 1000, 800, 0);
  close(view.scale, 1000 / 3840);
  close(view.offsetX, 0);
  close(view.offsetY, (800 - 2160 * view.scale) / 2);
  const rect = visibleImageRect(view, 1000, 800, 3840, 2160)!;
  assert.deepEqual(rect, { x: 0, y: 0, width: 3840, height: 2160 });
});

test("pan moves by screen pixels; actual size is scale 1", () => {
  const view = panBy({ scale: 2, offsetX: 1, offsetY: 2 }, 10, -5);
  assert.deepEqual(view, { scale: 2, offsetX: 11, offsetY: -3 });
  assert.equal(actualSize(view, 800, 600).scale, 1);
});

test("visible rect is clipped, null when off image", () => {
  const view: View = { scale: 4, offsetX: -400, offsetY: -200 };
  assert.deepEqual(visibleImageRect(view, 800, 600, 1000, 1000), { x: 100, y: 50, width: 200, height: 150 });
  assert.equal(visibleImageRect({ scale: 1, offsetX: 5000, offsetY: 0 }, 800, 600, 100, 100), null);
});

test("smoothing only below 1:1 and pyramid levels by scale", () => {
  assert.equal(smoothingFor(4), false);
  assert.equal(smoothingFor(1), false);
  assert.equal(smoothingFor(0.5), true);
  assert.equal(pyramidLevel(2, 5), 0);
  assert.equal(pyramidLevel(0.5, 5), 0);
  assert.equal(pyramidLevel(0.3, 5), 1);
  assert.equal(pyramidLevel(0.2, 5), 2);
  assert.equal(pyramidLevel(0.001, 5), 4);
});
