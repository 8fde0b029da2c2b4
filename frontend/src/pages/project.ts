/** Project page: asset grid with status, drag-and-drop upload with progress, side panels. */

import { api, describeError, listAll, upload } from "../api.js";
import type { Asset, Job, Project } from "../types.js";
import { $, el, formatBytes, toast } from "../ui.js";
import { renderExports, wireExportForm } from "./project-exports.js";
import { LearningPanel, progressBlock } from "./project-learning.js";
import { renderJobs, renderLabels, renderMembers, wireLabelForm, wireMemberForm } from "./project-settings.js";

const root = $("#project-page");
const projectId = Number(root.dataset.projectId);
const me = document.querySelector(".who")?.textContent?.trim() ?? "";
const assets = new Map<number, Asset>();
const cards = new Map<number, HTMLElement>();
let pollTimer = 0;

/** A video or image sequence (or an upload still being decoded that may become one). */
function isVideo(asset: Asset): boolean {
  return asset.kind === "video" || asset.num_frames > 1;
}

/** How long after an upload a missing thumbnail is still waited for (it is made by a
 * task of its own, which can finish after the embedding). */
const THUMBNAIL_WAIT_MS = 60_000;

/** Still changing on the server: decoding, the thumbnail, or an image's engine state. */
function isPending(asset: Asset): boolean {
  if (asset.status === "processing") return true;
  if (asset.status === "failed") return false;
  if (asset.thumbnail === null && Date.now() - Date.parse(asset.created) < THUMBNAIL_WAIT_MS) return true;
  if (isVideo(asset)) return false; // a video's engine state is per frame, on demand
  return !["ready", "failed"].includes(asset.embedding_status);
}

function card(asset: Asset): HTMLElement {
  const ready = asset.embedding_status === "ready";
  const thumb = asset.thumbnail
    ? el("img", { src: asset.thumbnail, alt: "", loading: "lazy" })
    : el("div", { class: "thumb-placeholder" }, asset.status === "failed" ? "failed" : "processing…");
  const video = isVideo(asset);
  const fps = asset.fps ? ` · ${Math.round(asset.fps * 100) / 100} fps` : "";
  const failure = asset.status === "failed" && asset.error ? el("div", { class: "error-text", title: asset.error }, asset.error) : null;
  const progress =
    asset.status === "processing" ? el("progress", { max: 1, value: 0, "aria-label": `Processing ${asset.name}` }) : null;
  return el(
    "a",
    { class: "asset-card", href: `/projects/${projectId}/assets/${asset.id}/`, "data-asset-id": asset.id, title: asset.name },
    el("div", { class: "thumb" }, thumb),
    el("div", { class: "asset-name" }, asset.name),
    el(
      "div",
      { class: "badges" },
      el("span", { class: `badge ${asset.status === "ready" ? "ok" : asset.status === "failed" ? "error" : "warn"}` }, asset.status),
      video
        ? el("span", { class: "badge", title: "Video" }, asset.status === "ready" ? `${asset.num_frames} frames${fps}` : "video")
        : el("span", { class: `badge ${ready ? "ok" : "warn"}`, title: "Engine embedding" }, ready ? "embedding ready" : `embedding ${asset.embedding_status}`),
      asset.width ? el("span", { class: "muted small" }, `${asset.width}×${asset.height}`) : null,
    ),
    progress,
    failure,
    progressBlock(asset),
  );
}

/** The ingest job's progress on the cards of assets still being decoded. */
function showProgress(jobs: Job[]): void {
  for (const job of jobs) {
    if (job.asset === null) continue;
    const bar = cards.get(job.asset)?.querySelector("progress");
    if (bar) {
      bar.value = job.progress;
      bar.title = `${Math.round(job.progress * 100)}%${job.message ? ` · ${job.message}` : ""}`;
    }
  }
}

function showAsset(asset: Asset): void {
  const previous = assets.get(asset.id);
  assets.set(asset.id, asset);
  const grid = $("#asset-grid");
  grid.querySelector(".empty")?.remove();
  const same =
    previous &&
    previous.status === asset.status &&
    previous.embedding_status === asset.embedding_status &&
    previous.thumbnail === asset.thumbnail &&
    previous.num_frames === asset.num_frames &&
    previous.error === asset.error &&
    JSON.stringify(previous.progress) === JSON.stringify(asset.progress);
  const existing = cards.get(asset.id);
  if (existing && same) return;
  const node = card(asset);
  if (existing) existing.replaceWith(node);
  else grid.append(node);
  cards.set(asset.id, node);
}

/** The list's filter (`?state=`) and order (`?ordering=`) as chosen above the grid. */
function assetQuery(): string {
  const query = new URLSearchParams({ page_size: "500" });
  const state = ($("#asset-state") as HTMLSelectElement).value;
  const ordering = ($("#asset-ordering") as HTMLSelectElement).value;
  if (state) query.set("state", state);
  if (ordering) query.set("ordering", ordering);
  return query.toString();
}

