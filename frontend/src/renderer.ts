/**
 * Draws one frame: background, the image (from a pyramid level matching the zoom),
 * the composited mask layer, highlighted masks (selection, draft) and the vector
 * overlay (prompts, brush cursor). Rendering is scheduled with requestAnimationFrame;
 * `render()` can also be called directly (the benchmark times it).
 *
 * When the masks have not changed for a moment, image and mask layer are "baked" into
 * one pyramid (on idle), so a pan/zoom frame costs a single scaled drawImage; until the
 * bake is ready the two are drawn separately.
 */

import { MaskLayer, buildPyramid, context2d, freeze, makeCanvas, type AnyCanvas } from "./masks.js";
import { pyramidLevel, smoothingFor, visibleImageRect, type View } from "./view.js";

export interface Highlight {
  canvas: AnyCanvas;
  x: number;
  y: number;
  alpha: number;
  /** Only this part of the canvas holds pixels (saves drawing a mostly empty 4K canvas). */
  part?: { x: number; y: number; width: number; height: number };
}

export type OverlayPainter = (ctx: CanvasRenderingContext2D, view: View) => void;

export class Renderer {
  readonly ctx: CanvasRenderingContext2D;
  view: View = { scale: 1, offsetX: 0, offsetY: 0 };
  opacity = 0.55;
  masksVisible = true;
  layer: MaskLayer | null = null;
  highlights: Highlight[] = [];
  overlay: OverlayPainter | null = null;
  /** Called after each frame with its duration in ms. */
  onFrame: ((ms: number) => void) | null = null;

  private imageLevels: CanvasImageSource[] = [];
  private imageWidth = 0;
  private imageHeight = 0;
  private pending = 0;
  private cssWidth = 0;
  private cssHeight = 0;
  private dpr = 1;
  private baked: CanvasImageSource[] = [];
  private bakedKey = "";
  private bakeScheduled = false;
  private imageRevision = 0;

  constructor(readonly canvas: HTMLCanvasElement) {
    const ctx = canvas.getContext("2d", { alpha: false });
    if (ctx === null) throw new Error("2D canvas is not available");
    this.ctx = ctx;
    this.resize();
  }

  get width(): number {
    return this.cssWidth;
  }

  get height(): number {
    return this.cssHeight;
  }

  get hasImage(): boolean {
    return this.imageLevels.length > 0;
  }

  setImage(source: CanvasImageSource, width: number, height: number): void {
    this.imageWidth = width;
    this.imageHeight = height;
    const levels = buildPyramid(source, width, height).map(freeze);
    const base = typeof OffscreenCanvas !== "undefined" && source instanceof OffscreenCanvas ? freeze(source) : source;
    // The levels made here (not the caller's source): a video shows many frames in turn.
    for (const old of this.imageLevels.slice(1)) if (old instanceof ImageBitmap) old.close();
    this.imageLevels = [base, ...levels];
    this.imageRevision += 1; // a new frame of a video: the baked composite is stale
    this.invalidate();
  }

  /** Matches the canvas backing store to its CSS size and the device pixel ratio. */
  resize(): void {
    const rect = this.canvas.getBoundingClientRect();
    this.dpr = window.devicePixelRatio || 1;
    this.cssWidth = Math.max(1, Math.round(rect.width));
    this.cssHeight = Math.max(1, Math.round(rect.height));
    const w = Math.round(this.cssWidth * this.dpr);
    const h = Math.round(this.cssHeight * this.dpr);
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    this.invalidate();
  }

  invalidate(): void {
    if (this.pending !== 0) return;
    this.pending = requestAnimationFrame(() => {
      this.pending = 0;
      this.render();
    });
  }

