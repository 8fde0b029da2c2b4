import assert from "node:assert/strict";
import { test } from "node:test";

import { barFractions, efficiencyLayout, linearScale, niceStep, niceTicks } from "../src/learning/plot.js";
import {
  actionsEnabled,
  currentItem,
  isBusy,
  parseMode,
  placement,
  reduce,
  workspaceUrl,
  type QueueState,
} from "../src/learning/queue-model.js";
import { annotationBadge, annotationStyle, leaseText, progressSummary } from "../src/learning/status.js";
import type { QueueItem } from "../src/types.js";

const item: QueueItem = { item: 7, asset: 3, frame: 0, score: 0.8, strategy: "combined", lease_expires: null, reason: "model", model_version: 2 };
const other: QueueItem = { ...item, item: 8, asset: 4 };

// --- plot ---------------------------------------------------------------------------------

test("linear scale maps the domain onto the range, inverted axes included", () => {
  const s = linearScale(0, 10, 100, 0);
  assert.equal(s(0), 100);
  assert.equal(s(10), 0);
  assert.equal(s(2.5), 75);
  assert.equal(linearScale(3, 3, 0, 10)(3), 5); // degenerate domain: the middle
});

test("nice steps and ticks are 1, 2, 5 times a power of ten and cover the data", () => {
  assert.equal(niceStep(1, 5), 0.2);
  assert.equal(niceStep(37, 5), 10);
  assert.equal(niceStep(7, 6), 2);
  assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(0, 7, 6, true), [0, 2, 4, 6, 8]);
  assert.deepEqual(niceTicks(0, 3, 3, true), [0, 1, 2, 3]);
  const ticks = niceTicks(0, 37, 5);
  assert.equal(ticks[0], 0);
  assert.ok(ticks[ticks.length - 1]! >= 37);
  assert.deepEqual(niceTicks(5, 5), niceTicks(5, 6)); // one value: a span of one
});

test("efficiency layout: points inside the plot, y up, sorted by labels, null mIoU left out", () => {
  const box = { width: 200, height: 100, margin: { top: 10, right: 10, bottom: 20, left: 30 } };
  const layout = efficiencyLayout(
    [
      { version: 3, num_labels: 9, trained_on: 5, miou: 0.8 },
      { version: 1, num_labels: 1, trained_on: 1, miou: null },
      { version: 2, num_labels: 4, trained_on: 3, miou: 0.5 },
    ],
    box,
  );
  assert.deepEqual(layout.points.map((p) => p.version), [2, 3]);
  for (const p of layout.points) {
    assert.ok(p.x >= 30 && p.x <= 190, `x ${p.x}`);
    assert.ok(p.y >= 10 && p.y <= 80, `y ${p.y}`);
  }
  assert.ok(layout.points[1]!.y < layout.points[0]!.y); // better mIoU is higher up
  assert.equal(layout.yTicks[0]!.y, 80); // mIoU 0 at the bottom of the plot
  assert.equal(layout.yTicks[layout.yTicks.length - 1]!.y, 10); // 1 at the top
  assert.equal(layout.xTicks[0]!.x, 30);
  assert.ok(layout.xTicks[layout.xTicks.length - 1]!.value >= 9);
  assert.match(layout.path, /^M[\d.]+ [\d.]+ L[\d.]+ [\d.]+$/);
  assert.equal(layout.goalY, 80 - 0.7 * 70);
});

test("efficiency layout of nothing or one point draws no line", () => {
  const box = { width: 100, height: 100, margin: { top: 0, right: 0, bottom: 0, left: 0 } };
  assert.equal(efficiencyLayout([], box).path, "");
  const one = efficiencyLayout([{ version: 1, num_labels: 2, trained_on: 2, miou: 1.3 }], box);
  assert.equal(one.path, "");
  assert.equal(one.points[0]!.miou, 1); // clamped
});

test("bar fractions are relative to the largest count", () => {
  assert.deepEqual(barFractions([2, 4, 0]), [0.5, 1, 0]);
  assert.deepEqual(barFractions([0, 0]), [0, 0]);
});

// --- queue state machine -------------------------------------------------------------------

test("queue: ask, serve, save, complete, next", () => {
  let s: QueueState = { kind: "off" };
  s = reduce(s, { type: "ask" });
  assert.equal(s.kind, "loading");
  assert.ok(isBusy(s));
  s = reduce(s, { type: "served", item });
  assert.deepEqual(s, { kind: "item", item });
  assert.deepEqual(actionsEnabled(s), { saveNext: true, skip: true });
  s = reduce(s, { type: "save" });
  assert.equal(s.kind, "saving");
  assert.deepEqual(actionsEnabled(s), { saveNext: false, skip: false });
  assert.equal(reduce(s, { type: "save" }), s); // a second press while saving does nothing
  assert.equal(reduce(s, { type: "ask" }), s);
  s = reduce(s, { type: "saved" });
  assert.equal(s.kind, "completing");
  s = reduce(s, { type: "completed" });
  assert.equal(s.kind, "loading");
  s = reduce(s, { type: "served", item: null });
  assert.equal(s.kind, "empty");
  assert.equal(currentItem(s), null);
  assert.equal(reduce(s, { type: "ask" }).kind, "loading"); // "ask again"
});

