import assert from "node:assert/strict";
import { test } from "node:test";

import { decodeRle } from "../src/rle.js";
import { Draft } from "../src/workspace/draft.js";
import { keyName } from "../src/workspace/keys.js";

test("brush paints and erases discs, the RLE follows", () => {
  const draft = new Draft(40, 30);
  draft.paintDisc(10, 10, 3, 1);
  const painted = draft.area;
  assert.ok(painted >= 25 && painted <= 32, `area ${painted}`);
  assert.deepEqual(draft.dirty, { x: 7, y: 7, width: 7, height: 7 });
  assert.deepEqual(decodeRle(draft.rle()!), draft.mask);
  draft.paintDisc(10, 10, 1.5, 0);
  assert.ok(draft.area < painted);
  assert.deepEqual(decodeRle(draft.rle()!), draft.mask, "the cached RLE is refreshed after an edit");
});

test("a stroke covers the line between its points", () => {
  const draft = new Draft(50, 20);
  draft.paintLine(5, 10, 45, 10, 2, 1);
  for (let x = 5; x < 45; x++) assert.equal(draft.mask![10 * 50 + x], 1, `pixel ${x}`);
});

test("snapshot and restore bring back prompts and mask", () => {
  const draft = new Draft(20, 20);
  draft.clicks.push({ x: 3, y: 4, positive: true });
  draft.box = [1, 1, 10, 10];
  draft.paintDisc(5, 5, 2, 1);
  const snapshot = draft.snapshot();
  draft.clicks.push({ x: 9, y: 9, positive: false });
  draft.paintDisc(15, 15, 3, 1);
  draft.box = null;
  draft.restore(snapshot);
  assert.equal(draft.clicks.length, 1);
  assert.deepEqual(draft.box, [1, 1, 10, 10]);
  assert.deepEqual(draft.rle(), snapshot.mask);
  snapshot.clicks[0]!.x = 99; // snapshots are copies
  assert.equal(draft.clicks[0]!.x, 3);
  draft.reset();
  assert.ok(draft.isEmpty);
});

test("key names for the shortcut table", () => {
  const key = (k: string, mods: Partial<KeyboardEvent> = {}): KeyboardEvent =>
    ({ key: k, ctrlKey: false, metaKey: false, altKey: false, shiftKey: false, ...mods }) as KeyboardEvent;
  assert.equal(keyName(key("z", { ctrlKey: true })), "Mod+z");
  assert.equal(keyName(key("Z", { metaKey: true, shiftKey: true })), "Mod+Shift+z");
  assert.equal(keyName(key("?", { shiftKey: true })), "?");
  assert.equal(keyName(key("Tab", { shiftKey: true })), "Shift+Tab");
  assert.equal(keyName(key("Enter")), "Enter");
});
