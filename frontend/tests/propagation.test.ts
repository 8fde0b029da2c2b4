import assert from "node:assert/strict";
import { test } from "node:test";

import { PropagationRun, describeResult } from "../src/workspace/propagation.js";
import type { Job } from "../src/types.js";

interface Call {
  method: string;
  path: string;
  body: unknown;
}

/** A fake server: the propagate POST starts job 7, each GET advances it, cancel stops it. */
function fakeServer(steps: number): { calls: Call[]; cancelAt: () => number } {
  const calls: Call[] = [];
  let polls = 0;
  let cancelled = -1;
  const job = (): Job => {
    const progress = Math.min(1, polls / steps);
    const status = cancelled >= 0 && polls > cancelled ? "cancelled" : progress >= 1 ? "done" : "running";
    return {
      id: 7,
      project: 1,
      asset: 3,
      kind: "propagate",
      status,
      progress,
      message: `frame ${polls}`,
      error: "",
      result: status === "done" ? { frames: steps, needs_review: 1, fps: 12.5, stopped_at: [] } : null,
    };
  };
  (globalThis as { document?: unknown }).document = { cookie: "csrftoken=abc" };
  globalThis.fetch = (async (input: string, init: RequestInit) => {
    const method = init.method ?? "GET";
    calls.push({ method, path: input, body: init.body ? JSON.parse(String(init.body)) : undefined });
    const json = (status: number, body: unknown): Response =>
      new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
    if (method === "POST" && input === "/api/assets/3/propagate/") return json(202, { job: 7 });
    if (method === "POST" && input === "/api/jobs/7/cancel/") {
      cancelled = polls;
      return json(200, { id: 7 });
    }
    if (method === "GET" && input === "/api/jobs/7/") {
      polls += 1;
      return json(200, job());
    }
    return json(404, { detail: "no", code: "not_found" });
  }) as typeof fetch;
  return { calls, cancelAt: () => cancelled };
}

test("a run posts the request, reports progress until the job is done", async () => {
  const { calls } = fakeServer(4);
  const seen: number[] = [];
  const run = new PropagationRun(3, (job) => seen.push(job.progress), 1);
  const job = await run.run({ annotation: 11, direction: "both" });
  assert.equal(job.status, "done");
  assert.deepEqual(seen, [0.25, 0.5, 0.75, 1]);
  assert.deepEqual(calls[0], { method: "POST", path: "/api/assets/3/propagate/", body: { annotation: 11, direction: "both" } });
  assert.equal(run.running, false);
  assert.equal(describeResult(job), "4 frames propagated, 1 flagged for review, 12.5 frames/s.");
});

test("cancel asks the server, and the run ends when the job says it is cancelled", async () => {
  const { calls, cancelAt } = fakeServer(100);
  let run: PropagationRun | null = null;
  let asked = false;
  run = new PropagationRun(
    3,
    (job) => {
      if (job.progress >= 0.03 && !asked) {
        asked = true;
        void run!.cancel();
      }
    },
    1,
  );
  const job = await run.run({ annotation: 11, direction: "forward" });
  assert.equal(job.status, "cancelled");
  assert.ok(cancelAt() >= 3);
  assert.equal(calls.filter((c) => c.path === "/api/jobs/7/cancel/").length, 1);
  assert.equal(describeResult(job), "Propagation cancelled.");
});

test("results are described for people", () => {
  const base: Job = { id: 1, project: 1, asset: 1, kind: "propagate", status: "done", progress: 1, message: "", error: "" };
  assert.equal(describeResult({ ...base, result: { frames: 1, stopped_at: [30, 60] } }), "1 frame propagated, stopped at keyframe 30, 60.");
  assert.equal(describeResult({ ...base, status: "failed", error: "frame 3 has no stored image" }), "Propagation failed: frame 3 has no stored image");
});