async function refresh(): Promise<void> {
  const list = await listAll<Asset>(`/api/projects/${projectId}/assets/?${assetQuery()}`, { retries: 2 });
  list.forEach(showAsset);
  const grid = $("#asset-grid");
  // Only the assets the filter keeps, in the server's order.
  const keep = new Set(list.map((a) => a.id));
  for (const [id, node] of cards) {
    if (keep.has(id)) continue;
    node.remove();
    cards.delete(id);
    assets.delete(id);
  }
  grid.append(...list.map((a) => cards.get(a.id)!));
  $("#asset-count").textContent = `${list.length} asset${list.length === 1 ? "" : "s"}`;
  grid.removeAttribute("aria-busy");
  const filtered = ($("#asset-state") as HTMLSelectElement).value !== "";
  if (list.length === 0 && !grid.querySelector(".empty")) {
    grid.append(el("p", { class: "muted empty" }, filtered ? "No asset matches this filter." : "No assets yet: drop images above."));
  }
}

/** Polls jobs and assets while something is still processing. */
async function poll(): Promise<void> {
  window.clearTimeout(pollTimer);
  let busy = false;
  try {
    const names = new Map([...assets.values()].map((a) => [a.id, a.name]));
    const jobs = await renderJobs(projectId, names);
    const pending = [...assets.values()].some(isPending);
    if (jobs.length > 0 || pending) await refresh();
    showProgress(jobs);
    busy = jobs.length > 0 || pending;
  } catch {
    busy = true; // keep trying: the server may be restarting
  }
  pollTimer = window.setTimeout(() => void poll(), busy ? 1500 : 8000);
}

// --- uploads ----------------------------------------------------------------------------
const queue: { file: File; row: HTMLElement }[] = [];
let active = 0;
const PARALLEL = 2;

function enqueue(files: Iterable<File>): void {
  const list = $("#uploads");
  for (const file of files) {
    const bar = el("progress", { max: 1, value: 0 });
    const state = el("span", { class: "muted small" }, "waiting");
    const row = el("li", { class: "upload" }, el("span", { class: "upload-name" }, file.name), el("span", { class: "muted small" }, formatBytes(file.size)), bar, state);
    list.append(row);
    queue.push({ file, row });
  }
  pump();
}

function pump(): void {
  while (active < PARALLEL && queue.length > 0) {
    const { file, row } = queue.shift()!;
    active += 1;
    const bar = row.querySelector("progress")!;
    const state = row.querySelector("span:last-child")!;
    state.textContent = "uploading";
    upload<Asset>(`/api/projects/${projectId}/assets/`, file, (f) => (bar.value = f))
      .then((asset) => {
        state.textContent = "done";
        row.classList.add("done");
        showAsset(asset);
        void poll();
        setTimeout(() => row.remove(), 4000);
      })
      .catch((error: unknown) => {
        state.textContent = `failed: ${describeError(error)}`;
        row.classList.add("failed");
      })
      .finally(() => {
        active -= 1;
        pump();
      });
  }
}

function wireUpload(): void {
  const zone = $("#dropzone");
  const input = $("#file-input") as HTMLInputElement;
  input.addEventListener("change", () => {
    if (input.files) enqueue(input.files);
    input.value = "";
  });
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (e) => {
      e.preventDefault();
      zone.classList.add("over");
    });
  }
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer?.files) enqueue(e.dataTransfer.files);
  });
  zone.addEventListener("click", () => input.click());
  zone.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") input.click();
  });
  // Dropping anywhere on the page should not navigate away to the file.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
}

async function main(): Promise<void> {
  const project = await api.get<Project>(`/api/projects/${projectId}/`, { retries: 3 });
  $("#project-name").textContent = project.name;
  $("#project-title").textContent = `${project.name} · assets`;
  document.title = `${project.name} · Annotator`;
  const canManage = project.role === "owner";
  const canUpload = canManage || project.role === "annotator";
  for (const form of document.querySelectorAll<HTMLElement>(".manage-only")) form.hidden = !canManage;
  if (canUpload) wireUpload();
  else for (const node of [$("#dropzone"), $("label[for=file-input]")]) node.hidden = true;
  wireLabelForm(projectId, canManage);
  wireMemberForm(projectId, canManage, me);
  wireExportForm(projectId);
  const learning = new LearningPanel(project, refresh);
  for (const id of ["#asset-state", "#asset-ordering"]) {
    $(id).addEventListener("change", () => void refresh().catch((error: unknown) => toast(describeError(error), "error")));
  }
  await Promise.all([
    learning.refreshModel(),
    refresh(),
    renderLabels(projectId, canManage),
    renderMembers(projectId, canManage, me),
    renderExports(projectId),
  ]);
  document.body.dataset.ready = "true";
  await poll();
}

main().catch((error: unknown) => toast(`Could not load the project: ${describeError(error)}`, "error"));
