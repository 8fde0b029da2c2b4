/** Project page side panels: label classes, members and roles, running jobs. */

import { api, describeError } from "../api.js";
import type { Job, Label, Member, Role } from "../types.js";
import { $, el, onSubmit, toast } from "../ui.js";

const ROLES: Role[] = ["owner", "annotator", "reviewer", "viewer"];

export async function renderLabels(projectId: number, canManage: boolean): Promise<void> {
  const root = $("#labels");
  const labels = await api.get<Label[]>(`/api/projects/${projectId}/labels/`);
  root.replaceChildren();
  if (labels.length === 0) root.append(el("li", { class: "muted" }, "No label classes yet."));
  for (const label of labels) {
    const color = el("input", { type: "color", value: label.color, "aria-label": `Color of ${label.name}`, disabled: !canManage });
    const name = el("input", { value: label.name, "aria-label": "Label name", maxlength: 100, disabled: !canManage });
    const save = async (changes: Partial<Label>): Promise<void> => {
      try {
        await api.patch(`/api/labels/${label.id}/`, changes);
        toast(`Label "${changes.name ?? label.name}" saved`, "ok", 1500);
      } catch (error) {
        toast(`Label not saved: ${describeError(error)}`, "error");
      }
    };
    color.addEventListener("change", () => void save({ color: color.value }));
    name.addEventListener("change", () => void save({ name: name.value.trim() }));
    const remove = el("button", { class: "icon danger", title: "Delete label", "aria-label": `Delete ${label.name}`, hidden: !canManage }, "✕");
    remove.addEventListener("click", async () => {
      if (!confirm(`Delete the label class "${label.name}"?`)) return;
      try {
        await api.delete(`/api/labels/${label.id}/`);
        await renderLabels(projectId, canManage);
      } catch (error) {
        toast(describeError(error), "error");
      }
    });
    root.append(el("li", { class: "label-row" }, color, name, remove));
  }
}

export function wireLabelForm(projectId: number, canManage: boolean): void {
  const form = $("#new-label") as HTMLFormElement;
  onSubmit(form, async (data) => {
    try {
      await api.post(`/api/projects/${projectId}/labels/`, { name: String(data.get("name")).trim(), color: String(data.get("color")) });
      form.reset();
      await renderLabels(projectId, canManage);
    } catch (error) {
      toast(`Label not added: ${describeError(error)}`, "error");
    }
  });
}

export async function renderMembers(projectId: number, canManage: boolean, me: string): Promise<void> {
  const root = $("#members");
  const members = await api.get<Member[]>(`/api/projects/${projectId}/members/`);
  root.replaceChildren();
  for (const member of members) {
    const role = el("select", { "aria-label": `Role of ${member.username}`, disabled: !canManage });
    for (const r of ROLES) role.append(el("option", { value: r, selected: r === member.role }, r));
    role.addEventListener("change", async () => {
      try {
        await api.patch(`/api/members/${member.id}/`, { role: role.value });
        toast(`${member.username} is now ${role.value}`, "ok", 1500);
      } catch (error) {
        role.value = member.role;
        toast(describeError(error), "error");
      }
    });
    const remove = el("button", { class: "icon danger", title: "Remove member", "aria-label": `Remove ${member.username}`, hidden: !canManage }, "✕");
    remove.addEventListener("click", async () => {
      if (!confirm(`Remove ${member.username} from the project?`)) return;
      try {
        await api.delete(`/api/members/${member.id}/`);
        await renderMembers(projectId, canManage, me);
      } catch (error) {
        toast(describeError(error), "error");
      }
    });
    root.append(el("li", { class: "member-row" }, el("span", {}, member.username, member.username === me ? el("span", { class: "muted" }, " (you)") : null), role, remove));
  }
}

export function wireMemberForm(projectId: number, canManage: boolean, me: string): void {
  const form = $("#new-member") as HTMLFormElement;
  onSubmit(form, async (data) => {
    try {
      await api.post(`/api/projects/${projectId}/members/`, { username: String(data.get("username")).trim(), role: String(data.get("role")) });
      form.reset();
      await renderMembers(projectId, canManage, me);
    } catch (error) {
      toast(`Member not added: ${describeError(error)}`, "error");
    }
  });
}

/** Renders queued/running jobs; returns them. */
export async function renderJobs(projectId: number, assetNames: Map<number, string>): Promise<Job[]> {
  const root = $("#jobs");
  const page = await api.get<{ results: Job[] }>(`/api/projects/${projectId}/jobs/?status=queued,running&page_size=50`);
  root.replaceChildren();
  if (page.results.length === 0) root.append(el("li", { class: "muted" }, "None"));
  for (const job of page.results) {
    const what = job.asset !== null ? ` · ${assetNames.get(job.asset) ?? `asset ${job.asset}`}` : "";
    const bar = el("progress", { max: 1, value: job.progress, "aria-label": `${job.kind} progress` });
    const cancel = el("button", { class: "icon", title: "Cancel job", "aria-label": "Cancel job" }, "✕");
    cancel.addEventListener("click", async () => {
      try {
        await api.post(`/api/jobs/${job.id}/cancel/`, {});
      } catch (error) {
        toast(describeError(error), "error");
      }
    });
    root.append(
      el(
        "li",
        { class: "job" },
        el("div", { class: "job-head" }, el("strong", {}, job.kind), el("span", { class: "muted small" }, `${job.status}${what}`), cancel),
        bar,
        job.message ? el("span", { class: "muted small" }, job.message) : null,
      ),
    );
  }
  return page.results;
}
