/**
 * A copy of the unsaved draft in localStorage, per asset, so that a crash, a closed tab
 * or a lost connection does not lose work; restored when the asset is opened again.
 */

import type { DraftSnapshot } from "./draft.js";

const key = (assetId: number): string => `annotator:draft:${assetId}`;
const timers = new Map<number, number>();

/** Debounced write (null removes the backup at once); `frame`: a video's frame it is on. */
export function saveBackup(assetId: number, snapshot: DraftSnapshot | null, frame = 0): void {
  const pending = timers.get(assetId);
  if (pending !== undefined) clearTimeout(pending);
  timers.delete(assetId);
  if (snapshot === null) {
    try {
      localStorage.removeItem(key(assetId));
    } catch {
      /* storage unavailable: nothing to remove */
    }
    return;
  }
  timers.set(
    assetId,
    window.setTimeout(() => {
      timers.delete(assetId);
      try {
        localStorage.setItem(key(assetId), JSON.stringify({ saved: Date.now(), snapshot, frame }));
      } catch {
        /* quota or privacy mode: the draft still lives in memory */
      }
    }, 300),
  );
}

export function loadBackup(assetId: number): { snapshot: DraftSnapshot; frame: number } | null {
  try {
    const raw = localStorage.getItem(key(assetId));
    if (raw === null) return null;
    const parsed = JSON.parse(raw) as { snapshot?: DraftSnapshot; frame?: number };
    if (parsed.snapshot === undefined) return null;
    return { snapshot: parsed.snapshot, frame: Number.isInteger(parsed.frame) ? parsed.frame! : 0 };
  } catch {
    return null;
  }
}

/** Small UI preferences kept across assets and visits. */
export function loadPrefs<T extends object>(defaults: T): T {
  try {
    return { ...defaults, ...(JSON.parse(localStorage.getItem("annotator:prefs") ?? "{}") as Partial<T>) };
  } catch {
    return defaults;
  }
}

export function savePrefs(prefs: object): void {
  try {
    localStorage.setItem("annotator:prefs", JSON.stringify(prefs));
  } catch {
    /* ignore */
  }
}
