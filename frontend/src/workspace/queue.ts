/**
 * Queue mode of the workspace: "Label next" asks the server for the frame the model
 * most wants labelled (`GET /api/projects/{id}/queue/next/?strategy=`), opens it and says
 * why (score, strategy, rework with the reviewer's comment, the lease); "Save and next"
 * (Ctrl+Enter) saves the draft like Enter, completes the item and opens the next one;
 * "Skip" hands it back. The steps are decided by learning/queue-model.ts.
 */

import { api, describeError, listAll } from "../api.js";
import { actionsEnabled, currentItem, isBusy, reduce, type QueueEvent, type QueueState } from "../learning/queue-model.js";
import { formatScore, leaseText } from "../learning/status.js";
import { STRATEGIES, type Annotation, type QueueItem } from "../types.js";
import { $, el, toast } from "../ui.js";
import { showTarget, type ModeHost } from "./modes.js";

/** A lease this close to its end is renewed by asking again (same item comes back). */
const RENEW_BEFORE_MS = 60_000;

export class QueueMode {
  state: QueueState = { kind: "off" };
  /** Comments of the rejected annotations on a rework item's frame. */
  rework: string[] = [];
  private emptyWarned = false;
  private navigating = false;

  constructor(
    private readonly host: ModeHost,
    public strategy: string,
    readonly allowed: boolean,
    private readonly onStrategy: (strategy: string) => void = () => {},
  ) {
    $("#queue-strategy").hidden = !allowed;
    const select = $("#queue-strategy") as HTMLSelectElement;
    for (const s of STRATEGIES) select.append(el("option", { value: s, selected: s === strategy }, s));
    select.addEventListener("change", () => {
      this.strategy = select.value;
      this.onStrategy(this.strategy);
      select.blur();
    });
    $("#queue-start").addEventListener("click", () => void this.next());
    $("#queue-save-next").addEventListener("click", () => void this.saveAndNext());
    $("#queue-skip").addEventListener("click", () => void this.skip());
    $("#queue-exit").addEventListener("click", () => this.exit());
    window.setInterval(() => this.tick(), 5000);
    this.render();
  }

  get active(): boolean {
    return this.state.kind !== "off";
  }

  private apply(event: QueueEvent): void {
    this.state = reduce(this.state, event);
    this.render();
  }

  /** Asks for the next item and opens it (on this page or the item's own). */
  async next(): Promise<void> {
    if (!this.allowed || isBusy(this.state)) return;
    this.apply({ type: "ask" });
    await this.fetchAndShow();
  }

  private async fetchAndShow(): Promise<void> {
    let item: QueueItem | undefined;
    try {
      const query = new URLSearchParams({ strategy: this.strategy });
      item = await api.get<QueueItem | undefined>(`/api/projects/${this.host.project.id}/queue/next/?${query}`, { retries: 2 });
    } catch (error) {
      return this.apply({ type: "failed", message: describeError(error) });
    }
    this.apply({ type: "served", item: item ?? null });
    if (item === undefined) {
      history.replaceState(null, "", location.pathname + location.hash);
      return;
    }
    const shown = await showTarget(this.host, item.asset, item.frame, { mode: "queue", strategy: this.strategy });
    if (shown === "navigating") {
      this.navigating = true;
      return;
    }
    if (shown === "blocked") return this.apply({ type: "failed", message: `frame ${item.frame} could not be opened (unsaved draft?)` });
    this.emptyWarned = false;
    await this.loadRework(item);
    this.render();
  }

  private async loadRework(item: QueueItem): Promise<void> {
    this.rework = [];
    if (item.reason !== "rework") return;
    if (item.comment) {
      this.rework = [item.comment];
      return;
    }
    try {
      const list = await listAll<Annotation>(`/api/assets/${item.asset}/annotations/?frame=${item.frame}&page_size=500`);
      this.rework = list
        .filter((a) => a.review_status === "rejected")
        .map((a) => `#${a.id}${a.reviewed_by ? ` (${a.reviewed_by})` : ""}: ${a.review_comment || "no comment"}`);
    } catch {
      /* the reason is shown anyway; the comment is a help */
    }
  }

  /** Saves the draft (if any), completes the item, opens the next one. */
  async saveAndNext(): Promise<void> {
    const item = currentItem(this.state);
    if (item === null || !actionsEnabled(this.state).saveNext) return;
    const { ws, ops, store } = this.host;
    if (ws.draft.isEmpty && store.size === 0 && !this.emptyWarned) {
      this.emptyWarned = true;
      toast("Nothing is labelled on this frame. Press Save and next again to mark it done as it is, or Skip.", "warn", 5000);
      return;
    }
    this.state = { kind: "item", item }; // from an error: retry
    this.apply({ type: "save" });
    if (!ws.draft.isEmpty && !(await ops.accept())) {
      return this.apply({ type: "failed", message: "the draft is not saved (see above); fix it and try again" });
    }
    this.apply({ type: "saved" });
    try {
      await api.post(`/api/queue/${item.item}/complete/`, {}, { retries: 2 });
    } catch (error) {
      return this.apply({ type: "failed", message: `not completed: ${describeError(error)}` });
    }
    this.apply({ type: "completed" });
    await this.fetchAndShow();
  }

