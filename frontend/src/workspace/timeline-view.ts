/**
 * The timeline strip under the canvas, drawn on its own canvas: a frame ruler, the
 * confidence strip (score per frame, red to green), one row per track (keyframes full
 * height in the track colour, propagated frames as a thinner bar, flagged frames red) and
 * the current frame. Click or drag to scrub; a click on a track's name selects that track.
 */

import {
  confidenceColor,
  entryAt,
  frameAtFraction,
  frameConfidence,
  frameKind,
  trackColor,
  type Timeline,
} from "./timeline-model.js";

export interface TimelineHandlers {
  seek(frame: number): void;
  selectTrack(track: number): void;
}

const GUTTER = 48;
const RIGHT = 8;
const RULER = 16;
const CONFIDENCE = 10;
const GAP = 3;
const MAX_ROWS_HEIGHT = 96;
const FLAGGED = "#ff5d5d";

export class TimelineView {
  private readonly ctx: CanvasRenderingContext2D;
  private timeline: Timeline | null = null;
  private confidence: Float32Array = new Float32Array(0);
  private frame = 0;
  private activeTrack: number | null = null;
  private scheduled = 0;
  private dragging = false;
  private cssWidth = 0;
  private cssHeight = 0;
  /** Everything but the current frame, redrawn only when the data or the size change
   * (a frame step then costs one drawImage, however long the video). */
  private backdrop: HTMLCanvasElement | null = null;

  constructor(
    readonly canvas: HTMLCanvasElement,
    readonly count: number,
    private readonly handlers: TimelineHandlers,
  ) {
    const ctx = canvas.getContext("2d");
    if (ctx === null) throw new Error("2D canvas is not available");
    this.ctx = ctx;
    canvas.addEventListener("pointerdown", (e) => this.down(e));
    canvas.addEventListener("pointermove", (e) => this.move(e));
    canvas.addEventListener("pointerup", (e) => this.up(e));
    canvas.addEventListener("pointercancel", (e) => this.up(e));
    new ResizeObserver(() => this.resize()).observe(canvas);
    this.resize();
  }

  setTimeline(timeline: Timeline): void {
    this.timeline = timeline;
    this.confidence = frameConfidence(timeline);
    this.backdrop = null;
    this.resize(); // the number of rows sets the height
  }

  setFrame(frame: number): void {
    if (frame === this.frame) return;
    this.frame = frame;
    this.invalidate();
  }

  setActiveTrack(track: number | null): void {
    if (track === this.activeTrack) return;
    this.activeTrack = track;
    this.backdrop = null;
    this.invalidate();
  }

  /** The x (CSS pixels, from the canvas's left) of the middle of a frame's cell. */
  xOf(frame: number): number {
    return GUTTER + (frame + 0.5) * this.cellWidth;
  }

  /** The y (CSS pixels) of the middle of a track's row, or null when it has none. */
  yOfTrack(track: number): number | null {
    const index = this.tracks.findIndex((t) => t.track === track);
    return index < 0 ? null : this.rowTop(index) + this.rowHeight / 2;
  }

  private get tracks(): Timeline["tracks"] {
    return this.timeline?.tracks ?? [];
  }

  private get cellWidth(): number {
    return Math.max(0.01, (this.cssWidth - GUTTER - RIGHT) / Math.max(1, this.count));
  }

  private get rowHeight(): number {
    const n = Math.max(1, this.tracks.length);
    return Math.max(3, Math.min(14, Math.floor(MAX_ROWS_HEIGHT / n)));
  }

  private rowTop(index: number): number {
    return RULER + CONFIDENCE + GAP + index * (this.rowHeight + 1);
  }

