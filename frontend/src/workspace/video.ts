/**
 * The workspace of a video (num_frames > 1): which frame is on screen, its image (from an
 * LRU of decoded frames, the next ones loaded ahead) and annotations (likewise cached),
 * playback at the video's frame rate (frames the decoder cannot deliver in time are
 * skipped), the timeline strip and the propagate action with its job's progress.
 * Everything else (tools, draft, saving) is the image workspace, on the current frame.
 */

import { api, describeError, listAll } from "../api.js";
import type { Renderer } from "../renderer.js";
import type { Annotation, Asset, Job } from "../types.js";
import { $, toast } from "../ui.js";
import type { Workspace } from "./controller.js";
import { FrameCache } from "./frame-cache.js";
import { PropagationRun, describeResult, type Direction } from "./propagation.js";
import type { AnnotationStore } from "./store.js";
import { flaggedFrames, flaggedTracks, formatTime, frameTime, nextFlagged, playbackFrame, preloadOrder, type Timeline } from "./timeline-model.js";
import { TimelineView } from "./timeline-view.js";

/** Decoded frames kept: about this many bytes of RGBA (bounded by a count either way). */
const FRAME_BUDGET_BYTES = 384 * 1024 * 1024;
const PRELOAD_AHEAD = 8;
const PREFETCH_DEBOUNCE_MS = 250;
const TIMELINE_REFRESH_MS = 1500;

async function loadFrameImage(url: string): Promise<ImageBitmap> {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`frame image: HTTP ${response.status}`);
  return createImageBitmap(await response.blob());
}

export class VideoController {
  frame = 0;
  playing = false;
  timeline: Timeline | null = null;
  readonly count: number;
  readonly frames: FrameCache<ImageBitmap>;
  readonly annotations: FrameCache<Annotation[]>;
  readonly view: TimelineView;
  propagation: PropagationRun | null = null;
  /** Frames shown while playing, and how many were skipped to keep the pace. */
  readonly playStats = { shown: 0, skipped: 0 };
  private token = 0;
  private prefetchTimer = 0;
  private prefetchEnabled = true;
  private timelineTimer = 0;
  private lastTimelineRefresh = 0;
  private showing = false;
  /** The frame whose annotations the store holds (-1 while they load). */
  private annotationsShown = 0;

  constructor(
    private readonly asset: Asset,
    private readonly ws: Workspace,
    private readonly store: AnnotationStore,
    private readonly renderer: Renderer,
    private readonly canLeaveFrame: () => boolean,
  ) {
    this.count = asset.num_frames;
    const perFrame = Math.max(1, asset.width * asset.height * 4);
    const capacity = Math.max(PRELOAD_AHEAD + 4, Math.min(240, Math.floor(FRAME_BUDGET_BYTES / perFrame)));
    this.frames = new FrameCache((n) => loadFrameImage(this.frameUrl(n)), capacity, (bitmap) => bitmap.close(), 4);
    this.annotations = new FrameCache(
      (n) => listAll<Annotation>(`/api/assets/${asset.id}/annotations/?frame=${n}&page_size=500`, { retries: 2 }),
      256,
      () => {},
      2,
    );
    this.view = new TimelineView($("#tl-canvas") as HTMLCanvasElement, this.count, {
      seek: (frame) => void this.goto(frame),
      selectTrack: (track) => this.selectTrack(track),
    });
    this.wireControls();
  }

  frameUrl(n: number): string {
    return `/api/assets/${this.asset.id}/frames/${n}/image`;
  }

  get fps(): number {
    const fps = this.timeline?.fps ?? this.asset.fps ?? null;
    return fps !== null && fps > 0 ? fps : 25;
  }

  /** Shows the timeline and the first frame (already drawn by the page: `first`). */
  async start(first: ImageBitmap, annotations: Annotation[], frame = 0): Promise<void> {
    $("#timeline").hidden = false;
    this.frames.set(0, first);
    this.frames.pinned = 0;
    this.annotations.set(0, annotations);
    this.renderInfo();
    await this.refreshTimeline();
    if (frame > 0 && frame < this.count) await this.goto(frame);
    else this.afterShow(0);
  }

  // --- frames -------------------------------------------------------------------------------