  render(): number {
    const started = performance.now();
    const { ctx, view, dpr } = this;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.globalAlpha = 1;
    ctx.fillStyle = "#1b1d22";
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    if (this.imageLevels.length > 0) {
      const smooth = smoothingFor(view.scale * dpr);
      const k = pyramidLevel(view.scale * dpr, this.imageLevels.length);
      const masks = this.masksVisible && this.layer !== null && !this.layer.isEmpty ? this.layer : null;
      if (masks !== null && this.baked.length > 0 && this.bakedKey === this.bakeKey()) {
        const bk = Math.min(k, this.baked.length - 1);
        this.drawLevel(this.baked[bk]!, bk, smooth);
      } else {
        this.drawLevel(this.imageLevels[k]!, k, smooth);
        if (masks !== null) {
          const mk = Math.min(k, masks.levelCount - 1);
          ctx.globalAlpha = this.opacity;
          this.drawLevel(masks.level(mk), mk, smooth);
          this.scheduleBake();
        }
      }
      for (const h of this.highlights) {
        ctx.globalAlpha = h.alpha;
        ctx.imageSmoothingEnabled = smooth;
        ctx.setTransform(dpr * view.scale, 0, 0, dpr * view.scale, dpr * view.offsetX, dpr * view.offsetY);
        const p = h.part;
        if (p === undefined) ctx.drawImage(h.canvas, h.x, h.y);
        else if (p.width > 0 && p.height > 0) ctx.drawImage(h.canvas, p.x, p.y, p.width, p.height, h.x + p.x, h.y + p.y, p.width, p.height);
      }
    }
    ctx.globalAlpha = 1;
    if (this.overlay !== null) {
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      this.overlay(ctx, view);
    }
    const ms = performance.now() - started;
    this.onFrame?.(ms);
    return ms;
  }

  private bakeKey(): string {
    return `${this.layer?.revision ?? -1}:${this.opacity}:${this.imageRevision}`;
  }

  private scheduleBake(): void {
    if (this.bakeScheduled) return;
    this.bakeScheduled = true;
    const run = (): void => {
      this.bakeScheduled = false;
      this.bake();
      this.invalidate();
    };
    // After the user has paused: a bake of a 4K image takes a noticeable moment.
    setTimeout(() => {
      if (typeof requestIdleCallback === "function") requestIdleCallback(run, { timeout: 1000 });
      else run();
    }, 250);
  }

  /** Composites image and masks into one pyramid now (the benchmark calls it directly). */
  bake(): void {
    const key = this.bakeKey();
    if (key === this.bakedKey || this.layer === null || this.imageLevels.length === 0) return;
    const canvas = makeCanvas(this.imageWidth, this.imageHeight);
    const ctx = context2d(canvas);
    ctx.drawImage(this.imageLevels[0]!, 0, 0);
    ctx.globalAlpha = this.opacity;
    ctx.drawImage(this.layer.level(0), 0, 0);
    const levels = buildPyramid(canvas, this.imageWidth, this.imageHeight).map(freeze);
    for (const old of this.baked) if (old instanceof ImageBitmap) old.close();
    this.baked = [freeze(canvas), ...levels];
    this.bakedKey = key;
  }

  /** Draws the visible part of a pyramid level (level k is 1/2^k of the image). */
  private drawLevel(source: CanvasImageSource, k: number, smooth: boolean): void {
    const { ctx, view, dpr } = this;
    const rect = visibleImageRect(view, this.cssWidth, this.cssHeight, this.imageWidth, this.imageHeight);
    if (rect === null) return;
    const f = 2 ** k;
    const sx = Math.floor(rect.x / f);
    const sy = Math.floor(rect.y / f);
    const levelW = Math.ceil(this.imageWidth / f);
    const levelH = Math.ceil(this.imageHeight / f);
    const sw = Math.min(levelW - sx, Math.ceil((rect.x + rect.width) / f) - sx);
    const sh = Math.min(levelH - sy, Math.ceil((rect.y + rect.height) / f) - sy);
    if (sw <= 0 || sh <= 0) return;
    ctx.imageSmoothingEnabled = smooth;
    ctx.imageSmoothingQuality = "low"; // bilinear: the pyramid does the rest
    ctx.setTransform(dpr * view.scale * f, 0, 0, dpr * view.scale * f, dpr * view.offsetX, dpr * view.offsetY);
    ctx.drawImage(source, sx, sy, sw, sh, sx, sy, sw, sh);
  }
}
