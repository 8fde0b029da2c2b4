/**
 * Review mode of the workspace (owner / reviewer): walks the annotations the server has
 * for review (`GET /api/projects/{id}/review/`: needs review first, then the model's
 * proposals, oldest first) one by one, opens each one's asset and frame with it selected,
 * and sends the verdict: A accepts, R opens the comment box (Enter sends the rejection).
 * Skipped ones are remembered for the browser session.
 */

import { api, describeError, type RequestOptions } from "../api.js";
import type { ModeParams } from "../learning/queue-model.js";
import { formatScore } from "../learning/status.js";
import type { Annotation, Page } from "../types.js";
import { $, el, isTyping, toast } from "../ui.js";
import { plainKey, showTarget, until, type ModeHost } from "./modes.js";

const PAGE = 100;
const MAX_PAGES = 5;

export class ReviewMode {
  active = false;
  current: Annotation | null = null;
  /** Annotations left to review (the server's count), null before the first answer. */
  left: number | null = null;
  busy = false;
  decided = 0;
  private readonly skipKey: string;

  constructor(
    private readonly host: ModeHost,
    readonly allowed: boolean,
    private filters: { status: string | null; source: string | null } = { status: null, source: null },
  ) {
    this.skipKey = `review-skipped:${host.project.id}`;
    $("#review-start").hidden = !allowed;
    $("#review-start").addEventListener("click", () => void this.start(null));
    $("#review-accept").addEventListener("click", () => void this.decide("accept", ""));
    $("#review-reject").addEventListener("click", () => this.openReject());
    $("#review-skip").addEventListener("click", () => void this.skip());
    $("#review-exit").addEventListener("click", () => this.exit());
    const form = $("#review-reject-form") as HTMLFormElement;
    const comment = $("#review-comment") as HTMLTextAreaElement;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.decide("reject", comment.value.trim());
    });
    comment.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        form.requestSubmit();
      } else if (event.key === "Escape") {
        event.preventDefault();
        this.closeReject();
      }
    });
    $("#review-cancel").addEventListener("click", () => this.closeReject());
  }

  private get params(): ModeParams {
    return { mode: "review", annotation: this.current?.id ?? null, ...this.filters };
  }

  private skipped(): Set<number> {
    try {
      return new Set(JSON.parse(sessionStorage.getItem(this.skipKey) ?? "[]") as number[]);
    } catch {
      return new Set();
    }
  }

  /** Enters review mode on `preferred` (if still to review) or the first one left. */
  async start(preferred: number | null): Promise<void> {
    if (!this.allowed) return;
    this.active = true;
    this.render("Looking for annotations to review…");
    let next: Annotation | null;
    try {
      next = await this.find(preferred, new Set());
    } catch (error) {
      return this.render(`Could not list the annotations to review: ${describeError(error)}`);
    }
    await this.open(next);
  }

  /** The next annotation to review, skipping the ones skipped or just decided. */
  private async find(preferred: number | null, exclude: Set<number>): Promise<Annotation | null> {
    const skipped = this.skipped();
    const query = new URLSearchParams({ page_size: String(PAGE) });
    if (this.filters.status) query.set("status", this.filters.status);
    if (this.filters.source) query.set("source", this.filters.source);
    let path: string | null = `/api/projects/${this.host.project.id}/review/?${query}`;
    const options: RequestOptions = { retries: 2 };
    let first: Annotation | null = null;
    for (let pageNo = 0; path !== null && pageNo < MAX_PAGES; pageNo++) {
      const page: Page<Annotation> = await api.get<Page<Annotation>>(path, options);
      if (pageNo === 0) this.left = page.count;
      for (const a of page.results) {
        if (exclude.has(a.id) || skipped.has(a.id)) continue;
        if (a.id === preferred) return a;
        first ??= a;
      }
      if (first !== null && preferred === null) return first;
      path = page.next === null ? null : ((u) => u.pathname + u.search)(new URL(page.next, location.origin));
    }
    return first;
  }

  private async open(next: Annotation | null): Promise<void> {
    this.current = next;
    if (next === null) {
      this.render(this.decided > 0 ? `Nothing left to review (${this.decided} reviewed here).` : "Nothing to review.");
      history.replaceState(null, "", location.pathname + location.hash);
      return;
    }
    const shown = await showTarget(this.host, next.asset, next.frame, this.params);
    if (shown === "navigating") return this.render("Opening the next annotation…");
    if (shown === "blocked") return this.render("Accept or discard the draft first.");
    const { ws, store } = this.host;
    if (ws.isVideo) ws.activeTrack = next.track;
    if (!(await until(() => store.get(next.id) !== undefined))) {
      // Not on screen (yet): take the server's copy, so it is drawn and can be decided.
      store.upsert(next);
    }
    ws.select(next.id);
    this.render();
  }

  async decide(decision: "accept" | "reject", comment: string): Promise<void> {
    const target = this.current;
    if (!this.active || target === null || this.busy) return;
    const { ws, ops, store } = this.host;
    if (!ws.draft.isEmpty) {
      // The reviewer refined the mask: save it first (their edit is what is accepted).
      if (ws.draft.target?.id !== target.id || !(await ops.accept())) {
        toast("Save (Enter) or discard (Esc) the draft first.", "warn", 3000);
        return;
      }
    }
    this.busy = true;
    this.render();
    try {
      const updated = await api.post<Annotation>(`/api/annotations/${target.id}/review/`, { decision, comment }, { retries: 2 });
      if (store.get(updated.id) !== undefined) store.upsert(updated);
      ws.refreshLayers();
      ws.emit("instances");
      this.decided += 1;
      this.closeReject();
      toast(`#${target.id} ${decision === "accept" ? "accepted" : "rejected"}`, "ok", 1500);
      this.busy = false;
      await this.open(await this.find(null, new Set([target.id])));
    } catch (error) {
      this.busy = false;
      this.render(`Not sent: ${describeError(error)}`);
    }
  }

  async skip(): Promise<void> {
    const target = this.current;
    if (target === null || this.busy) return;
    const skipped = this.skipped();
    skipped.add(target.id);
    sessionStorage.setItem(this.skipKey, JSON.stringify([...skipped]));
    try {
      await this.open(await this.find(null, new Set([target.id])));
    } catch (error) {
      this.render(describeError(error));
    }
  }

  openReject(): void {
    if (this.current === null || this.busy) return;
    $("#review-reject-form").hidden = false;
    ($("#review-comment") as HTMLTextAreaElement).focus();
  }

  closeReject(): void {
    const form = $("#review-reject-form") as HTMLFormElement;
    form.hidden = true;
    form.reset();
    this.host.ws.renderer.canvas.focus();
  }

  exit(): void {
    this.active = false;
    this.current = null;
    this.closeReject();
    history.replaceState(null, "", location.pathname + location.hash);
    this.render();
  }

  /** A accepts, R rejects (comment box); other keys keep their workspace meaning. */
  handleKey(event: KeyboardEvent): boolean {
    if (!this.active || this.current === null || isTyping(event.target)) return false;
    const key = plainKey(event);
    if (key === "a" && !event.shiftKey) {
      void this.decide("accept", "");
      return true;
    }
    if (key === "r" && !event.shiftKey) {
      this.openReject();
      return true;
    }
    return false;
  }

  render(message: string | null = null): void {
    $("#review-box").hidden = !this.active;
    $("#queue-box").classList.toggle("in-review", this.active);
    const a = this.current;
    $("#review-actions").hidden = a === null;
    for (const id of ["#review-accept", "#review-reject", "#review-skip"]) ($(id) as HTMLButtonElement).disabled = this.busy || a === null;
    $("#review-count").textContent = this.left === null ? "" : `${this.left} to review`;
    const info = $("#review-info");
    info.replaceChildren();
    if (a !== null) {
      const label = this.host.store.label(a.label)?.name ?? `label ${a.label}`;
      info.append(
        el("div", {}, `#${a.id} · ${label}`, el("span", { class: "muted" }, this.host.ws.isVideo ? ` · frame ${a.frame}` : "")),
        el(
          "div",
          { class: "small" },
          el("span", { class: `review-badge ${a.source === "generated" ? "proposal" : ""}` }, a.source),
          ` score ${formatScore(a.score)} · `,
          el("span", { class: `review-status ${a.review_status}` }, a.review_status.replace("_", " ")),
          a.author ? el("span", { class: "muted" }, ` · by ${a.author}`) : null,
        ),
      );
    }
    if (message !== null) info.append(el("div", { class: "muted" }, message));
  }

  snapshot(): Record<string, unknown> {
    return { active: this.active, current: this.current?.id ?? null, left: this.left, decided: this.decided, busy: this.busy };
  }
}
