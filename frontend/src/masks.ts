/**
 * Mask bitmaps for display: each annotation's RLE is decoded once into a small canvas
 * the size of its bounding box (cached by the caller per annotation id + version); all
 * visible annotations are composited into one full-resolution layer with a halving
 * pyramid, rebuilt only when something changes, so a frame costs two drawImage calls
 * however many masks there are.
 */

import { countsArea, countsBBox, decodeCounts, forEachRun, type BBox, type Rle } from "./rle.js";
import type { MaskStyle } from "./learning/status.js";
import { parseColor } from "./ui.js";

export type AnyCanvas = HTMLCanvasElement | OffscreenCanvas;
export type Ctx2D = CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D;

export function makeCanvas(width: number, height: number): AnyCanvas {
  if (typeof OffscreenCanvas !== "undefined") return new OffscreenCanvas(width, height);
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  return canvas;
}

export function context2d(canvas: AnyCanvas): Ctx2D {
  const ctx = canvas.getContext("2d") as Ctx2D | null;
  if (ctx === null) throw new Error("2D canvas is not available");
  return ctx;
}

const FILL_ALPHA = 150;
const EDGE_ALPHA = 255;
const FLAG: [number, number, number] = [255, 77, 79];

/**
 * Colors the pixels of `rect` from a row-major 0/1 `mask` of width `stride` and height
 * `rows`: interior at FILL_ALPHA, edge pixels (a 4-neighbour outside) opaque. The other
 * styles keep the model's unreviewed work apart from accepted masks at a glance:
 * "proposal" is hatched and faint with a dashed edge, "flagged" has a dashed edge
 * alternating with red, "rejected" is barely filled with a dashed edge.
 */
export function maskImageData(
  mask: Uint8Array,
  stride: number,
  rows: number,
  rect: BBox,
  color: string,
  style: MaskStyle = "solid",
): ImageData {
  const [r, g, b] = parseColor(color);
  if (style !== "solid") return styledImageData(mask, stride, rows, rect, [r, g, b], style);
  const image = new ImageData(rect.width, rect.height);
  const data = image.data;
  for (let y = 0; y < rect.height; y++) {
    const my = rect.y + y;
    const row = my * stride;
    for (let x = 0; x < rect.width; x++) {
      const mx = rect.x + x;
      const i = row + mx;
      if (!mask[i]) continue;
      const edge =
        mx === 0 || my === 0 || mx === stride - 1 || my === rows - 1 ||
        !mask[i - 1] || !mask[i + 1] || !mask[i - stride] || !mask[i + stride];
      const o = (y * rect.width + x) * 4;
      data[o] = r;
      data[o + 1] = g;
      data[o + 2] = b;
      data[o + 3] = edge ? EDGE_ALPHA : FILL_ALPHA;
    }
  }
  return image;
}

function styledImageData(
  mask: Uint8Array,
  stride: number,
  rows: number,
  rect: BBox,
  rgb: [number, number, number],
  style: Exclude<MaskStyle, "solid">,
): ImageData {
  const image = new ImageData(rect.width, rect.height);
  const data = image.data;
  for (let y = 0; y < rect.height; y++) {
    const my = rect.y + y;
    const row = my * stride;
    for (let x = 0; x < rect.width; x++) {
      const mx = rect.x + x;
      const i = row + mx;
      if (!mask[i]) continue;
      const edge =
        mx === 0 || my === 0 || mx === stride - 1 || my === rows - 1 ||
        !mask[i - 1] || !mask[i + 1] || !mask[i - stride] || !mask[i + stride];
      const dash = ((mx + my) >> 2) % 2 === 0; // 4 px on, 4 px off along the outline
      let color = rgb;
      let alpha: number;
      if (edge) {
        if (style === "flagged" && !dash) color = FLAG;
        alpha = dash || style === "flagged" ? EDGE_ALPHA : 0;
      } else if (style === "proposal") {
        alpha = ((mx - my) & 7) < 2 ? 140 : 40; // diagonal hatching
      } else {
        alpha = style === "flagged" ? FILL_ALPHA : 45;
      }
      const o = (y * rect.width + x) * 4;
      data[o] = color[0];
      data[o + 1] = color[1];
      data[o + 2] = color[2];
      data[o + 3] = alpha;
    }
  }
  return image;
}

/** One annotation's mask, cropped to its bounding box and painted in its color. */
export class MaskBitmap {
  private constructor(
    readonly bbox: BBox | null,
    /** Row-major 0/1 crop of the bounding box, for hit tests. */
    readonly bits: Uint8Array,
    readonly canvas: AnyCanvas | null,
    readonly area: number,
  ) {}