test("queue: a failure keeps the item so the action can be retried", () => {
  let s: QueueState = { kind: "saving", item };
  s = reduce(s, { type: "failed", message: "409" });
  assert.deepEqual(s, { kind: "error", message: "409", item });
  assert.deepEqual(actionsEnabled(s), { saveNext: true, skip: true });
  const lost = reduce({ kind: "loading" }, { type: "failed", message: "offline" });
  assert.deepEqual(lost, { kind: "error", message: "offline", item: null });
  assert.deepEqual(actionsEnabled(lost), { saveNext: false, skip: false });
});

test("queue: skip goes through skipping to loading; events out of place are ignored", () => {
  let s: QueueState = { kind: "item", item };
  s = reduce(s, { type: "skip" });
  assert.equal(s.kind, "skipping");
  assert.equal(reduce(s, { type: "saved" }), s);
  assert.equal(reduce(s, { type: "completed" }).kind, "loading");
  assert.equal(reduce({ kind: "item", item }, { type: "served", item: other }).kind, "item");
  assert.deepEqual(reduce({ kind: "item", item }, { type: "exit" }), { kind: "off" });
});

test("placement: here, another frame of this video, or another page", () => {
  assert.equal(placement(item, { asset: 3, frame: 0, isVideo: false }), "here");
  assert.equal(placement({ asset: 3, frame: 5 }, { asset: 3, frame: 0, isVideo: true }), "frame");
  assert.equal(placement({ asset: 3, frame: 5 }, { asset: 3, frame: 0, isVideo: false }), "navigate");
  assert.equal(placement(other, { asset: 3, frame: 0, isVideo: true }), "navigate");
});

test("mode parameters round-trip through the workspace address", () => {
  assert.deepEqual(parseMode(""), { mode: null });
  assert.deepEqual(parseMode("?mode=queue"), { mode: "queue", strategy: "combined" });
  const url = workspaceUrl(1, 3, 4, { mode: "queue", strategy: "entropy" });
  assert.equal(url, "/projects/1/assets/3/?mode=queue&strategy=entropy#frame=4");
  assert.deepEqual(parseMode(url.slice(url.indexOf("?"), url.indexOf("#"))), { mode: "queue", strategy: "entropy" });
  const review = workspaceUrl(1, 3, 0, { mode: "review", annotation: 12, status: "needs_review", source: null });
  assert.equal(review, "/projects/1/assets/3/?mode=review&annotation=12&status=needs_review");
  assert.deepEqual(parseMode(review.slice(review.indexOf("?"))), { mode: "review", annotation: 12, status: "needs_review", source: null });
  assert.equal(workspaceUrl(1, 3, 0, { mode: null }), "/projects/1/assets/3/");
});

// --- status ----------------------------------------------------------------------------------

test("annotation styles: proposals and flags apart from accepted masks", () => {
  assert.equal(annotationStyle({ source: "generated", review_status: "pending" }), "proposal");
  assert.equal(annotationStyle({ source: "generated", review_status: "accepted" }), "solid");
  assert.equal(annotationStyle({ source: "propagated", review_status: "needs_review" }), "flagged");
  assert.equal(annotationStyle({ source: "interactive", review_status: "rejected" }), "rejected");
  assert.equal(annotationStyle({ source: "interactive", review_status: "pending" }), "solid");
  assert.deepEqual(annotationBadge({ source: "generated", review_status: "pending", score: 0.834 })?.text, "proposal 0.83");
  assert.equal(annotationBadge({ source: "generated", review_status: "accepted" })?.kind, "accepted");
  assert.equal(annotationBadge({ source: "manual", review_status: "pending" }), null);
});

test("progress summary: segments, text and the card's state", () => {
  const p = progressSummary({ annotations: 4, pending: 2, needs_review: 1, accepted: 1, rejected: 0, generated: 2 });
  assert.deepEqual(p.segments.map((s) => [s.kind, s.fraction]), [["accepted", 0.25], ["pending", 0.5], ["needs_review", 0.25]]);
  assert.equal(p.state, "needs_review");
  assert.match(p.text, /^4 annotations · 2 pending · 1 to review · 1 accepted · 2 proposed$/);
  assert.equal(progressSummary({ annotations: 0, pending: 0, needs_review: 0, accepted: 0, rejected: 0, generated: 0 }).state, "unlabelled");
});

test("lease text counts down and says when it has run out", () => {
  const now = Date.parse("2026-12-07T20:00:00Z");
  assert.equal(leaseText(null, now), "no lease");
  assert.equal(leaseText("2026-12-07T20:15:00Z", now), "lease: 15 min left");
  assert.equal(leaseText("2026-12-07T20:00:30Z", now), "lease: 30 s left");
  assert.equal(leaseText("2026-12-07T19:59:00Z", now), "lease expired");
});
