import assert from "node:assert/strict";
import { test } from "node:test";

import { Predictor, type PredictState } from "../src/workspace/predictor.js";

// The API client reads the CSRF cookie; node has fetch but no document.
(globalThis as unknown as { document: { cookie: string } }).document = { cookie: "csrftoken=abc" };

interface Call {
  body: { clicks: unknown[] };
  resolve: (response: Response) => void;
  signal: AbortSignal;
}

function fakeFetch(calls: Call[]): typeof fetch {
  return ((_url: string, init: RequestInit) =>
    new Promise<Response>((resolve, reject) => {
      const signal = init.signal!;
      signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
      calls.push({ body: JSON.parse(String(init.body)), resolve, signal });
    })) as typeof fetch;
}

const ok = (n: number): Response =>
  new Response(JSON.stringify({ mask: { size: [1, 1], counts: "01" }, score: n, engine: "classical", elapsed_ms: 5 }), {
    status: 200,
    headers: { "Content-Type": "application/json" },
  });

test("a newer prompt aborts the stale request and only the newest answer counts", async () => {
  const calls: Call[] = [];
  globalThis.fetch = fakeFetch(calls);
  const states: PredictState["kind"][] = [];
  const predictor = new Predictor(7, (s) => states.push(s.kind));
  const first = predictor.predict({ frame: 0, engine: "classical", clicks: [{ x: 1, y: 1, positive: true }] });
  const second = predictor.predict({ frame: 0, engine: "classical", clicks: [] });
  assert.equal(calls.length, 2);
  assert.ok(calls[0]!.signal.aborted, "the first request is aborted");
  calls[1]!.resolve(ok(0.5));
  assert.equal(await first, null);
  assert.equal((await second)?.score, 0.5);
  assert.equal(predictor.state.kind, "done");
  assert.deepEqual(states, ["pending", "pending", "done"]);
});

test("503 with Retry-After is retried, then the answer arrives", async () => {
  let n = 0;
  globalThis.fetch = (async () => {
    n += 1;
    if (n === 1) {
      return new Response(JSON.stringify({ detail: "busy", code: "busy" }), { status: 503, headers: { "Retry-After": "0.01" } });
    }
    return ok(0.9);
  }) as typeof fetch;
  const seen: string[] = [];
  const predictor = new Predictor(7, (s) => seen.push(s.kind));
  const response = await predictor.predict({ frame: 0, engine: "auto", clicks: [] });
  assert.equal(response?.score, 0.9);
  assert.deepEqual(seen, ["pending", "retrying", "done"]);
});

test("cancel drops the request in flight", async () => {
  const calls: Call[] = [];
  globalThis.fetch = fakeFetch(calls);
  const predictor = new Predictor(7, () => {});
  const pending = predictor.predict({ frame: 0, engine: "auto", clicks: [] });
  predictor.cancel();
  assert.equal(await pending, null);
  assert.equal(predictor.state.kind, "idle");
});

test("an error is reported and thrown for the newest request", async () => {
  globalThis.fetch = (async () =>
    new Response(JSON.stringify({ detail: "click outside", code: "prompt_outside_image" }), { status: 400 })) as typeof fetch;
  const predictor = new Predictor(7, () => {});
  await assert.rejects(predictor.predict({ frame: 0, engine: "auto", clicks: [] }), /click outside/);
  assert.equal(predictor.state.kind, "failed");
});
