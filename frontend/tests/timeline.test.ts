import assert from "node:assert/strict";
import { test } from "node:test";

import {
  confidenceColor,
  flaggedFrames,
  flaggedTracks,
  formatTime,
  frameAtFraction,
  frameConfidence,
  frameKind,
  frameTime,
  nextFlagged,
  playbackFrame,
  preloadOrder,
  trackColor,
  type Timeline,
} from "../src/workspace/timeline-model.js";

const timeline: Timeline = {
  num_frames: 10,
  fps: 25,
  timestamps: null,
  tracks: [
    {
      track: 1,
      label: 7,
      frames: [
        [0, "interactive", "pending", 0.9, 11],
        [1, "propagated", "pending", 0.8, 12],
        [2, "propagated", "needs_review", 0.3, 13],
        [3, "propagated", "pending", 0.6, 14],
      ],
    },
    {
      track: 2,
      label: 7,
      frames: [
        [3, "manual", "pending", null, 21],
        [6, "propagated", "needs_review", 0.2, 22],
        [2, "propagated", "needs_review", 0.4, 23],
      ],
    },
  ],
};

test("a frame is flagged, propagated or a keyframe", () => {
  assert.equal(frameKind("propagated", "needs_review"), "flagged");
  assert.equal(frameKind("manual", "needs_review"), "keyframe"); // a person's correction
  assert.equal(frameKind("propagated", "pending"), "propagated");
  assert.equal(frameKind("propagated", "accepted"), "keyframe"); // approved: a keyframe
  assert.equal(frameKind("interactive", "pending"), "keyframe");
  assert.equal(frameKind("manual", "accepted"), "keyframe");
});

test("flagged frames are listed once, in order, and the next one wraps around", () => {
  assert.deepEqual(flaggedFrames(timeline), [2, 6]);
  assert.equal(nextFlagged(timeline, 0), 2);
  assert.equal(nextFlagged(timeline, 2), 6);
  assert.equal(nextFlagged(timeline, 6), 2);
  assert.equal(nextFlagged(timeline, 9), 2);
  assert.equal(nextFlagged(timeline, 6, -1), 2);
  assert.equal(nextFlagged(timeline, 2, -1), 6);
  assert.equal(nextFlagged({ ...timeline, tracks: [] }, 0), null);
});

test("confidence per frame is the lowest track's, keyframes count as certain", () => {
  const c = frameConfidence(timeline);
  assert.equal(c.length, 10);
  assert.ok(Math.abs(c[0]! - 1) < 1e-6);
  assert.ok(Math.abs(c[1]! - 0.8) < 1e-6);
  assert.ok(Math.abs(c[2]! - 0.3) < 1e-6);
  assert.ok(Math.abs(c[3]! - 0.6) < 1e-6); // manual (1) and propagated 0.6
  assert.ok(Number.isNaN(c[4]!));
  assert.ok(Math.abs(c[6]! - 0.2) < 1e-6);
});

test("colours: confidence from red to green, tracks distinct and stable", () => {
  assert.match(confidenceColor(0), /^#[0-9a-f]{6}$/);
  const red = confidenceColor(0);
  const green = confidenceColor(1);
  assert.ok(parseInt(red.slice(1, 3), 16) > parseInt(red.slice(3, 5), 16));
  assert.ok(parseInt(green.slice(3, 5), 16) > parseInt(green.slice(1, 3), 16));
  assert.equal(confidenceColor(7), green); // clamped
  const colors = new Set([1, 2, 3, 4, 5, 6, 7, 8].map(trackColor));
  assert.equal(colors.size, 8);
  assert.equal(trackColor(3), trackColor(3));
  for (const color of colors) assert.match(color, /^#[0-9a-f]{6}$/);
});

test("frame times come from timestamps, else from the frame rate", () => {
  assert.equal(frameTime(50, 25, null), 2);
  assert.equal(frameTime(1, 25, [0, 0.033, 0.1]), 0.033);
  assert.equal(frameTime(5, null, null), null);
  assert.equal(formatTime(62.5), "1:02.50");
  assert.equal(formatTime(0), "0:00.00");
});

test("positions map to frames, playback skips frames it could not show in time", () => {
  assert.equal(frameAtFraction(0, 12), 0);
  assert.equal(frameAtFraction(0.999, 12), 11);
  assert.equal(frameAtFraction(1.5, 12), 11);
  assert.equal(frameAtFraction(-1, 12), 0);
  assert.equal(frameAtFraction(0.5, 1), 0);
  assert.equal(playbackFrame(3, 0, 25), 3);
  assert.equal(playbackFrame(3, 39, 25), 3);
  assert.equal(playbackFrame(3, 40, 25), 4);
  assert.equal(playbackFrame(3, 1000, 25), 28);
});

test("read-ahead order: nearest first, inside the video", () => {
  assert.deepEqual(preloadOrder(0, 5, 8, 2), [1, 2, 3, 4]);
  assert.deepEqual(preloadOrder(5, 100, 3, 2), [6, 4, 7, 3, 8]);
  assert.deepEqual(preloadOrder(9, 10, 8, 1), [8]);
});

test("flaggedTracks lists the tracks flagged on a frame, the preferred one first", () => {
  const timeline = {
    num_frames: 4,
    fps: null,
    timestamps: null,
    tracks: [
      { track: 1, label: 1, frames: [[0, "manual", "pending", null, 1], [2, "propagated", "needs_review", 0.2, 2]] },
      { track: 2, label: 1, frames: [[2, "propagated", "needs_review", 0.1, 3], [3, "propagated", "pending", 0.9, 4]] },
    ],
  } as Timeline;
  assert.deepEqual(flaggedTracks(timeline, 2), [1, 2]);
  assert.deepEqual(flaggedTracks(timeline, 2, 2), [2, 1]);
  assert.deepEqual(flaggedTracks(timeline, 3, 2), []);
});
