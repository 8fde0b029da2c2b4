/**
 * The object being segmented: prompts so far (clicks, box, scribbles), the current mask
 * (full resolution, row-major 0/1, edited by the brush) and what the last prediction
 * said. Snapshots (with the mask as RLE) make undo/redo and the local backup cheap.
 */

import { countsBBox, decodeCounts, decodeRle, encodeRle, type BBox, type Rle } from "../rle.js";
import type { Annotation, Box, Click, PredictResponse, Scribble } from "../types.js";

export interface PredictMeta {
  engine: string;
  elapsedMs: number;
  score: number;
  prompts: unknown;
  embedding: string | undefined;
}

export interface DraftSnapshot {
  clicks: Click[];
  box: Box | null;
  scribbles: Scribble[];
  mask: Rle | null;
  meta: PredictMeta | null;
  /** The prompts changed after the mask was computed: predict again on restore. */
  stale: boolean;
  target: { id: number; version: number; label: number } | null;
}

export class Draft {
  clicks: Click[] = [];
  box: Box | null = null;
  scribbles: Scribble[] = [];
  mask: Uint8Array | null = null;
  meta: PredictMeta | null = null;
  stale = false;
  /** The stored annotation being refined, or null for a new object. */
  target: { id: number; version: number; label: number } | null = null;
  /** Union of the regions changed since the display last caught up (null: all). */
  dirty: BBox | null = null;
  private maskRle: Rle | null = null; // cache, valid until the brush changes the mask
  private areaCache = -1; // likewise for the pixel count

  constructor(readonly width: number, readonly height: number) {}

  get isEmpty(): boolean {
    return this.clicks.length === 0 && this.box === null && this.scribbles.length === 0 && this.mask === null;
  }

  get hasPrompts(): boolean {
    return this.clicks.length > 0 || this.box !== null || this.scribbles.length > 0;
  }

  get area(): number {
    if (this.mask === null) return 0;
    if (this.areaCache < 0) {
      let n = 0;
      for (let i = 0; i < this.mask.length; i++) n += this.mask[i]!;
      this.areaCache = n;
    }
    return this.areaCache;
  }

  /** Starts refining a stored annotation: its mask becomes the draft's. */
  beginEdit(annotation: Annotation): void {
    this.reset();
    this.target = { id: annotation.id, version: annotation.version, label: annotation.label };
    this.setMaskRle(annotation.mask);
  }

  reset(): void {
    this.clicks = [];
    this.box = null;
    this.scribbles = [];
    this.mask = null;
    this.maskRle = null;
    this.areaCache = -1;
    this.meta = null;
    this.stale = false;
    this.target = null;
    this.dirty = null;
  }

  setMaskRle(rle: Rle | null): void {
    this.mask = rle === null ? null : decodeRle(rle);
    this.maskRle = rle;
    this.areaCache = -1;
    this.dirty = null;
  }

  applyPrediction(response: PredictResponse): void {
    this.setMaskRle(response.mask);
    this.meta = {
      engine: response.engine,
      elapsedMs: response.elapsed_ms,
      score: response.score,
      prompts: response.prompts ?? null,
      embedding: response.embedding,
    };
    this.stale = false;
  }

  /** The mask as COCO RLE (encoded on demand after brush edits). */
  rle(): Rle | null {
    if (this.mask === null) return null;
    if (this.maskRle === null) this.maskRle = encodeRle(this.mask, this.height, this.width);
    return this.maskRle;
  }

  /** Paints (value 1) or erases (0) a disc of radius r around (cx, cy). */
  paintDisc(cx: number, cy: number, r: number, value: 0 | 1): void {
    if (this.mask === null) this.mask = new Uint8Array(this.width * this.height);
    const x0 = Math.max(0, Math.floor(cx - r));
    const x1 = Math.min(this.width - 1, Math.ceil(cx + r));
    const y0 = Math.max(0, Math.floor(cy - r));
    const y1 = Math.min(this.height - 1, Math.ceil(cy + r));
    if (x1 < x0 || y1 < y0) return;
    const r2 = r * r;
    for (let y = y0; y <= y1; y++) {
      const dy = y + 0.5 - cy;
      for (let x = x0; x <= x1; x++) {
        const dx = x + 0.5 - cx;
        if (dx * dx + dy * dy <= r2) this.mask[y * this.width + x] = value;
      }
    }
    this.maskRle = null;
    this.areaCache = -1;
    this.markDirty({ x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 });
  }

  /** Paints a stroke segment as discs along the line (spacing a third of the radius). */
  paintLine(ax: number, ay: number, bx: number, by: number, r: number, value: 0 | 1): void {
    const steps = Math.max(1, Math.ceil(Math.hypot(bx - ax, by - ay) / Math.max(0.5, r / 3)));
    for (let i = 1; i <= steps; i++) {
      const t = i / steps;
      this.paintDisc(ax + (bx - ax) * t, ay + (by - ay) * t, r, value);
    }
  }

  private markDirty(rect: BBox): void {
    if (this.dirty === null) {
      this.dirty = rect;
      return;
    }
    const x0 = Math.min(this.dirty.x, rect.x);
    const y0 = Math.min(this.dirty.y, rect.y);
    const x1 = Math.max(this.dirty.x + this.dirty.width, rect.x + rect.width);
    const y1 = Math.max(this.dirty.y + this.dirty.height, rect.y + rect.height);
    this.dirty = { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
  }

  snapshot(): DraftSnapshot {
    return {
      clicks: this.clicks.map((c) => ({ ...c })),
      box: this.box === null ? null : [...this.box],
      scribbles: this.scribbles.map((s) => ({ positive: s.positive, points: s.points.map((p) => [p[0], p[1]]) })),
      mask: this.rle(),
      meta: this.meta,
      stale: this.stale,
      target: this.target === null ? null : { ...this.target },
    };
  }

  restore(snapshot: DraftSnapshot): void {
    this.clicks = snapshot.clicks.map((c) => ({ ...c }));
    this.box = snapshot.box === null ? null : [...snapshot.box];
    this.scribbles = snapshot.scribbles.map((s) => ({ positive: s.positive, points: s.points.map((p) => [p[0], p[1]]) }));
    this.setMaskRle(snapshot.mask);
    this.meta = snapshot.meta;
    this.stale = snapshot.stale;
    this.target = snapshot.target === null ? null : { ...snapshot.target };
  }
}

/** Bounding box of a stored RLE without decoding it to pixels. */
export function rleBBox(rle: Rle): BBox | null {
  return countsBBox(decodeCounts(rle.counts), rle.size[0]);
}
