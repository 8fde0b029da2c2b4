/**
 * The project page's learning-loop panel: model status, "Train model" and "Propose
 * masks" (jobs whose progress is polled), "Label next" with a strategy, "Review", and
 * the per-asset progress shown on the cards.
 */

import { api, ApiError, describeError, sleep } from "../api.js";
import { workspaceUrl } from "../learning/queue-model.js";
import { formatScore, progressSummary } from "../learning/status.js";
import { STRATEGIES, type Annotation, type Asset, type Job, type Page, type Project, type ProjectModelState, type QueueItem } from "../types.js";
import { $, el, toast } from "../ui.js";

const FINISHED = new Set(["done", "failed", "cancelled"]);

/** Polls a job until it ends, telling `onUpdate` each time. */
export async function watchJob(id: number, onUpdate: (job: Job) => void, everyMs = 700): Promise<Job> {
  for (;;) {
    const job = await api.get<Job>(`/api/jobs/${id}/`, { retries: 3 });
    onUpdate(job);
    if (FINISHED.has(job.status)) return job;
    await sleep(everyMs);
  }
}

/** One line per fact of the model: status, version, mIoU, what it learnt from. */
export function modelLines(model: ProjectModelState): HTMLElement[] {
  const status = el("span", { class: `model-badge ${model.status}` }, model.status === "none" ? "no model yet" : model.status);
  const lines = [el("div", {}, "Model: ", status, model.version !== null ? ` v${model.version}` : "")];
  if (model.version !== null) {
    lines.push(
      el("div", { class: "small" }, `mIoU ${formatScore(model.metrics?.miou ?? null)}`, el("span", { class: "muted" }, ` · ${model.trained_on} frames, ${model.num_labels} labels`)),
    );
  }
  const retrain = model.retrain_after > 0 ? `retrains after ${model.retrain_after} new` : "no automatic retraining";
  lines.push(el("div", { class: "muted small" }, `${model.labels_since} new label${model.labels_since === 1 ? "" : "s"} since · ${retrain}`));
  return lines;
}

/** The progress block of an asset card: a stacked bar and a one-line summary. */
export function progressBlock(asset: Asset): HTMLElement | null {
  if (asset.progress === undefined) return null;
  const summary = progressSummary(asset.progress);
  const bar = el("div", { class: "progress-bar", "aria-hidden": "true" });
  for (const segment of summary.segments) {
    bar.append(el("span", { class: `seg ${segment.kind}`, style: `width:${(segment.fraction * 100).toFixed(1)}%`, title: `${segment.count} ${segment.kind.replace("_", " ")}` }));
  }
  return el("div", { class: `asset-progress state-${summary.state}`, title: summary.text }, bar, el("div", { class: "small muted progress-text" }, summary.text));
}

export class LearningPanel {
  private busy = false;

  constructor(
    private readonly project: Project,
    private readonly onProposed: () => Promise<void>,
  ) {
    const role = project.role ?? "";
    const canLabel = role === "owner" || role === "annotator";
    const canReview = role === "owner" || role === "reviewer";
    const select = $("#next-strategy") as HTMLSelectElement;
    for (const s of STRATEGIES) select.append(el("option", { value: s }, s));
    select.hidden = !canLabel;
    $("#label-next").hidden = !canLabel;
    $("#review-next").hidden = !canReview;
    $("#train-model").hidden = !canLabel;
    $("#propose-masks").hidden = !canLabel;
    $("#label-next").addEventListener("click", () => void this.labelNext(select.value));
    $("#review-next").addEventListener("click", () => void this.reviewNext());
    $("#train-model").addEventListener("click", () => void this.start("train"));
    $("#propose-masks").addEventListener("click", () => void this.start("propose"));
    // An automatic retrain (after N new labels) shows up without a reload.
    window.setInterval(() => {
      if (!this.busy && document.visibilityState === "visible") void this.refreshModel();
    }, 10_000);
  }

