/**
 * What the queue and review modes need from the workspace page, and how they bring an
 * item (asset + frame) on screen: in place, by changing the video's frame, or by
 * opening the other asset's page in the same mode.
 */

import { placement, workspaceUrl, type ModeParams } from "../learning/queue-model.js";
import type { Asset, Project } from "../types.js";
import type { Workspace } from "./controller.js";
import type { Operations } from "./ops.js";
import type { AnnotationStore } from "./store.js";
import type { VideoController } from "./video.js";

export interface ModeHost {
  project: Project;
  asset: Asset;
  ws: Workspace;
  ops: Operations;
  store: AnnotationStore;
  video: VideoController | null;
}

export type Shown = "here" | "navigating" | "blocked";

/** Opens (asset, frame): "navigating" when another page is loading now. */
export async function showTarget(host: ModeHost, asset: number, frame: number, params: ModeParams): Promise<Shown> {
  const where = placement({ asset, frame }, { asset: host.asset.id, frame: host.ws.frame, isVideo: host.ws.isVideo });
  if (where === "navigate") {
    location.assign(workspaceUrl(host.project.id, asset, frame, params));
    return "navigating";
  }
  if (where === "frame" && host.video !== null && !(await host.video.goto(frame))) return "blocked";
  history.replaceState(null, "", workspaceUrl(host.project.id, asset, frame, params));
  return "here";
}

/** Resolves once `check` holds (polled), or with false after `ms`. */
export async function until(check: () => boolean, ms = 5000): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 40));
  }
  return true;
}

/** A plain-key shortcut (no modifier) outside text fields. */
export function plainKey(event: KeyboardEvent): string | null {
  if (event.ctrlKey || event.metaKey || event.altKey) return null;
  return event.key.length === 1 ? event.key.toLowerCase() : event.key;
}
