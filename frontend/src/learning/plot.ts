/**
 * The geometry of the dashboard's small charts, kept apart from the DOM so the scaling
 * can be tested: linear scales, "nice" tick values, and the label-efficiency plot (model
 * mIoU against the number of labels it was trained on) as coordinates and an SVG path.
 */

import type { EfficiencyPoint } from "../types.js";

export type Scale = (value: number) => number;

/** Maps [d0, d1] onto [r0, r1]; a degenerate domain maps everything to the middle. */
export function linearScale(d0: number, d1: number, r0: number, r1: number): Scale {
  const span = d1 - d0;
  if (span === 0 || !Number.isFinite(span)) return () => (r0 + r1) / 2;
  return (value) => r0 + ((value - d0) / span) * (r1 - r0);
}

/** A step of 1, 2 or 5 times a power of ten giving about `count` intervals. */
export function niceStep(span: number, count: number): number {
  if (!(span > 0) || !(count > 0)) return 1;
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const unit = raw / power;
  const nice = unit <= 1 ? 1 : unit <= 2 ? 2 : unit <= 5 ? 5 : 10;
  return nice * power;
}

/** Tick values from a multiple of the step at or below `min` to one at or above `max`. */
export function niceTicks(min: number, max: number, count = 5, integer = false): number[] {
  if (max < min) [min, max] = [max, min];
  if (max === min) max = min + 1;
  let step = niceStep(max - min, count);
  if (integer) step = Math.max(1, Math.round(step));
  const start = Math.floor(min / step) * step;
  const ticks: number[] = [];
  for (let v = start; v < max + step * 1e-9; v += step) ticks.push(Math.round(v / step) * step);
  if (ticks[ticks.length - 1]! < max - step * 1e-9) ticks.push(ticks[ticks.length - 1]! + step);
  // Round away float noise (0.30000000000000004).
  return ticks.map((t) => Number(t.toPrecision(12)));
}

export interface PlotBox {
  width: number;
  height: number;
  margin: { top: number; right: number; bottom: number; left: number };
}

export interface PlotPoint extends EfficiencyPoint {
  x: number;
  y: number;
  miou: number;
}

export interface EfficiencyLayout {
  xTicks: { value: number; x: number }[];
  yTicks: { value: number; y: number }[];
  points: PlotPoint[];
  /** "M x y L x y …" through the points in label order; "" with fewer than two. */
  path: string;
  /** The goal line (mIoU `goal`), in pixels from the top. */
  goalY: number | null;
  plot: { x0: number; x1: number; y0: number; y1: number };
}

/**
 * Lays out mIoU (0..1, y) against labels used (x from 0 to a nice maximum). Versions
 * without a metric (too few labelled frames to hold any back) are left out; with several
 * versions at the same label count, each is drawn (a retrain on the same data).
 */
export function efficiencyLayout(series: EfficiencyPoint[], box: PlotBox, goal: number | null = 0.7): EfficiencyLayout {
  const { width, height, margin } = box;
  const plot = { x0: margin.left, x1: width - margin.right, y0: height - margin.bottom, y1: margin.top };
  const known = series
    .filter((p): p is EfficiencyPoint & { miou: number } => p.miou !== null && Number.isFinite(p.miou))
    .sort((a, b) => a.num_labels - b.num_labels || a.version - b.version);
  const maxLabels = Math.max(1, ...known.map((p) => p.num_labels));
  const xTickValues = niceTicks(0, maxLabels, Math.min(6, maxLabels), true);
  const xMax = xTickValues[xTickValues.length - 1]!;
  const sx = linearScale(0, xMax, plot.x0, plot.x1);
  const sy = linearScale(0, 1, plot.y0, plot.y1);
  const points = known.map((p) => ({ ...p, miou: Math.min(1, Math.max(0, p.miou)), x: sx(p.num_labels), y: sy(Math.min(1, Math.max(0, p.miou))) }));
  const round = (v: number): string => String(Math.round(v * 10) / 10);
  const path = points.length < 2 ? "" : points.map((p, i) => `${i === 0 ? "M" : "L"}${round(p.x)} ${round(p.y)}`).join(" ");
  return {
    xTicks: xTickValues.map((value) => ({ value, x: sx(value) })),
    yTicks: niceTicks(0, 1, 5).map((value) => ({ value, y: sy(value) })),
    points,
    path,
    goalY: goal === null ? null : sy(goal),
    plot,
  };
}

/** Bar widths (0..1 of the longest) for a label distribution. */
export function barFractions(counts: number[]): number[] {
  const max = Math.max(0, ...counts);
  return counts.map((c) => (max > 0 ? Math.max(0, c) / max : 0));
}