  /** Shows frame `n` (clamped); false when it cannot leave the current one (unsaved draft). */
  async goto(n: number): Promise<boolean> {
    const target = Math.min(this.count - 1, Math.max(0, Math.round(n)));
    if (target === this.frame) return true;
    if (!this.canLeaveFrame()) {
      this.pause();
      return false;
    }
    return this.show(target);
  }

  step(delta: number): void {
    this.pause();
    void this.goto(this.frame + delta);
  }

  private async show(n: number): Promise<boolean> {
    const token = ++this.token;
    this.frame = n;
    this.view.setFrame(n);
    this.renderInfo();
    let bitmap = this.frames.get(n);
    if (bitmap === undefined) {
      try {
        bitmap = await this.frames.load(n);
      } catch (error) {
        if (token === this.token) toast(`Frame ${n} could not be loaded: ${describeError(error)}`, "error");
        return false;
      }
      if (token !== this.token) return false; // the user has moved on
    }
    this.renderer.setImage(bitmap, this.asset.width, this.asset.height);
    this.frames.pinned = n;
    this.ws.frame = n;
    this.ws.history.clear(); // its steps name this frame's annotations
    const cached = this.annotations.get(n);
    this.applyAnnotations(n, cached ?? [], cached !== undefined);
    if (cached === undefined) {
      this.annotations
        .load(n)
        .then((list) => {
          if (token === this.token) this.applyAnnotations(n, list);
        })
        .catch((error: unknown) => {
          if (token === this.token) toast(`Annotations of frame ${n}: ${describeError(error)}`, "error");
        });
    }
    this.afterShow(n);
    return true;
  }

  private afterShow(n: number): void {
    const ahead = preloadOrder(n, this.count, this.playing ? PRELOAD_AHEAD * 2 : PRELOAD_AHEAD, this.playing ? 0 : 2);
    this.frames.preload(ahead);
    this.annotations.preload(ahead.slice(0, PRELOAD_AHEAD));
    if (!this.playing) {
      this.schedulePrefetch(n);
      history.replaceState(null, "", `#frame=${n}`);
    }
  }

  /**
   * The frame's annotations on screen; the active object stays selected if it is there.
   * `complete`: false for the empty placeholder shown while they load.
   */
  private applyAnnotations(frame: number, list: Annotation[], complete = true): void {
    this.annotationsShown = complete ? frame : -1;
    this.store.replace(frame, list);
    const track = this.ws.activeTrack;
    const instance = track === null ? undefined : this.store.byTrack(track);
    this.ws.selected = instance?.annotation.id ?? null;
    this.ws.refreshLayers();
    this.ws.emit("instances");
    this.view.setActiveTrack(track);
  }

  /** Tells the engine which frame is looked at, so its state is ready before a click. */
  private schedulePrefetch(frame: number): void {
    window.clearTimeout(this.prefetchTimer);
    if (!this.prefetchEnabled) return;
    this.prefetchTimer = window.setTimeout(() => {
      api.post(`/api/assets/${this.asset.id}/prefetch/`, { frame }).catch((error: unknown) => {
        // Not there (an older server) or not allowed (a viewer): stop asking.
        if (error instanceof Error && "status" in error && [403, 404, 405].includes(Number(error.status))) {
          this.prefetchEnabled = false;
        }
      });
    }, PREFETCH_DEBOUNCE_MS);
  }

  // --- playback -------------------------------------------------------------------------------

  togglePlay(): void {
    if (this.playing) this.pause();
    else this.play();
  }