  static fromRle(rle: Rle, color: string, style: MaskStyle = "solid"): MaskBitmap {
    const [height] = rle.size;
    const counts = decodeCounts(rle.counts);
    const bbox = countsBBox(counts, height);
    if (bbox === null) return new MaskBitmap(null, new Uint8Array(0), null, 0);
    const bits = new Uint8Array(bbox.width * bbox.height);
    forEachRun(counts, height, (x, y0, y1) => {
      const cx = x - bbox.x;
      for (let y = y0; y < y1; y++) bits[(y - bbox.y) * bbox.width + cx] = 1;
    });
    const canvas = makeCanvas(bbox.width, bbox.height);
    const full = { x: 0, y: 0, width: bbox.width, height: bbox.height };
    context2d(canvas).putImageData(maskImageData(bits, bbox.width, bbox.height, full, color, style), 0, 0);
    return new MaskBitmap(bbox, bits, canvas, countsArea(counts));
  }

  contains(x: number, y: number): boolean {
    const box = this.bbox;
    if (box === null) return false;
    const cx = Math.floor(x) - box.x;
    const cy = Math.floor(y) - box.y;
    if (cx < 0 || cy < 0 || cx >= box.width || cy >= box.height) return false;
    return this.bits[cy * box.width + cx] === 1;
  }
}

/**
 * An immutable snapshot of a canvas for drawing: an ImageBitmap where OffscreenCanvas
 * can hand one over (drawing from a bitmap skips the canvas snapshot per draw). The
 * canvas is left blank and can be drawn into again.
 */
export function freeze(canvas: AnyCanvas): CanvasImageSource {
  if (typeof OffscreenCanvas !== "undefined" && canvas instanceof OffscreenCanvas) {
    return canvas.transferToImageBitmap();
  }
  return canvas as HTMLCanvasElement;
}

function release(sources: CanvasImageSource[]): void {
  for (const source of sources) if (source instanceof ImageBitmap) source.close();
}

/** Halves `source` repeatedly (smoothed) down to about `minSide` pixels. */
export function buildPyramid(
  source: CanvasImageSource,
  width: number,
  height: number,
  minSide = 256,
  into: AnyCanvas[] = [],
): AnyCanvas[] {
  const levels: AnyCanvas[] = [];
  let previous: CanvasImageSource = source;
  let w = width;
  let h = height;
  let k = 0;
  while (Math.max(w, h) > minSide * 2) {
    const nw = Math.max(1, Math.ceil(w / 2));
    const nh = Math.max(1, Math.ceil(h / 2));
    const canvas = into[k] && into[k]!.width === nw && into[k]!.height === nh ? into[k]! : makeCanvas(nw, nh);
    const ctx = context2d(canvas);
    ctx.clearRect(0, 0, nw, nh);
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(previous, 0, 0, w, h, 0, 0, nw, nh);
    levels.push(canvas);
    previous = canvas;
    w = nw;
    h = nh;
    k += 1;
  }
  return levels;
}

export interface LayerItem {
  bitmap: MaskBitmap;
  visible: boolean;
}

/** All visible masks composited at full resolution, plus a pyramid for zoomed-out views. */
export class MaskLayer {
  private readonly base: AnyCanvas;
  private levels: AnyCanvas[] = [];
  private frozen: CanvasImageSource[] = [];
  private items: LayerItem[] = [];
  private dirty = true;
  /** Bumped on every change, so that caches built from the layer know they are stale. */
  revision = 0;
  /** Milliseconds the last rebuild took (shown by the benchmark). */
  lastBuildMs = 0;

  constructor(readonly width: number, readonly height: number) {
    this.base = makeCanvas(width, height);
  }

  /** Replaces the layer's content; nothing is rebuilt when it is the same as before. */
  setItems(items: LayerItem[]): void {
    const same =
      items.length === this.items.length &&
      items.every((item, i) => item.bitmap === this.items[i]!.bitmap && item.visible === this.items[i]!.visible);
    if (same) return;
    this.items = items;
    this.dirty = true;
    this.revision += 1;
  }

  invalidate(): void {
    this.dirty = true;
    this.revision += 1;
  }

  /** Level 0 is full resolution, level k is 1/2^k. */
  level(k: number): CanvasImageSource {
    this.ensure();
    return this.frozen[Math.min(k, this.frozen.length - 1)]!;
  }

  get levelCount(): number {
    this.ensure();
    return this.frozen.length;
  }

  get isEmpty(): boolean {
    return !this.items.some((item) => item.visible && item.bitmap.canvas !== null);
  }

  private ensure(): void {
    if (!this.dirty) return;
    const started = performance.now();
    const ctx = context2d(this.base);
    ctx.clearRect(0, 0, this.width, this.height);
    for (const { bitmap, visible } of this.items) {
      if (!visible || bitmap.canvas === null || bitmap.bbox === null) continue;
      ctx.drawImage(bitmap.canvas, bitmap.bbox.x, bitmap.bbox.y);
    }
    this.levels = buildPyramid(this.base, this.width, this.height, 256, this.levels);
    release(this.frozen);
    this.frozen = [freeze(this.base), ...this.levels.map(freeze)];
    this.dirty = false;
    this.lastBuildMs = performance.now() - started;
  }
}
