/**
 * Keyboard shortcuts of the workspace: one table used both to dispatch key presses and
 * to draw the help overlay ("?"), so the two cannot disagree.
 */

import { el, isTyping } from "../ui.js";

export type Action =
  | "tool:select" | "tool:click" | "tool:box" | "tool:scribble" | "tool:brush" | "tool:eraser"
  | "accept" | "cancel" | "undo" | "redo" | "delete" | "new" | "retry"
  | "next-instance" | "prev-instance" | "toggle-selected" | "toggle-masks"
  | "opacity-down" | "opacity-up" | "brush-smaller" | "brush-bigger"
  | "fit" | "actual-size" | "zoom-in" | "zoom-out"
  | "next-asset" | "prev-asset" | "cycle-engine" | "help"
  | "frame-prev" | "frame-next" | "frame-back-10" | "frame-ahead-10" | "frame-first" | "frame-last"
  | "play" | "next-flagged" | "prev-flagged" | "propagate"
  | `label:${number}`;

interface Shortcut {
  keys: string[];
  action: Action;
  help: string;
  group: "Tools" | "Annotate" | "Instances" | "View" | "Navigate" | "Video";
}

const LABEL_KEYS: Shortcut[] = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => ({
  keys: [String(n)],
  action: `label:${n}` as Action,
  help: "",
  group: "Annotate",
}));

export const SHORTCUTS: Shortcut[] = [
  { keys: ["v"], action: "tool:select", help: "Select / pan tool", group: "Tools" },
  { keys: ["c"], action: "tool:click", help: "Click tool (left: positive, right or Shift/Alt: negative)", group: "Tools" },
  { keys: ["r"], action: "tool:box", help: "Box tool (drag a rectangle)", group: "Tools" },
  { keys: ["s"], action: "tool:scribble", help: "Scribble tool (right or Shift/Alt: negative)", group: "Tools" },
  { keys: ["b"], action: "tool:brush", help: "Brush: paint into the mask (right button erases)", group: "Tools" },
  { keys: ["e"], action: "tool:eraser", help: "Eraser: remove from the mask", group: "Tools" },
  { keys: ["[", "]"], action: "brush-smaller", help: "Brush size smaller / bigger", group: "Tools" },
  { keys: ["g"], action: "cycle-engine", help: "Engine: auto → classical → sam", group: "Tools" },
  { keys: ["Enter"], action: "accept", help: "Accept the mask (save as annotation / save the edit)", group: "Annotate" },
  { keys: ["Escape"], action: "cancel", help: "Discard the draft, then clear the selection", group: "Annotate" },
  { keys: ["Mod+z"], action: "undo", help: "Undo (prompts, brush strokes, saves, deletes, relabels)", group: "Annotate" },
  { keys: ["Mod+Shift+z", "Mod+y"], action: "redo", help: "Redo", group: "Annotate" },
  { keys: ["1 … 9"], action: "label:1", help: "Choose label class (relabels the selected annotation)", group: "Annotate" },
  { keys: ["Shift+r"], action: "retry", help: "Retry the last failed prediction", group: "Annotate" },
  { keys: ["n"], action: "new", help: "New object (deselect, keep nothing)", group: "Instances" },
  { keys: ["Tab", "Shift+Tab"], action: "next-instance", help: "Select next / previous annotation", group: "Instances" },
  { keys: ["Delete", "Backspace"], action: "delete", help: "Delete the selected annotation", group: "Instances" },
  { keys: ["h"], action: "toggle-selected", help: "Hide / show the selected annotation", group: "Instances" },
  { keys: ["m"], action: "toggle-masks", help: "Hide / show all masks", group: "View" },
  { keys: ["o", "Shift+o"], action: "opacity-down", help: "Mask opacity down / up", group: "View" },
  { keys: ["f"], action: "fit", help: "Fit image to screen", group: "View" },
  { keys: ["Shift+f"], action: "actual-size", help: "Actual size (1:1)", group: "View" },
  { keys: ["+", "-"], action: "zoom-in", help: "Zoom in / out (or mouse wheel at the cursor)", group: "View" },
  { keys: ["d", "PageDown"], action: "next-asset", help: "Next asset", group: "Navigate" },
  { keys: ["a", "PageUp"], action: "prev-asset", help: "Previous asset", group: "Navigate" },
  { keys: ["?"], action: "help", help: "This help", group: "Navigate" },
  // Video only. Space stays the pan modifier (Space + drag), so play is K.
  { keys: ["ArrowLeft", ","], action: "frame-prev", help: "Previous frame", group: "Video" },
  { keys: ["ArrowRight", "."], action: "frame-next", help: "Next frame", group: "Video" },
  { keys: ["Shift+ArrowLeft", "Shift+ArrowRight"], action: "frame-back-10", help: "10 frames back / ahead", group: "Video" },
  { keys: ["Home", "End"], action: "frame-first", help: "First / last frame", group: "Video" },
  { keys: ["k"], action: "play", help: "Play / pause (at the video's frame rate)", group: "Video" },
  { keys: ["j", "Shift+j"], action: "next-flagged", help: "Next / previous frame flagged for review", group: "Video" },
  { keys: ["p"], action: "propagate", help: "Propagate the selected mask (direction as chosen)", group: "Video" },
];

