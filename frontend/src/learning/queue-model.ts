/**
 * The labelling queue's state machine in the workspace, without the DOM or the network:
 * which step it is at (asking for the next item, labelling it, saving, completing,
 * skipping, empty), which events move it on, and where an item is relative to what is on
 * screen. The controller (workspace/queue.ts) makes the requests; this decides.
 */

import type { QueueItem } from "../types.js";

export type QueueState =
  | { kind: "off" }
  | { kind: "loading" }
  | { kind: "item"; item: QueueItem }
  | { kind: "saving"; item: QueueItem }
  | { kind: "completing"; item: QueueItem }
  | { kind: "skipping"; item: QueueItem }
  | { kind: "empty" }
  | { kind: "error"; message: string; item: QueueItem | null };

export type QueueEvent =
  | { type: "ask" }
  | { type: "served"; item: QueueItem | null }
  | { type: "save" }
  | { type: "saved" }
  | { type: "completed" }
  | { type: "skip" }
  | { type: "failed"; message: string }
  | { type: "exit" };

/** The item the state is about, if any. */
export function currentItem(state: QueueState): QueueItem | null {
  return "item" in state ? state.item : null;
}

/** True while a request is running: the buttons wait. */
export function isBusy(state: QueueState): boolean {
  return state.kind === "loading" || state.kind === "saving" || state.kind === "completing" || state.kind === "skipping";
}

/**
 * The next state; an event that makes no sense in the current state (a double click on
 * "Save and next" while saving) leaves it unchanged.
 */
export function reduce(state: QueueState, event: QueueEvent): QueueState {
  switch (event.type) {
    case "exit":
      return { kind: "off" };
    case "ask":
      return isBusy(state) ? state : { kind: "loading" };
    case "served":
      if (state.kind !== "loading") return state;
      return event.item === null ? { kind: "empty" } : { kind: "item", item: event.item };
    case "save":
      return state.kind === "item" ? { kind: "saving", item: state.item } : state;
    case "saved":
      return state.kind === "saving" ? { kind: "completing", item: state.item } : state;
    case "completed":
      return state.kind === "completing" || state.kind === "skipping" ? { kind: "loading" } : state;
    case "skip":
      return state.kind === "item" ? { kind: "skipping", item: state.item } : state;
    case "failed":
      // Back to the item (the draft is kept), so the user can retry; without one, an error.
      if (state.kind === "saving" || state.kind === "completing" || state.kind === "skipping") {
        return { kind: "error", message: event.message, item: state.item };
      }
      return { kind: "error", message: event.message, item: currentItem(state) };
  }
}

/** What the actions may do in a state (error with an item: retry them). */
export function actionsEnabled(state: QueueState): { saveNext: boolean; skip: boolean } {
  const holding = state.kind === "item" || (state.kind === "error" && state.item !== null);
  return { saveNext: holding, skip: holding };
}

/**
 * Where `item` is from here: on screen already, another frame of this video, or another
 * asset (the page must change).
 */
export function placement(
  item: Pick<QueueItem, "asset" | "frame">,
  here: { asset: number; frame: number; isVideo: boolean },
): "here" | "frame" | "navigate" {
  if (item.asset !== here.asset) return "navigate";
  if (item.frame === here.frame) return "here";
  return here.isVideo ? "frame" : "navigate";
}

export type ModeParams =
  | { mode: "queue"; strategy: string }
  | { mode: "review"; annotation: number | null; status: string | null; source: string | null }
  | { mode: null };

/** `?mode=queue&strategy=…` / `?mode=review&annotation=…` of the workspace address. */
export function parseMode(search: string): ModeParams {
  const params = new URLSearchParams(search);
  const mode = params.get("mode");
  if (mode === "queue") return { mode, strategy: params.get("strategy") || "combined" };
  if (mode === "review") {
    const id = Number(params.get("annotation"));
    return { mode, annotation: Number.isInteger(id) && id > 0 ? id : null, status: params.get("status"), source: params.get("source") };
  }
  return { mode: null };
}

/** The workspace address of an asset (and frame) in a mode. */
export function workspaceUrl(projectId: number, asset: number, frame: number, params: ModeParams): string {
  const query = new URLSearchParams();
  if (params.mode === "queue") {
    query.set("mode", "queue");
    query.set("strategy", params.strategy);
  } else if (params.mode === "review") {
    query.set("mode", "review");
    if (params.annotation !== null) query.set("annotation", String(params.annotation));
    if (params.status) query.set("status", params.status);
    if (params.source) query.set("source", params.source);
  }
  const search = query.toString();
  return `/projects/${projectId}/assets/${asset}/${search ? `?${search}` : ""}${frame > 0 ? `#frame=${frame}` : ""}`;
}
