/** Text of the status bar, the draft box and the save state, from the workspace state. */

import type { Asset } from "../types.js";
import { $ } from "../ui.js";
import type { Workspace } from "./controller.js";
import type { SaveState } from "./ops.js";

export function renderStatus(ws: Workspace, asset: Asset): void {
  const meta = ws.draft.meta;
  const state = ws.predictor.state;
  $("#st-engine").textContent = `engine ${meta?.engine ?? ws.engine}`;
  const roundTrip = state.kind === "done" ? ` / ${Math.round(state.roundTripMs)} ms` : "";
  $("#st-latency").textContent = meta ? `latency ${Math.round(meta.elapsedMs)} ms${roundTrip}` : "latency –";
  const embedding = $("#st-embedding");
  if (ws.isVideo) {
    // Made per frame when it is shown (prefetch) or clicked, not for the whole video.
    embedding.textContent = `engine state per frame${meta?.embedding ? ` (${meta.embedding})` : ""}`;
    embedding.className = "";
  } else {
    renderEmbedding(embedding, asset, meta?.embedding);
  }
  const request = $("#st-request");
  request.className = "";
  switch (state.kind) {
    case "idle":
      request.textContent = "idle";
      break;
    case "pending":
      request.textContent = "predicting…";
      request.className = "busy";
      break;
    case "retrying":
      request.textContent = `worker ${state.reason === "no_worker" ? "offline" : "busy"}, retrying in ${state.waitSeconds} s…`;
      request.className = "warn";
      break;
    case "done":
      request.textContent = "mask ready";
      request.className = "ok";
      break;
    case "failed":
      request.textContent = `prediction failed: ${state.message} — Shift+R retries`;
      request.className = "error";
      break;
  }
  const next = ws.history.peekUndo();
  $("#st-undo").textContent = next ? `undo: ${next.label}` : "";
  renderView(ws);
}

function renderEmbedding(node: HTMLElement, asset: Asset, made: string | undefined): void {
  node.textContent = `embedding ${asset.embedding_status}${made ? ` (${made})` : ""}`;
  node.className = asset.embedding_status === "ready" ? "ok" : "warn";
}

export function renderView(ws: Workspace): void {
  $("#st-zoom").textContent = `${Math.round(ws.view.scale * 1000) / 10}%`;
  const p = ws.cursorPosition;
  $("#st-cursor").textContent = p ? `${Math.floor(p.x)}, ${Math.floor(p.y)}` : "";
}

export function renderDraft(ws: Workspace): void {
  const d = ws.draft;
  const box = $("#draft-state");
  const accept = $("#btn-accept") as HTMLButtonElement;
  const discard = $("#btn-discard") as HTMLButtonElement;
  accept.disabled = d.mask === null;
  discard.disabled = d.isEmpty;
  if (d.isEmpty) {
    const propagate = ws.isVideo ? " P propagates it." : "";
    box.textContent = ws.selected !== null ? `#${ws.selected} selected: click or brush to refine it.${propagate}` : "No draft. Click on an object.";
    box.className = "draft-state muted";
    return;
  }
  const track = ws.trackForNew;
  const fresh = !ws.isVideo ? "New object" : track !== undefined ? `Track ${track} on this frame` : "New object (new track)";
  const parts: string[] = [d.target ? `Editing #${d.target.id}` : fresh];
  const positives = d.clicks.filter((c) => c.positive).length;
  if (d.clicks.length) parts.push(`${positives}+ / ${d.clicks.length - positives}− clicks`);
  if (d.box) parts.push("box");
  if (d.scribbles.length) parts.push(`${d.scribbles.length} scribble${d.scribbles.length > 1 ? "s" : ""}`);
  parts.push(`${d.area.toLocaleString()} px`);
  // The engine's estimate of the mask's IoU (docs/api.md): it ranks masks, so a low one
  // is worth a look before accepting.
  if (d.meta) parts.push(`est. IoU ${d.meta.score.toFixed(2)}${d.meta.score < 0.7 ? " (low)" : ""}`);
  box.textContent = `${parts.join(" · ")} — unsaved`;
  box.className = "draft-state unsaved";
}

export function renderSave(state: SaveState): void {
  const node = $("#save-state");
  node.className = `save-state ${state.kind}`;
  switch (state.kind) {
    case "idle":
      node.textContent = "";
      break;
    case "saving":
      node.textContent = `Saving ${state.what}…`;
      break;
    case "saved":
      node.textContent = `Saved ${state.what}.`;
      break;
    case "conflict":
      node.textContent = `Conflict on ${state.what}: waiting for your choice.`;
      break;
    case "failed":
      node.textContent = `Not saved (${state.what}): ${state.message}. Your work is kept — press Enter to retry.`;
      break;
  }
}