/** Keys that map to an action without appearing as their own help row. */
const ALIASES: Record<string, Action> = {
  "]": "brush-bigger",
  "Shift+Tab": "prev-instance",
  "Shift+o": "opacity-up",
  "-": "zoom-out",
  "=": "zoom-in",
  a: "prev-asset",
  PageUp: "prev-asset",
  "Shift+ArrowRight": "frame-ahead-10",
  End: "frame-last",
  "Shift+j": "prev-flagged",
};

const MOUSE_HELP: [string, string][] = [
  ["Wheel", "Zoom around the cursor"],
  ["Drag (select tool), middle drag, Space + drag", "Pan"],
  ["Click on a mask (select tool)", "Select it; then clicks and brush refine it"],
];

/** "Mod+Shift+z" style name of a key event. */
export function keyName(event: KeyboardEvent): string {
  const parts: string[] = [];
  if (event.ctrlKey || event.metaKey) parts.push("Mod");
  if (event.altKey) parts.push("Alt");
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  const letterOrNamed = /^[a-z]$/.test(key) || key.length > 1;
  if (event.shiftKey && letterOrNamed) parts.push("Shift");
  parts.push(key);
  return parts.join("+");
}

const TABLE = new Map<string, Action>();
for (const shortcut of [...SHORTCUTS, ...LABEL_KEYS]) {
  for (const key of shortcut.keys) if (!key.includes("…")) TABLE.set(key, shortcut.action);
}
for (const [key, action] of Object.entries(ALIASES)) TABLE.set(key, action);

export function actionFor(event: KeyboardEvent): Action | null {
  if (isTyping(event.target)) return null;
  return TABLE.get(keyName(event)) ?? null;
}

/** "Mod+Shift+z" -> "Ctrl+Shift+Z" (⌘ on a Mac). */
function displayKey(key: string): string {
  const mod = navigator.platform.startsWith("Mac") ? "⌘" : "Ctrl";
  return key
    .replace("Mod", mod)
    .replace("ArrowLeft", "←")
    .replace("ArrowRight", "→")
    .replace(/(^|\+)([a-z])$/, (_m, plus: string, letter: string) => plus + letter.toUpperCase());
}

/** Keys of the queue and review modes (handled by those modes, listed in the help). */
export const MODE_HELP: [string[], string][] = [
  [["Mod+Enter"], "Queue: save the draft, mark the frame done, open the next"],
  [["a"], "Review: accept the annotation (in review mode)"],
  [["r"], "Review: reject it, with a comment (Enter sends, Esc cancels)"],
];

/** The help overlay; the Video group only for videos. */
export function buildHelp(video = false): HTMLElement {
  const groups = new Map<string, HTMLElement>();
  for (const shortcut of SHORTCUTS) {
    if (shortcut.group === "Video" && !video) continue;
    let table = groups.get(shortcut.group);
    if (table === undefined) {
      table = el("tbody");
      groups.set(shortcut.group, table);
    }
    const keys = shortcut.keys.map((k) => el("kbd", {}, displayKey(k)));
    const cell = el("td", { class: "keys" });
    keys.forEach((k, i) => cell.append(...(i > 0 ? [" ", k] : [k])));
    table.append(el("tr", {}, cell, el("td", {}, shortcut.help)));
  }
  const modes = el("tbody");
  for (const [keys, help] of MODE_HELP) {
    modes.append(el("tr", {}, el("td", { class: "keys" }, ...keys.map((k) => el("kbd", {}, displayKey(k)))), el("td", {}, help)));
  }
  groups.set("Queue and review", modes);
  const mouse = el("tbody");
  for (const [what, does] of MOUSE_HELP) mouse.append(el("tr", {}, el("td", { class: "keys wrap" }, what), el("td", {}, does)));
  groups.set("Mouse", mouse);
  const sections = [...groups].map(([name, body]) => el("section", {}, el("h3", {}, name), el("table", {}, body)));
  return el(
    "div",
    { class: "help-panel", role: "dialog", "aria-label": "Keyboard shortcuts" },
    el("header", {}, el("h2", {}, "Keyboard shortcuts"), el("span", { class: "muted" }, "Press ? or Esc to close")),
    el("div", { class: "help-grid" }, ...sections),
  );
}
