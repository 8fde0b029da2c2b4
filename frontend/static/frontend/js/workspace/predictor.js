/**
 * Sends prompts to the predict endpoint. Only the newest request matters: a new one
 * aborts the previous (AbortController) and a response that arrives for an older
 * sequence number is dropped. 503 + Retry-After (no worker / busy) is retried as told.
 */
import { ApiError, api } from "../api.js";
export class Predictor {
    assetId;
    onState;
    retries;
    seq = 0;
    controller = null;
    state = { kind: "idle" };
    constructor(assetId, onState, retries = 6) {
        this.assetId = assetId;
        this.onState = onState;
        this.retries = retries;
    }
    get latestSeq() {
        return this.seq;
    }
    get busy() {
        return this.state.kind === "pending" || this.state.kind === "retrying";
    }
    /** The response, or null when this request was superseded or cancelled. */
    async predict(body) {
        const seq = ++this.seq;
        this.controller?.abort();
        const controller = new AbortController();
        this.controller = controller;
        const started = performance.now();
        this.setState({ kind: "pending", seq, since: started });
        try {
            const response = await api.post(`/api/assets/${this.assetId}/predict/`, body, {
                signal: controller.signal,
                retries: this.retries,
                onRetry: (error, _attempt, waitSeconds) => {
                    if (seq === this.seq)
                        this.setState({ kind: "retrying", seq, waitSeconds, reason: error.code });
                },
            });
            if (seq !== this.seq)
                return null;
            this.setState({ kind: "done", seq, roundTripMs: performance.now() - started });
            return response;
        }
        catch (error) {
            if (error instanceof DOMException && error.name === "AbortError")
                return null;
            if (seq !== this.seq)
                return null;
            const message = error instanceof ApiError ? `${error.message} (${error.code})` : String(error);
            this.setState({ kind: "failed", seq, message });
            throw error;
        }
        finally {
            if (this.controller === controller)
                this.controller = null;
        }
    }
    /** Drops whatever is in flight (undo, cancel, leaving the asset). */
    cancel() {
        this.seq += 1;
        this.controller?.abort();
        this.controller = null;
        if (this.busy)
            this.setState({ kind: "idle" });
    }
    setState(state) {
        this.state = state;
        this.onState(state);
    }
}
//# sourceMappingURL=predictor.js.map