  play(): void {
    if (this.playing || !this.canLeaveFrame()) return;
    if (this.frame >= this.count - 1) void this.goto(0);
    this.playing = true;
    this.playStats.shown = 0;
    this.playStats.skipped = 0;
    this.renderInfo();
    const startFrame = this.frame;
    const startTime = performance.now();
    let last = this.frame;
    const tick = (): void => {
      if (!this.playing) return;
      if (!this.ws.draft.isEmpty) return this.pause(); // a click while playing starts a draft here
      const target = playbackFrame(startFrame, performance.now() - startTime, this.fps);
      if (target >= this.count) {
        if (!this.showing) void this.goto(this.count - 1).then(() => this.pause());
        else requestAnimationFrame(tick);
        return;
      }
      // One frame at a time: if decoding is slower than the video, the next tick asks
      // for the frame due by then and the ones in between are skipped.
      if (target !== this.frame && !this.showing) {
        this.showing = true;
        this.playStats.skipped += Math.max(0, target - last - 1);
        last = target;
        void this.show(target).then((shown) => {
          this.showing = false;
          if (shown) this.playStats.shown += 1;
        });
      }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }

  pause(): void {
    if (!this.playing) return;
    this.playing = false;
    this.renderInfo();
    this.afterShow(this.frame);
  }

  // --- review ------------------------------------------------------------------------------------

  /** Jumps to the next (step 1) or previous (-1) frame flagged for review. */
  jumpToFlagged(step: 1 | -1): void {
    if (this.timeline === null) return;
    const frame = nextFlagged(this.timeline, this.frame, step);
    if (frame === null) {
      toast("No frame is flagged for review.", "info", 1500);
      return;
    }
    this.pause();
    // Work on the flagged object there (the active one if it is flagged), so a click
    // corrects it at once.
    const track = flaggedTracks(this.timeline, frame, this.ws.activeTrack)[0];
    if (track !== undefined && this.ws.draft.isEmpty) this.ws.activeTrack = track;
    void this.goto(frame);
  }

  /** A click on a track's name: work on that object (selected here if it has a mask). */
  selectTrack(track: number): void {
    this.ws.activeTrack = track;
    const instance = this.store.byTrack(track);
    if (instance !== undefined) this.ws.select(instance.annotation.id);
    else {
      this.ws.selected = null;
      this.ws.refreshLayers();
      this.ws.emit("instances");
    }
    this.view.setActiveTrack(track);
  }

  /** After a save, undo or delete on this frame: cache what the store now holds. */
  afterSave(): void {
    this.annotations.set(this.frame, this.store.list().map((i) => i.annotation));
    this.view.setActiveTrack(this.ws.activeTrack);
    void this.refreshTimeline();
  }

  async refreshTimeline(): Promise<void> {
    window.clearTimeout(this.timelineTimer);
    this.lastTimelineRefresh = performance.now();
    try {
      this.timeline = await api.get<Timeline>(`/api/assets/${this.asset.id}/timeline/`, { retries: 2 });
      this.view.setTimeline(this.timeline);
      this.renderInfo();
    } catch (error) {
      toast(`The timeline could not be loaded: ${describeError(error)}`, "error");
    }
  }

  // --- propagation --------------------------------------------------------------------------------

  /** From the click until the timeline and the frame show the job's result. */
  propagating = false;

  async propagate(): Promise<void> {
    if (this.propagating) return;
    const id = this.ws.selected ?? (this.store.size === 1 ? this.store.list()[0]!.annotation.id : null);
    if (id === null) {
      toast("Select the mask to propagate first (Tab, or a click with the select tool).", "warn");
      return;
    }
    if (!this.ws.draft.isEmpty) {
      toast("Accept (Enter) or discard (Esc) the draft before propagating.", "warn");
      return;
    }
    this.pause();
    this.propagating = true;
    const direction = ($("#tl-direction") as HTMLSelectElement).value as Direction;
    const bar = $("#tl-progress") as HTMLProgressElement;
    const text = $("#tl-job");
    const button = $("#tl-propagate") as HTMLButtonElement;
    const cancel = $("#tl-cancel") as HTMLButtonElement;
    const run = new PropagationRun(this.asset.id, (job) => this.showProgress(job));
    this.propagation = run;
    $("#tl-job-row").hidden = false;
    bar.value = 0;
    text.textContent = `propagating #${id} ${direction}…`;
    button.disabled = true;
    cancel.hidden = false;
    cancel.disabled = false;
    try {
      const job = await run.run({ annotation: id, direction, engine: this.ws.engine });
      text.textContent = describeResult(job);
      text.title = text.textContent;
      if (job.status === "done") bar.value = 1;
      if (job.status === "failed") toast(describeResult(job), "error");
    } catch (error) {
      text.textContent = `not started: ${describeError(error)}`;
      toast(`Propagation not started: ${describeError(error)}`, "error");
    } finally {
      cancel.hidden = true;
      await this.reloadAll();
      button.disabled = false;
      this.propagating = false;
    }
  }

  async cancelPropagation(): Promise<void> {
    const run = this.propagation;
    if (run === null || !run.running) return;
    ($("#tl-cancel") as HTMLButtonElement).disabled = true;
    $("#tl-job").textContent = "cancelling…";
    try {
      await run.cancel();
    } catch (error) {
      toast(`Not cancelled: ${describeError(error)}`, "error");
      ($("#tl-cancel") as HTMLButtonElement).disabled = false;
    }
  }

  private showProgress(job: Job): void {
    const bar = $("#tl-progress") as HTMLProgressElement;
    bar.value = job.progress;
    const percent = `${Math.round(job.progress * 100)}%`;
    $("#tl-job").textContent = `${job.status === "queued" ? "queued" : percent}${job.message ? ` · ${job.message}` : ""}`;
    // Markers fill in while it runs (the timeline is one small request), and frames
    // cached before the job wrote them are read again.
    if (job.status === "running" && performance.now() - this.lastTimelineRefresh > TIMELINE_REFRESH_MS) {
      this.annotations.clear();
      void this.refreshTimeline().then(() => this.refreshFrame());
    }
  }

  /** Many frames changed: drop cached annotations, reload the timeline and this frame. */
  async reloadAll(): Promise<void> {
    this.annotations.clear();
    await this.refreshTimeline();
    await this.refreshFrame();
  }

  /** Reads the frame on screen's annotations again (unless a draft is being edited). */
  private async refreshFrame(): Promise<void> {
    if (!this.ws.draft.isEmpty || this.playing) return; // the frame reloads on leaving
    const frame = this.frame;
    try {
      const list = await this.annotations.load(frame);
      if (frame === this.frame) this.applyAnnotations(frame, list);
    } catch (error) {
      toast(`Annotations of frame ${frame}: ${describeError(error)}`, "error");
    }
  }

  // --- DOM ---------------------------------------------------------------------------------------

  private wireControls(): void {
    $("#tl-prev").addEventListener("click", () => this.step(-1));
    $("#tl-next").addEventListener("click", () => this.step(1));
    $("#tl-play").addEventListener("click", () => this.togglePlay());
    $("#tl-flag").addEventListener("click", () => this.jumpToFlagged(1));
    $("#tl-propagate").addEventListener("click", () => void this.propagate());
    $("#tl-cancel").addEventListener("click", () => void this.cancelPropagation());
    const direction = $("#tl-direction") as HTMLSelectElement;
    direction.addEventListener("change", () => direction.blur());
  }

  renderInfo(): void {
    $("#tl-frame").textContent = `frame ${this.frame} / ${this.count - 1}`;
    const seconds = frameTime(this.frame, this.timeline?.fps ?? this.asset.fps ?? null, this.timeline?.timestamps ?? null);
    $("#tl-time").textContent = seconds === null ? "" : formatTime(seconds);
    const play = $("#tl-play");
    play.textContent = this.playing ? "❚❚" : "▶";
    play.setAttribute("aria-label", this.playing ? "Pause" : "Play");
    play.classList.toggle("active", this.playing);
    const flagged = this.timeline === null ? 0 : flaggedFrames(this.timeline).length;
    $("#tl-flag-count").textContent = String(flagged);
    ($("#tl-flag") as HTMLButtonElement).disabled = flagged === 0;
  }

  /** For tests and the status of the page (window.__app.state()). */
  state(): Record<string, unknown> {
    return {
      frame: this.frame,
      /** The frame on screen has its annotations (not a placeholder while they load). */
      loaded: this.annotationsShown === this.frame && this.ws.frame === this.frame,
      count: this.count,
      playing: this.playing,
      propagating: this.propagating,
      job: this.propagation?.job ? { id: this.propagation.job.id, status: this.propagation.job.status, progress: this.propagation.job.progress } : null,
      flagged: this.timeline === null ? [] : flaggedFrames(this.timeline),
      tracks: this.timeline?.tracks.map((t) => ({ track: t.track, frames: t.frames.length })) ?? [],
      cachedFrames: this.frames.size,
      activeTrack: this.ws.activeTrack,
      played: { ...this.playStats },
    };
  }
}
