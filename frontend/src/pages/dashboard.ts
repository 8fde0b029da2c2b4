/**
 * The project dashboard: counts, label distribution, queue state, model status and
 * metrics, and the label-efficiency plot (mIoU against labels, inline SVG drawn from
 * learning/plot.ts), all from `GET /api/projects/{id}/dashboard/`; refreshed every 10 s.
 */

import { api, describeError } from "../api.js";
import { barFractions, efficiencyLayout } from "../learning/plot.js";
import { formatScore } from "../learning/status.js";
import type { Dashboard, EfficiencyPoint, Project } from "../types.js";
import { $, el, toast } from "../ui.js";
import { modelLines } from "./project-learning.js";

const root = $("#dashboard");
const projectId = Number(root.dataset.projectId);
const SVG = "http://www.w3.org/2000/svg";
const SOURCE_COLORS: Record<string, string> = { manual: "#4f8cff", interactive: "#7aa7ff", propagated: "#b48cff", generated: "#f0b429", imported: "#9aa1b2" };

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, ...children: (Node | string)[]): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  node.append(...children);
  return node;
}

function tile(label: string, value: string, note = "", kind = ""): HTMLElement {
  return el("div", { class: `tile ${kind}` }, el("div", { class: "tile-value" }, value), el("div", { class: "tile-label" }, label), note ? el("div", { class: "muted small" }, note) : null);
}

function renderTiles(d: Dashboard): void {
  const s = d.annotations.by_status;
  const share = d.frames > 0 ? `${Math.round((100 * d.frames_labelled) / d.frames)}% of frames` : "";
  $("#tiles").replaceChildren(
    tile("assets", String(d.assets), `${d.frames} frame${d.frames === 1 ? "" : "s"}`),
    tile("labelled frames", String(d.frames_labelled), share),
    tile("annotations", String(d.annotations.total)),
    tile("accepted", String(s.accepted ?? 0), "", "ok"),
    tile("pending", String(s.pending ?? 0), `${d.annotations.by_source.generated ?? 0} proposed by the model`, "warn"),
    tile("needs review", String(s.needs_review ?? 0), "", "error"),
    tile("rejected", String(s.rejected ?? 0)),
  );
  $("#tiles").removeAttribute("aria-busy");
}

/** Horizontal bars: name, a bar as long as its share of the largest, the count. */
function bars(rows: { name: string; count: number; color: string }[], empty: string): HTMLElement[] {
  if (rows.length === 0) return [el("p", { class: "muted" }, empty)];
  const fractions = barFractions(rows.map((r) => r.count));
  return rows.map((row, i) =>
    el(
      "div",
      { class: "bar-row", role: "img", "aria-label": `${row.name}: ${row.count}` },
      el("span", { class: "bar-name", title: row.name }, row.name),
      el("span", { class: "bar-track" }, el("span", { class: "bar-fill", style: `width:${(fractions[i]! * 100).toFixed(1)}%;background:${row.color}` })),
      el("span", { class: "bar-count" }, String(row.count)),
    ),
  );
}

function renderQueue(d: Dashboard): void {
  const q = d.queue;
  const total = q.open + q.leased + q.done;
  const parts = [
    { name: "open", count: q.open, color: "#4f8cff" },
    { name: "leased (being labelled)", count: q.leased, color: "#f0b429" },
    { name: "done", count: q.done, color: "#37c47a" },
  ];
  $("#dash-queue").replaceChildren(
    el("p", { class: "small" }, total === 0 ? "The queue is empty (it fills once frames are ranked)." : `${total} frame${total === 1 ? "" : "s"} in the queue`),
    ...bars(parts, ""),
  );
  const sources = Object.entries(d.annotations.by_source).map(([name, count]) => ({ name, count, color: SOURCE_COLORS[name] ?? "#9aa1b2" }));
  $("#source-bars").replaceChildren(...bars(sources, "No annotations yet."));
}

function renderModel(d: Dashboard): void {
  const model = d.model;
  const nodes: HTMLElement[] = modelLines(model);
  const perLabel = Object.entries(model.metrics?.per_label ?? {});
  if (perLabel.length > 0) {
    const names = new Map(d.labels.map((l) => [String(l.id), l.name]));
    const body = el("tbody");
    for (const [id, iou] of perLabel) body.append(el("tr", {}, el("td", {}, names.get(id) ?? `label ${id}`), el("td", { class: "num" }, formatScore(iou))));
    nodes.push(el("table", { class: "metrics" }, el("thead", {}, el("tr", {}, el("th", {}, "label"), el("th", { class: "num" }, "IoU"))), body));
  }
  if (model.history.length > 0) {
    const body = el("tbody");
    for (const v of [...model.history].reverse().slice(0, 8)) {
      body.append(el("tr", {}, el("td", {}, `v${v.version}`), el("td", { class: "num" }, String(v.num_labels)), el("td", { class: "num" }, String(v.trained_on)), el("td", { class: "num" }, formatScore(v.metrics?.miou ?? null)), el("td", { class: "muted small" }, new Date(v.created).toLocaleString())));
    }
    nodes.push(
      el("h3", {}, "Versions"),
      el("table", { class: "metrics" }, el("thead", {}, el("tr", {}, el("th", {}, "version"), el("th", { class: "num" }, "labels"), el("th", { class: "num" }, "frames"), el("th", { class: "num" }, "mIoU"), el("th", {}, "trained"))), body),
    );
  }
  $("#dash-model").replaceChildren(...nodes);
}

