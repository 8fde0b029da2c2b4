/** The instance list: one row per annotation with color, label, visibility and actions. */

import { annotationBadge, annotationStyle, formatScore } from "../learning/status.js";
import type { Annotation, Label } from "../types.js";
import { el } from "../ui.js";
import type { Instance } from "./store.js";
import { frameKind } from "./timeline-model.js";

export interface InstanceActions {
  select(id: number): void;
  toggle(id: number): void;
  relabel(id: number, label: number): void;
  remove(id: number): void;
  refine(id: number): void;
}

export function renderInstances(
  root: HTMLElement,
  instances: Instance[],
  labels: Label[],
  selected: number | null,
  editing: number | null,
  actions: InstanceActions,
  /** Videos: masks coloured by track, rows naming the track and its review state. */
  video: { colorOf: (a: Annotation) => string } | null = null,
): void {
  root.replaceChildren();
  if (instances.length === 0) {
    root.append(el("li", { class: "muted empty" }, "No annotations yet. Click on an object to start."));
    return;
  }
  for (const { annotation: a, visible } of instances) {
    const label = labels.find((l) => l.id === a.label);
    const flagged = (video !== null && frameKind(a.source, a.review_status) === "flagged") || a.review_status === "needs_review";
    const videoInfo = video === null ? "" : ` · track ${a.track}`;
    const badge = annotationBadge(a);
    const review = ` · ${a.source} · ${a.review_status}${a.score !== null ? ` · score ${formatScore(a.score)}` : ""}${a.review_comment ? ` · “${a.review_comment}”` : ""}`;
    const select = el("select", { "aria-label": `Label of annotation ${a.id}`, title: "Relabel" });
    for (const option of labels) {
      select.append(el("option", { value: option.id, selected: option.id === a.label }, option.name));
    }
    select.addEventListener("change", () => actions.relabel(a.id, Number(select.value)));
    select.addEventListener("click", (e) => e.stopPropagation());
    const row = el(
      "li",
      {
        class: `instance${a.id === selected ? " selected" : ""}${visible ? "" : " hidden-mask"}${a.id === editing ? " editing" : ""}${flagged ? " flagged" : ""} style-${annotationStyle(a)}`,
        "data-id": a.id,
        title: `#${a.id} · ${label?.name ?? "?"} · ${a.area.toLocaleString()} px · by ${a.author ?? "?"} · version ${a.version}${videoInfo}${review}`,
        onclick: () => actions.select(a.id),
      },
      el("span", { class: "swatch", style: `background:${video !== null ? video.colorOf(a) : (label?.color ?? "#999")}` }),
      el("span", { class: "instance-id" }, video !== null ? `T${a.track}${flagged ? " ⚑" : ""}` : `#${a.id}`),
      badge === null
        ? el("span", { class: "review-badge" })
        : el(
            "span",
            { class: `review-badge ${badge.kind}`, title: badge.title },
            badge.kind === "rejected" && a.review_comment ? `${badge.text}: ${a.review_comment}` : badge.text,
          ),
      select,
      el(
        "button",
        { class: "icon", title: visible ? "Hide (H)" : "Show (H)", "aria-label": visible ? "Hide" : "Show", onclick: (e: Event) => { e.stopPropagation(); actions.toggle(a.id); } },
        visible ? "◉" : "○",
      ),
      el(
        "button",
        { class: "icon", title: "Refine with more clicks", "aria-label": "Refine", onclick: (e: Event) => { e.stopPropagation(); actions.refine(a.id); } },
        "✎",
      ),
      el(
        "button",
        { class: "icon danger", title: "Delete (Del)", "aria-label": "Delete", onclick: (e: Event) => { e.stopPropagation(); actions.remove(a.id); } },
        "✕",
      ),
    );
    root.append(row);
  }
}
