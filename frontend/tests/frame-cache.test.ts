import assert from "node:assert/strict";
import { test } from "node:test";

import { FrameCache } from "../src/workspace/frame-cache.js";

interface Deferred {
  frame: number;
  resolve: (value: string) => void;
  reject: (error: Error) => void;
}

function controlled(): { calls: Deferred[]; loader: (frame: number) => Promise<string> } {
  const calls: Deferred[] = [];
  return {
    calls,
    loader: (frame) =>
      new Promise<string>((resolve, reject) => {
        calls.push({ frame, resolve, reject });
      }),
  };
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

test("a frame is loaded once however many ask for it, then served from the cache", async () => {
  const { calls, loader } = controlled();
  const cache = new FrameCache(loader, 4);
  const a = cache.load(3);
  const b = cache.load(3);
  assert.equal(calls.length, 1);
  calls[0]!.resolve("three");
  assert.equal(await a, "three");
  assert.equal(await b, "three");
  assert.equal(await cache.load(3), "three");
  assert.equal(calls.length, 1);
  assert.equal(cache.get(3), "three");
});

test("the least recently used frame is evicted and disposed, never the pinned one", async () => {
  const disposed: string[] = [];
  const cache = new FrameCache(async (f) => `f${f}`, 3, (v) => disposed.push(v));
  for (const f of [0, 1, 2]) await cache.load(f);
  cache.pinned = 0;
  cache.get(1); // 1 becomes the most recent
  await cache.load(3);
  assert.deepEqual(disposed, ["f2"]);
  assert.ok(cache.has(0) && cache.has(1) && cache.has(3));
  await cache.load(4);
  assert.deepEqual(disposed, ["f2", "f1"]);
  assert.equal(cache.size, 3);
});

test("preload runs a few loads at a time and a new wish list replaces the old one", async () => {
  const { calls, loader } = controlled();
  const cache = new FrameCache(loader, 20, () => {}, 2);
  cache.preload([1, 2, 3, 4]);
  assert.deepEqual(calls.map((c) => c.frame), [1, 2]);
  cache.preload([10, 11, 2]); // the user moved on: 3 and 4 are no longer wanted
  calls[0]!.resolve("1");
  await tick();
  calls[1]!.resolve("2");
  await tick();
  assert.deepEqual(calls.map((c) => c.frame), [1, 2, 10, 11]);
  assert.ok(cache.has(1) && cache.has(2));
});

test("a failed load is not cached; clear() drops results of loads already running", async () => {
  const { calls, loader } = controlled();
  const cache = new FrameCache(loader, 5);
  const failing = cache.load(1);
  calls[0]!.reject(new Error("boom"));
  await assert.rejects(failing, /boom/);
  assert.equal(cache.has(1), false);
  const again = cache.load(1);
  assert.equal(calls.length, 2);
  cache.clear();
  calls[1]!.resolve("stale");
  assert.equal(await again, "stale");
  assert.equal(cache.has(1), false);
});
