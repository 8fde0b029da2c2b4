/** Project list and creation. */

import { api, describeError, listAll } from "../api.js";
import type { Project } from "../types.js";
import { $, el, onSubmit } from "../ui.js";

// Distinct, saturated colors that stay visible as translucent overlays.
const PALETTE = ["#3cb44b", "#ffe119", "#4363d8", "#f58231", "#f032e6", "#46f0f0", "#e6194b", "#bcf60c"];

async function renderList(): Promise<void> {
  const root = $("#project-list");
  try {
    const projects = await listAll<Project>("/api/projects/", { retries: 3 });
    root.replaceChildren();
    if (projects.length === 0) root.append(el("p", { class: "muted" }, "No projects yet: create one below."));
    for (const p of projects) {
      root.append(
        el(
          "a",
          { class: "project-card", href: `/projects/${p.id}/` },
          el("strong", {}, p.name),
          el("span", { class: "muted small" }, `${p.num_assets ?? 0} assets · ${p.role ?? ""}`),
          p.description ? el("span", { class: "small" }, p.description) : null,
          el("span", { class: "chips" }, ...p.labels.map((l) => el("span", { class: "chip", style: `--c:${l.color}` }, l.name))),
        ),
      );
    }
  } catch (error) {
    root.replaceChildren(el("p", { class: "error" }, `Could not load projects: ${describeError(error)}`));
  }
  root.removeAttribute("aria-busy");
}

const form = $("#new-project") as HTMLFormElement;
onSubmit(form, async (data) => {
  const names = String(data.get("labels") ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const error = $("#new-project-error");
  error.hidden = true;
  try {
    const project = await api.post<Project>("/api/projects/", {
      name: String(data.get("name") ?? "").trim(),
      description: String(data.get("description") ?? ""),
      labels: names.map((name, i) => ({ name, color: PALETTE[i % PALETTE.length] })),
    });
    location.assign(`/projects/${project.id}/`);
  } catch (failure) {
    error.textContent = describeError(failure);
    error.hidden = false;
  }
});

void renderList();
