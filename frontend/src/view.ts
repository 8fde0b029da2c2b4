/**
 * The view transform between image pixels and canvas (CSS) pixels:
 * screen = image * scale + offset. Pure functions on an immutable value, no DOM.
 */

export interface View {
  readonly scale: number;
  readonly offsetX: number;
  readonly offsetY: number;
}

export interface Point {
  x: number;
  y: number;
}

export const MIN_SCALE = 1 / 64;
export const MAX_SCALE = 64;

export const IDENTITY: View = { scale: 1, offsetX: 0, offsetY: 0 };

export function clampScale(scale: number): number {
  return Math.min(MAX_SCALE, Math.max(MIN_SCALE, scale));
}

export function toScreen(view: View, p: Point): Point {
  return { x: p.x * view.scale + view.offsetX, y: p.y * view.scale + view.offsetY };
}

export function toImage(view: View, p: Point): Point {
  return { x: (p.x - view.offsetX) / view.scale, y: (p.y - view.offsetY) / view.scale };
}

/** Zooms by `factor` keeping the image point under `anchor` (screen coords) in place. */
export function zoomAt(view: View, anchor: Point, factor: number): View {
  const scale = clampScale(view.scale * factor);
  const ratio = scale / view.scale;
  return {
    scale,
    offsetX: anchor.x - (anchor.x - view.offsetX) * ratio,
    offsetY: anchor.y - (anchor.y - view.offsetY) * ratio,
  };
}

export function panBy(view: View, dx: number, dy: number): View {
  return { ...view, offsetX: view.offsetX + dx, offsetY: view.offsetY + dy };
}

/** The whole image centered in the viewport with `margin` screen pixels around it. */
export function fitView(
  imageWidth: number,
  imageHeight: number,
  viewWidth: number,
  viewHeight: number,
  margin = 16,
): View {
  const availW = Math.max(1, viewWidth - 2 * margin);
  const availH = Math.max(1, viewHeight - 2 * margin);
  const scale = clampScale(Math.min(availW / imageWidth, availH / imageHeight));
  return {
    scale,
    offsetX: (viewWidth - imageWidth * scale) / 2,
    offsetY: (viewHeight - imageHeight * scale) / 2,
  };
}

/** Scale 1 (one image pixel per CSS pixel), keeping the viewport center fixed. */
export function actualSize(view: View, viewWidth: number, viewHeight: number): View {
  return zoomAt(view, { x: viewWidth / 2, y: viewHeight / 2 }, 1 / view.scale);
}

/** The image rectangle visible in the viewport, clipped to the image. */
export function visibleImageRect(
  view: View,
  viewWidth: number,
  viewHeight: number,
  imageWidth: number,
  imageHeight: number,
): { x: number; y: number; width: number; height: number } | null {
  const a = toImage(view, { x: 0, y: 0 });
  const b = toImage(view, { x: viewWidth, y: viewHeight });
  const x0 = Math.max(0, Math.floor(a.x));
  const y0 = Math.max(0, Math.floor(a.y));
  const x1 = Math.min(imageWidth, Math.ceil(b.x));
  const y1 = Math.min(imageHeight, Math.ceil(b.y));
  if (x1 <= x0 || y1 <= y0) return null;
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** Pixels are drawn sharp (nearest neighbour) above 1:1, smoothed below. */
export function smoothingFor(scale: number): boolean {
  return scale < 1;
}

/** Level of a halving image pyramid to sample from at this scale (0 = full size). */
export function pyramidLevel(scale: number, levels: number): number {
  if (scale >= 0.5) return 0;
  const level = Math.floor(Math.log2(1 / scale));
  return Math.max(0, Math.min(levels - 1, level));
}
