/**
 * Sends prompts to the predict endpoint. Only the newest request matters: a new one
 * aborts the previous (AbortController) and a response that arrives for an older
 * sequence number is dropped. 503 + Retry-After (no worker / busy) is retried as told.
 */

import { ApiError, api } from "../api.js";
import type { PredictRequest, PredictResponse } from "../types.js";

export type PredictState =
  | { kind: "idle" }
  | { kind: "pending"; seq: number; since: number }
  | { kind: "retrying"; seq: number; waitSeconds: number; reason: string }
  | { kind: "done"; seq: number; roundTripMs: number }
  | { kind: "failed"; seq: number; message: string };

export class Predictor {
  private seq = 0;
  private controller: AbortController | null = null;
  state: PredictState = { kind: "idle" };

  constructor(
    private readonly assetId: number,
    private readonly onState: (state: PredictState) => void,
    private readonly retries = 6,
  ) {}

  get latestSeq(): number {
    return this.seq;
  }

  get busy(): boolean {
    return this.state.kind === "pending" || this.state.kind === "retrying";
  }

  /** The response, or null when this request was superseded or cancelled. */
  async predict(body: PredictRequest): Promise<PredictResponse | null> {
    const seq = ++this.seq;
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    const started = performance.now();
    this.setState({ kind: "pending", seq, since: started });
    try {
      const response = await api.post<PredictResponse>(`/api/assets/${this.assetId}/predict/`, body, {
        signal: controller.signal,
        retries: this.retries,
        onRetry: (error, _attempt, waitSeconds) => {
          if (seq === this.seq) this.setState({ kind: "retrying", seq, waitSeconds, reason: error.code });
        },
      });
      if (seq !== this.seq) return null;
      this.setState({ kind: "done", seq, roundTripMs: performance.now() - started });
      return response;
    } catch (error) {
      if (error instanceof DOMException && error.name === "AbortError") return null;
      if (seq !== this.seq) return null;
      const message = error instanceof ApiError ? `${error.message} (${error.code})` : String(error);
      this.setState({ kind: "failed", seq, message });
      throw error;
    } finally {
      if (this.controller === controller) this.controller = null;
    }
  }

  /** Drops whatever is in flight (undo, cancel, leaving the asset). */
  cancel(): void {
    this.seq += 1;
    this.controller?.abort();
    this.controller = null;
    if (this.busy) this.setState({ kind: "idle" });
  }

  private setState(state: PredictState): void {
    this.state = state;
    this.onState(state);
  }
}
