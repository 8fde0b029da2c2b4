/** The instance list: one row per annotation with color, label, visibility and actions. */
import { el } from "../ui.js";
export function renderInstances(root, instances, labels, selected, editing, actions) {
    root.replaceChildren();
    if (instances.length === 0) {
        root.append(el("li", { class: "muted empty" }, "No annotations yet. Click on an object to start."));
        return;
    }
    for (const { annotation: a, visible } of instances) {
        const label = labels.find((l) => l.id === a.label);
        const select = el("select", { "aria-label": `Label of annotation ${a.id}`, title: "Relabel" });
        for (const option of labels) {
            select.append(el("option", { value: option.id, selected: option.id === a.label }, option.name));
        }
        select.addEventListener("change", () => actions.relabel(a.id, Number(select.value)));
        select.addEventListener("click", (e) => e.stopPropagation());
        const row = el("li", {
            class: `instance${a.id === selected ? " selected" : ""}${visible ? "" : " hidden-mask"}${a.id === editing ? " editing" : ""}`,
            "data-id": a.id,
            title: `#${a.id} · ${label?.name ?? "?"} · ${a.area.toLocaleString()} px · by ${a.author ?? "?"} · version ${a.version}`,
            onclick: () => actions.select(a.id),
        }, el("span", { class: "swatch", style: `background:${label?.color ?? "#999"}` }), el("span", { class: "instance-id" }, `#${a.id}`), select, el("button", { class: "icon", title: visible ? "Hide (H)" : "Show (H)", "aria-label": visible ? "Hide" : "Show", onclick: (e) => { e.stopPropagation(); actions.toggle(a.id); } }, visible ? "◉" : "○"), el("button", { class: "icon", title: "Refine with more clicks", "aria-label": "Refine", onclick: (e) => { e.stopPropagation(); actions.refine(a.id); } }, "✎"), el("button", { class: "icon danger", title: "Delete (Del)", "aria-label": "Delete", onclick: (e) => { e.stopPropagation(); actions.remove(a.id); } }, "✕"));
        root.append(row);
    }
}
//# sourceMappingURL=instances.js.map