/** The efficiency series: the dashboard's, or the model history's when that is empty. */
export function efficiencySeries(d: Dashboard): EfficiencyPoint[] {
  if (d.efficiency.length > 0) return d.efficiency;
  return d.model.history.map((v) => ({ version: v.version, num_labels: v.num_labels, trained_on: v.trained_on, miou: v.metrics?.miou ?? null }));
}

function renderEfficiency(series: EfficiencyPoint[]): void {
  const box = { width: 560, height: 260, margin: { top: 14, right: 18, bottom: 40, left: 48 } };
  const layout = efficiencyLayout(series, box);
  const { plot } = layout;
  const chart = svg("svg", { viewBox: `0 0 ${box.width} ${box.height}`, class: "efficiency-svg", role: "img", "aria-label": `Model mIoU against labels: ${layout.points.map((p) => `${p.num_labels} labels ${p.miou.toFixed(2)}`).join(", ") || "no trained model yet"}` });
  for (const t of layout.yTicks) {
    chart.append(
      svg("line", { x1: plot.x0, x2: plot.x1, y1: t.y, y2: t.y, class: "grid" }),
      svg("text", { x: plot.x0 - 8, y: t.y + 4, class: "tick", "text-anchor": "end" }, t.value.toFixed(1)),
    );
  }
  for (const t of layout.xTicks) {
    chart.append(
      svg("line", { x1: t.x, x2: t.x, y1: plot.y0, y2: plot.y0 + 5, class: "axis" }),
      svg("text", { x: t.x, y: plot.y0 + 18, class: "tick", "text-anchor": "middle" }, String(t.value)),
    );
  }
  chart.append(
    svg("line", { x1: plot.x0, x2: plot.x1, y1: plot.y0, y2: plot.y0, class: "axis" }),
    svg("line", { x1: plot.x0, x2: plot.x0, y1: plot.y0, y2: plot.y1, class: "axis" }),
    svg("text", { x: (plot.x0 + plot.x1) / 2, y: box.height - 6, class: "axis-label", "text-anchor": "middle" }, "labels (annotations trained on)"),
    svg("text", { x: 12, y: (plot.y0 + plot.y1) / 2, class: "axis-label", "text-anchor": "middle", transform: `rotate(-90 12 ${(plot.y0 + plot.y1) / 2})` }, "mIoU"),
  );
  if (layout.goalY !== null) chart.append(svg("line", { x1: plot.x0, x2: plot.x1, y1: layout.goalY, y2: layout.goalY, class: "goal" }));
  if (layout.path) chart.append(svg("path", { d: layout.path, class: "series" }));
  for (const p of layout.points) {
    chart.append(svg("circle", { cx: p.x, cy: p.y, r: 4.5, class: "point" }, svg("title", {}, `v${p.version}: ${p.num_labels} labels, ${p.trained_on} frames, mIoU ${p.miou.toFixed(3)}`)));
  }
  if (layout.points.length === 0) {
    chart.append(svg("text", { x: (plot.x0 + plot.x1) / 2, y: (plot.y0 + plot.y1) / 2, class: "empty", "text-anchor": "middle" }, "No model with a metric yet: label a few frames and train."));
  }
  $("#efficiency").replaceChildren(chart);
}

async function load(): Promise<void> {
  const d = await api.get<Dashboard>(`/api/projects/${projectId}/dashboard/`, { retries: 2 });
  renderTiles(d);
  const labels = d.labels.map((l) => ({ name: l.name, count: l.annotations, color: l.color }));
  $("#label-bars").replaceChildren(...bars(labels, "No label classes."));
  renderQueue(d);
  renderModel(d);
  renderEfficiency(efficiencySeries(d));
  root.dataset.points = String(efficiencyLayout(efficiencySeries(d), { width: 1, height: 1, margin: { top: 0, right: 0, bottom: 0, left: 0 } }).points.length);
}

async function main(): Promise<void> {
  const project = await api.get<Project>(`/api/projects/${projectId}/`, { retries: 3 });
  $("#crumb-project").textContent = project.name;
  $("#dashboard-title").textContent = `${project.name} · dashboard`;
  document.title = `Dashboard · ${project.name} · Annotator`;
  await load();
  $("#dashboard-refresh").addEventListener("click", () => void load().catch((e: unknown) => toast(describeError(e), "error")));
  document.body.dataset.ready = "true";
  window.setInterval(() => void load().catch(() => {}), 10_000);
}

main().catch((error: unknown) => toast(`Could not load the dashboard: ${describeError(error)}`, "error"));