  async skip(): Promise<void> {
    const item = currentItem(this.state);
    if (item === null || !actionsEnabled(this.state).skip) return;
    if (!this.host.ws.draft.isEmpty) {
      toast("Accept (Enter) or discard (Esc) the draft before skipping.", "warn", 3000);
      return;
    }
    this.state = { kind: "item", item };
    this.apply({ type: "skip" });
    try {
      await api.post(`/api/queue/${item.item}/skip/`, {}, { retries: 2 });
    } catch (error) {
      return this.apply({ type: "failed", message: `not skipped: ${describeError(error)}` });
    }
    this.apply({ type: "completed" });
    await this.fetchAndShow();
  }

  exit(): void {
    // Leaving queue mode gives the lease back at once (not a skip: it may come back).
    const item = this.state.kind === "item" ? this.state.item : null;
    if (item !== null) void api.post(`/api/queue/${item.item}/release/`, {}).catch(() => undefined);
    this.apply({ type: "exit" });
    history.replaceState(null, "", location.pathname + location.hash);
  }

  /** Ctrl+Enter: save and next. */
  handleKey(event: KeyboardEvent): boolean {
    if (!this.active || event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return false;
    void this.saveAndNext();
    return true;
  }

  /** Keeps the lease text current and renews a lease about to run out. */
  private tick(): void {
    if (this.state.kind !== "item") return;
    const item = this.state.item;
    const left = item.lease_expires === null ? Infinity : Date.parse(item.lease_expires) - Date.now();
    if (left < RENEW_BEFORE_MS && left > -RENEW_BEFORE_MS) void this.renew(item);
    this.renderLease();
  }

  private async renew(item: QueueItem): Promise<void> {
    try {
      const query = new URLSearchParams({ strategy: this.strategy });
      const again = await api.get<QueueItem | undefined>(`/api/projects/${this.host.project.id}/queue/next/?${query}`);
      if (this.state.kind !== "item" || this.state.item.item !== item.item) return;
      if (again !== undefined && again.item === item.item) this.state = { kind: "item", item: again };
      else toast("The lease on this frame ran out and it went elsewhere: Save and next may be refused.", "warn", 6000);
      this.render();
    } catch {
      /* tried again on the next tick */
    }
  }

  render(): void {
    const s = this.state;
    const on = s.kind !== "off";
    $("#queue-box").classList.toggle("on", on);
    $("#queue-start").hidden = !this.allowed || (on && s.kind !== "empty" && s.kind !== "error");
    $("#queue-start").textContent = s.kind === "empty" ? "Ask again" : "Label next";
    $("#queue-exit").hidden = !on;
    const enabled = actionsEnabled(s);
    $("#queue-actions").hidden = currentItem(s) === null;
    ($("#queue-save-next") as HTMLButtonElement).disabled = !enabled.saveNext || this.navigating;
    ($("#queue-skip") as HTMLButtonElement).disabled = !enabled.skip || this.navigating;
    this.renderLease();
    const info = $("#queue-info");
    info.className = `mode-info ${s.kind}`;
    const item = currentItem(s);
    const rework = $("#queue-rework");
    rework.hidden = item?.reason !== "rework";
    rework.replaceChildren();
    if (item?.reason === "rework") {
      rework.append(el("strong", {}, "Rework: "), "rejected in review.");
      for (const comment of this.rework) rework.append(el("div", { class: "comment" }, comment));
    }
    switch (s.kind) {
      case "off":
        info.textContent = this.allowed ? "Label the frames the model most wants next." : "Accept or reject the model's proposals and flagged masks.";
        return;
      case "loading":
        info.textContent = "Asking for the next frame…";
        return;
      case "empty":
        info.textContent = "The queue is empty: nothing left to label.";
        return;
      case "error":
        info.textContent = s.message;
        if (item !== null) info.append(el("div", { class: "muted small" }, describe(item)));
        return;
      default: {
        const busy = s.kind === "saving" ? "Saving…" : s.kind === "completing" ? "Completing…" : s.kind === "skipping" ? "Skipping…" : null;
        info.replaceChildren(
          el("div", {}, item!.reason === "rework" ? "Rework" : "Asked by the model", el("span", { class: "muted" }, this.host.ws.isVideo ? ` · frame ${item!.frame}` : "")),
          el("div", { class: "muted small" }, describe(item!)),
        );
        if (busy !== null) info.append(el("div", { class: "small busy" }, busy));
      }
    }
  }

  /** The lease line sits outside the live region: its countdown is not announced. */
  private renderLease(): void {
    const node = $("#queue-lease");
    const item = this.state.kind === "item" ? this.state.item : null;
    node.hidden = item === null;
    if (item === null) return;
    const text = leaseText(item.lease_expires, Date.now());
    node.textContent = text;
    node.classList.toggle("expired", text === "lease expired");
  }

  snapshot(): Record<string, unknown> {
    return { kind: this.state.kind, item: currentItem(this.state), strategy: this.strategy, rework: this.rework };
  }
}

function describe(item: QueueItem): string {
  const model = item.model_version ? `model v${item.model_version}` : "no model yet";
  return `score ${formatScore(item.score)} · ${item.strategy} · ${model}`;
}