  private resize(): void {
    const rows = Math.max(1, this.tracks.length);
    const height = this.rowTop(rows) + GAP;
    this.canvas.style.height = `${height}px`;
    const rect = this.canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    this.cssWidth = Math.max(1, Math.round(rect.width));
    this.cssHeight = height;
    const w = Math.round(this.cssWidth * dpr);
    const h = Math.round(height * dpr);
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
      this.backdrop = null;
    }
    this.invalidate();
  }

  invalidate(): void {
    if (this.scheduled !== 0) return;
    this.scheduled = requestAnimationFrame(() => {
      this.scheduled = 0;
      this.draw();
    });
  }

  draw(): void {
    const { ctx } = this;
    if (this.backdrop === null) {
      this.backdrop = document.createElement("canvas");
      this.backdrop.width = this.canvas.width;
      this.backdrop.height = this.canvas.height;
      const back = this.backdrop.getContext("2d");
      if (back !== null) this.drawBackdrop(back);
    }
    const dpr = this.canvas.width / Math.max(1, this.cssWidth);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(this.backdrop, 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    this.drawCursor(ctx);
  }

  private drawBackdrop(ctx: CanvasRenderingContext2D): void {
    const dpr = this.canvas.width / Math.max(1, this.cssWidth);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, this.cssWidth, this.cssHeight);
    ctx.fillStyle = "#15171c";
    ctx.fillRect(0, 0, this.cssWidth, this.cssHeight);
    const cw = this.cellWidth;
    ctx.font = "10px system-ui, sans-serif";
    ctx.textBaseline = "middle";

    // Ruler: ticks at a step that leaves room for the numbers.
    const step = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000].find((s) => s * cw >= 40) ?? 20000;
    ctx.fillStyle = "#9aa1b2";
    for (let f = 0; f < this.count; f += step) {
      const x = GUTTER + f * cw;
      ctx.fillRect(x, RULER - 5, 1, 5);
      ctx.fillText(String(f), x + 2, RULER / 2 - 1);
    }
    ctx.fillText("conf.", 4, RULER + CONFIDENCE / 2);

    // Confidence strip.
    ctx.fillStyle = "#272b34";
    ctx.fillRect(GUTTER, RULER, this.count * cw, CONFIDENCE);
    for (let f = 0; f < this.confidence.length; f++) {
      const value = this.confidence[f]!;
      if (Number.isNaN(value)) continue;
      ctx.fillStyle = confidenceColor(value);
      ctx.fillRect(GUTTER + f * cw, RULER, Math.max(1, cw), CONFIDENCE);
    }

    // Track rows.
    const rh = this.rowHeight;
    if (this.tracks.length === 0) {
      ctx.fillStyle = "#9aa1b2";
      ctx.fillText("no tracks yet: annotate an object, then Propagate", GUTTER + 4, this.rowTop(0) + rh / 2);
    }
    this.tracks.forEach((track, i) => {
      const top = this.rowTop(i);
      const color = trackColor(track.track);
      if (track.track === this.activeTrack) {
        ctx.fillStyle = "rgba(79, 140, 255, .18)";
        ctx.fillRect(0, top - 1, this.cssWidth, rh + 2);
      }
      ctx.fillStyle = color;
      if (rh >= 9) ctx.fillText(`#${track.track}`, 4, top + rh / 2);
      else ctx.fillRect(4, top, 10, rh);
      ctx.fillStyle = "#272b34";
      ctx.fillRect(GUTTER, top + rh / 2 - 0.5, this.count * cw, 1);
      for (const [frame, source, review] of track.frames) {
        const x = GUTTER + frame * cw;
        const w = Math.max(1, cw - (cw > 4 ? 1 : 0));
        switch (frameKind(source, review)) {
          case "keyframe":
            ctx.fillStyle = color;
            ctx.fillRect(x, top, w, rh);
            ctx.fillStyle = "#ffffff";
            ctx.fillRect(x, top, w, Math.max(1, rh / 5));
            break;
          case "propagated":
            ctx.globalAlpha = 0.7;
            ctx.fillStyle = color;
            ctx.fillRect(x, top + rh * 0.25, w, rh * 0.5);
            ctx.globalAlpha = 1;
            break;
          case "flagged":
            ctx.fillStyle = FLAGGED;
            ctx.fillRect(x, top, w, rh);
            break;
        }
      }
    });
  }

  private drawCursor(ctx: CanvasRenderingContext2D): void {
    const cw = this.cellWidth;
    const x = GUTTER + this.frame * cw;
    ctx.strokeStyle = "#ffffff";
    ctx.lineWidth = 1.5;
    ctx.strokeRect(x, 1, Math.max(2, cw), this.cssHeight - 2);
    ctx.fillStyle = "#ffffff";
    ctx.beginPath();
    ctx.moveTo(x + Math.max(2, cw) / 2 - 5, 0);
    ctx.lineTo(x + Math.max(2, cw) / 2 + 5, 0);
    ctx.lineTo(x + Math.max(2, cw) / 2, 6);
    ctx.fill();
  }

  private frameAt(clientX: number): number {
    const rect = this.canvas.getBoundingClientRect();
    const fraction = (clientX - rect.left - GUTTER) / Math.max(1, this.cssWidth - GUTTER - RIGHT);
    return frameAtFraction(fraction, this.count);
  }

  private trackAt(clientY: number): number | null {
    const y = clientY - this.canvas.getBoundingClientRect().top;
    const index = Math.floor((y - this.rowTop(0)) / (this.rowHeight + 1));
    return this.tracks[index]?.track ?? null;
  }

  private down(event: PointerEvent): void {
    if (event.button !== 0) return;
    const x = event.clientX - this.canvas.getBoundingClientRect().left;
    if (x < GUTTER) {
      const track = this.trackAt(event.clientY);
      if (track !== null) this.handlers.selectTrack(track);
      return;
    }
    this.dragging = true;
    this.canvas.setPointerCapture(event.pointerId);
    this.handlers.seek(this.frameAt(event.clientX));
  }

  private move(event: PointerEvent): void {
    if (this.dragging) {
      this.handlers.seek(this.frameAt(event.clientX));
      return;
    }
    this.canvas.title = this.describe(this.frameAt(event.clientX), this.trackAt(event.clientY));
  }

  private up(event: PointerEvent): void {
    if (!this.dragging) return;
    this.dragging = false;
    if (this.canvas.hasPointerCapture(event.pointerId)) this.canvas.releasePointerCapture(event.pointerId);
  }

  /** Tooltip: "frame 12 · #3 propagated, confidence 0.62". */
  private describe(frame: number, track: number | null): string {
    const parts = [`frame ${frame}`];
    const row = this.tracks.find((t) => t.track === track);
    const entry = row === undefined ? undefined : entryAt(row, frame);
    if (row !== undefined && entry !== undefined) {
      const [, source, review, score] = entry;
      const kind = frameKind(source, review);
      parts.push(`#${row.track} ${kind === "keyframe" ? `keyframe (${source})` : kind}${score !== null ? `, confidence ${score.toFixed(2)}` : ""}`);
    } else if (!Number.isNaN(this.confidence[frame] ?? NaN)) {
      parts.push(`confidence ${this.confidence[frame]!.toFixed(2)}`);
    }
    return parts.join(" · ");
  }
}
