/**
 * A propagation job from the workspace: POST /api/assets/{id}/propagate/, then the job
 * polled every ~300 ms for its progress until it ends; cancel asks the server to stop it.
 */

import { ApiError, api, sleep } from "../api.js";
import type { Job } from "../types.js";

export type Direction = "forward" | "backward" | "both";

export interface PropagateRequest {
  annotation: number;
  direction: Direction;
  end_frame?: number;
  threshold?: number;
  /** What re-segments each frame: the engine chosen in the toolbar. */
  engine?: string;
}

/** What a finished propagation job reports (job.result). */
export interface PropagateResult {
  frames?: number;
  needs_review?: number;
  fps?: number;
  stopped_at?: number[];
}

const FINISHED = new Set(["done", "failed", "cancelled"]);
export const POLL_MS = 300;

export class PropagationRun {
  job: Job | null = null;
  private cancelled = false;
  private readonly stop = new AbortController();

  constructor(
    private readonly assetId: number,
    private readonly onProgress: (job: Job) => void,
    private readonly pollMs = POLL_MS,
  ) {}

  get running(): boolean {
    return this.job === null || !FINISHED.has(this.job.status);
  }

  /** Starts the job and resolves with it once it has ended (done, failed or cancelled). */
  async run(body: PropagateRequest): Promise<Job> {
    const started = await api.post<{ job: number }>(`/api/assets/${this.assetId}/propagate/`, body, { retries: 2 });
    const id = started.job;
    let failures = 0;
    for (;;) {
      try {
        this.job = await api.get<Job>(`/api/jobs/${id}/`, { signal: this.stop.signal });
        failures = 0;
      } catch (error) {
        if (error instanceof DOMException && error.name === "AbortError") break;
        // A restarting server: keep asking for a while before giving up.
        if (!(error instanceof ApiError) || error.status >= 500 || error.status === 0) {
          if (++failures < 20) {
            await sleep(this.pollMs * 3);
            continue;
          }
        }
        throw error;
      }
      this.onProgress(this.job);
      if (FINISHED.has(this.job.status)) return this.job;
      try {
        await sleep(this.pollMs, this.stop.signal);
      } catch {
        break;
      }
    }
    // Left without an answer (the page is closing): report what we last saw.
    if (this.job === null) throw new Error("the propagation job was not seen");
    return this.job;
  }

  /** Asks the server to cancel; the run ends when the job says it has. */
  async cancel(): Promise<void> {
    if (this.job === null || this.cancelled) return;
    this.cancelled = true;
    await api.post(`/api/jobs/${this.job.id}/cancel/`, {});
  }

  /** Stops polling (leaving the page); the job itself goes on. */
  abandon(): void {
    this.stop.abort();
  }
}

/** "12 frames propagated, 2 flagged for review (stopped at keyframe 30)" */
export function describeResult(job: Job): string {
  if (job.status === "cancelled") return "Propagation cancelled.";
  if (job.status === "failed") return `Propagation failed: ${job.error || job.message || "unknown error"}`;
  const result = (job.result ?? {}) as PropagateResult;
  const parts = [`${result.frames ?? 0} frame${result.frames === 1 ? "" : "s"} propagated`];
  if (result.needs_review) parts.push(`${result.needs_review} flagged for review`);
  if (result.fps) parts.push(`${result.fps.toFixed(1)} frames/s`);
  const stops = result.stopped_at ?? [];
  if (stops.length > 0) parts.push(`stopped at keyframe ${stops.join(", ")}`);
  return `${parts.join(", ")}.`;
}