  private get base(): string {
    return `/api/projects/${this.project.id}`;
  }

  async refreshModel(): Promise<ProjectModelState | null> {
    try {
      const model = await api.get<ProjectModelState>(`${this.base}/model/`, { retries: 2 });
      $("#model-status").replaceChildren(...modelLines(model));
      if (model.status === "training" && model.job !== null && !this.busy) void this.follow(model.job, "train");
      return model;
    } catch (error) {
      $("#model-status").replaceChildren(el("span", { class: "error" }, `Model: ${describeError(error)}`));
      return null;
    }
  }

  async labelNext(strategy: string): Promise<void> {
    try {
      const item = await api.get<QueueItem | undefined>(`${this.base}/queue/next/?${new URLSearchParams({ strategy })}`, { retries: 2 });
      if (item === undefined) {
        toast("The queue is empty: nothing left to label.", "info", 4000);
        return;
      }
      location.assign(workspaceUrl(this.project.id, item.asset, item.frame, { mode: "queue", strategy }));
    } catch (error) {
      toast(`No next frame: ${describeError(error)}`, "error");
    }
  }

  async reviewNext(): Promise<void> {
    try {
      const page = await api.get<Page<Annotation>>(`${this.base}/review/?page_size=1`, { retries: 2 });
      const first = page.results[0];
      if (first === undefined) {
        toast("Nothing to review.", "info", 3000);
        return;
      }
      location.assign(workspaceUrl(this.project.id, first.asset, first.frame, { mode: "review", annotation: first.id, status: null, source: null }));
    } catch (error) {
      toast(`Cannot review: ${describeError(error)}`, "error");
    }
  }

  private async start(kind: "train" | "propose"): Promise<void> {
    if (this.busy) return;
    const path = kind === "train" ? `${this.base}/model/train/` : `${this.base}/proposals/`;
    $("#learning-job").dataset.status = "starting"; // not the last job's end any more
    try {
      const { job } = await api.post<{ job: number }>(path, {}, { retries: 2 });
      await this.follow(job, kind);
    } catch (error) {
      const why = error instanceof ApiError && error.code === "no_model" ? "train the model first" : error instanceof ApiError && error.code === "no_labels" ? "label something first" : describeError(error);
      toast(`${kind === "train" ? "Training" : "Proposals"} not started: ${why}`, "error");
    }
  }

  /** Shows a train / propose job's progress until it ends. */
  private async follow(jobId: number, kind: "train" | "propose"): Promise<void> {
    this.busy = true;
    const row = $("#learning-job");
    const bar = $("#learning-progress") as HTMLProgressElement;
    const text = $("#learning-job-text");
    const what = kind === "train" ? "Training" : "Proposing";
    for (const id of ["#train-model", "#propose-masks"]) ($(id) as HTMLButtonElement).disabled = true;
    row.hidden = false;
    row.dataset.status = "running";
    try {
      const job = await watchJob(jobId, (j) => {
        bar.value = j.progress;
        text.textContent = `${what}: ${j.status} ${Math.round(j.progress * 100)}%${j.message ? ` · ${j.message}` : ""}`;
      });
      row.dataset.status = job.status;
      if (job.status === "done") {
        text.textContent = `${what}: done${job.message ? ` · ${job.message}` : ""}`;
        toast(kind === "train" ? "The model is trained." : "Proposals are ready to review.", "ok", 3000);
      } else {
        text.textContent = `${what} ${job.status}: ${job.error || job.message || "no reason given"}`;
        toast(text.textContent, "error");
      }
      await this.refreshModel();
      if (kind === "propose") await this.onProposed();
    } catch (error) {
      text.textContent = `${what}: ${describeError(error)}`;
    } finally {
      this.busy = false;
      for (const id of ["#train-model", "#propose-masks"]) ($(id) as HTMLButtonElement).disabled = false;
    }
  }
}
