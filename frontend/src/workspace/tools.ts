/**
 * Pointer input on the canvas: the active tool turns gestures into prompts or brush
 * strokes; wheel zooms around the cursor; middle drag, Space + drag or a drag with the
 * select tool pans. In-progress gestures (box, scribble) are exposed for the overlay.
 */

import type { Box } from "../types.js";
import { panBy, toImage, zoomAt, type Point, type View } from "../view.js";

export type ToolName = "select" | "click" | "box" | "scribble" | "brush" | "eraser";

export interface ToolHost {
  tool: ToolName;
  view: View;
  setView(view: View): void;
  addClick(p: Point, positive: boolean): void;
  setBox(box: Box): void;
  addScribble(points: [number, number][], positive: boolean): void;
  beginStroke(): void;
  strokeTo(from: Point, to: Point, erase: boolean): void;
  endStroke(): void;
  selectAt(p: Point): void;
  pointerMoved(p: Point | null): void;
  invalidate(): void;
}

type Gesture =
  | { kind: "pan"; last: Point; start: Point; moved: boolean; selectOnClick: boolean }
  | { kind: "click"; start: Point; positive: boolean }
  | { kind: "box"; start: Point; current: Point }
  | { kind: "scribble"; points: [number, number][]; positive: boolean }
  | { kind: "stroke"; last: Point; erase: boolean };

const DRAG_THRESHOLD = 4; // screen pixels before a click becomes a drag

export class PointerInput {
  private gesture: Gesture | null = null;
  private spaceHeld = false;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly host: ToolHost,
  ) {
    canvas.addEventListener("pointerdown", (e) => this.down(e));
    canvas.addEventListener("pointermove", (e) => this.move(e));
    canvas.addEventListener("pointerup", (e) => this.up(e));
    canvas.addEventListener("pointercancel", () => this.abort());
    canvas.addEventListener("pointerleave", () => host.pointerMoved(null));
    canvas.addEventListener("contextmenu", (e) => e.preventDefault());
    canvas.addEventListener("wheel", (e) => this.wheel(e), { passive: false });
    window.addEventListener("keydown", (e) => {
      if (e.code === "Space" && e.target === document.body) {
        this.spaceHeld = true;
        canvas.classList.add("panning");
        e.preventDefault();
      }
    });
    window.addEventListener("keyup", (e) => {
      if (e.code === "Space") {
        this.spaceHeld = false;
        canvas.classList.remove("panning");
      }
    });
  }

  /** The box or scribble being drawn, in image coordinates, for the overlay. */
  get preview(): { box: Box | null; scribble: { points: [number, number][]; positive: boolean } | null } {
    const g = this.gesture;
    if (g?.kind === "box") return { box: boxOf(g.start, g.current), scribble: null };
    if (g?.kind === "scribble") return { box: null, scribble: g };
    return { box: null, scribble: null };
  }

  abort(): void {
    if (this.gesture?.kind === "stroke") this.host.endStroke();
    this.gesture = null;
    this.host.invalidate();
  }

  private screen(e: PointerEvent | WheelEvent): Point {
    const rect = this.canvas.getBoundingClientRect();
    return { x: e.clientX - rect.left, y: e.clientY - rect.top };
  }

  private image(e: PointerEvent): Point {
    return toImage(this.host.view, this.screen(e));
  }

  private down(e: PointerEvent): void {
    if (this.gesture !== null) return;
    this.canvas.focus();
    const screen = this.screen(e);
    const negative = e.button === 2 || e.shiftKey || e.altKey;
    const tool = this.host.tool;
    if (e.button === 1 || this.spaceHeld || (tool === "select" && e.button === 0)) {
      this.gesture = { kind: "pan", last: screen, start: screen, moved: false, selectOnClick: tool === "select" && e.button === 0 };
    } else if (e.button !== 0 && e.button !== 2) {
      return;
    } else if (tool === "click") {
      this.gesture = { kind: "click", start: screen, positive: !negative };
    } else if (tool === "box") {
      const p = this.image(e);
      this.gesture = { kind: "box", start: p, current: p };
    } else if (tool === "scribble") {
      const p = this.image(e);
      this.gesture = { kind: "scribble", points: [[p.x, p.y]], positive: !negative };
    } else if (tool === "brush" || tool === "eraser") {
      const p = this.image(e);
      const erase = tool === "eraser" || e.button === 2 || e.altKey;
      this.host.beginStroke();
      this.host.strokeTo(p, p, erase);
      this.gesture = { kind: "stroke", last: p, erase };
    } else {
      return;
    }
    this.canvas.setPointerCapture(e.pointerId);
    e.preventDefault();
  }

  private move(e: PointerEvent): void {
    const g = this.gesture;
    this.host.pointerMoved(this.image(e));
    if (g === null) return;
    const screen = this.screen(e);
    if (g.kind === "pan") {
      if (!g.moved && Math.hypot(screen.x - g.start.x, screen.y - g.start.y) < DRAG_THRESHOLD) return;
      g.moved = true;
      this.host.setView(panBy(this.host.view, screen.x - g.last.x, screen.y - g.last.y));
      g.last = screen;
    } else if (g.kind === "box") {
      g.current = this.image(e);
      this.host.invalidate();
    } else if (g.kind === "scribble") {
      const p = this.image(e);
      const last = g.points[g.points.length - 1]!;
      // Keep points about 2 screen pixels apart: enough detail, small requests.
      if (Math.hypot(p.x - last[0], p.y - last[1]) * this.host.view.scale >= 2) g.points.push([p.x, p.y]);
      this.host.invalidate();
    } else if (g.kind === "stroke") {
      const p = this.image(e);
      this.host.strokeTo(g.last, p, g.erase);
      g.last = p;
    }
  }

  private up(e: PointerEvent): void {
    const g = this.gesture;
    if (g === null) return;
    this.gesture = null;
    if (this.canvas.hasPointerCapture(e.pointerId)) this.canvas.releasePointerCapture(e.pointerId);
    const screen = this.screen(e);
    if (g.kind === "pan") {
      if (!g.moved && g.selectOnClick) this.host.selectAt(this.image(e));
    } else if (g.kind === "click") {
      if (Math.hypot(screen.x - g.start.x, screen.y - g.start.y) < DRAG_THRESHOLD * 2) {
        this.host.addClick(this.image(e), g.positive);
      }
    } else if (g.kind === "box") {
      const box = boxOf(g.start, this.image(e));
      if ((box[2] - box[0]) * this.host.view.scale >= 3 && (box[3] - box[1]) * this.host.view.scale >= 3) this.host.setBox(box);
    } else if (g.kind === "scribble") {
      if (g.points.length >= 2) this.host.addScribble(g.points, g.positive);
    } else if (g.kind === "stroke") {
      this.host.endStroke();
    }
    this.host.invalidate();
  }

  private wheel(e: WheelEvent): void {
    e.preventDefault();
    const unit = e.deltaMode === 1 ? 40 : e.deltaMode === 2 ? 800 : 1;
    const factor = Math.exp(-e.deltaY * unit * 0.0015);
    this.host.setView(zoomAt(this.host.view, this.screen(e), factor));
  }
}

function boxOf(a: Point, b: Point): Box {
  return [Math.min(a.x, b.x), Math.min(a.y, b.y), Math.max(a.x, b.x), Math.max(a.y, b.y)];
}
