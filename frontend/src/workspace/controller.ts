/**
 * The workspace state machine: the draft being segmented, the selection, the tools'
 * callbacks, predictions and the undo history of draft changes. Server operations
 * (save, relabel, delete) live in ops.ts; the DOM panels in main.ts.
 */

import { context2d, makeCanvas, maskImageData, type AnyCanvas } from "../masks.js";
import type { Renderer } from "../renderer.js";
import type { BBox } from "../rle.js";
import type { Asset, Box, Engine, PredictRequest } from "../types.js";
import { UndoStack, type UndoEntry } from "../undo.js";
import { fitView, type Point, type View } from "../view.js";
import { saveBackup } from "./backup.js";
import { Draft, rleBBox, type DraftSnapshot } from "./draft.js";
import { paintOverlay } from "./overlay.js";
import { Predictor, type PredictState } from "./predictor.js";
import type { AnnotationStore } from "./store.js";
import { trackColor } from "./timeline-model.js";
import { PointerInput, type ToolHost, type ToolName } from "./tools.js";

export type Listener = (what: "draft" | "instances" | "status" | "view" | "predict") => void;

export class Workspace implements ToolHost {
  tool: ToolName = "click";
  engine: Engine = "auto";
  activeLabel = 0;
  brushRadius = 12;
  selected: number | null = null;
  /** The frame on screen (videos; 0 for an image): prompts and new masks are for it. */
  frame = 0;
  /**
   * Videos: the object being worked on. It survives frame changes, so a mask drawn on a
   * frame where that object has none continues its track; null: the next mask is a new
   * object.
   */
  activeTrack: number | null = null;
  readonly isVideo: boolean;
  readonly draft: Draft;
  readonly history = new UndoStack<UndoEntry>(300);
  readonly predictor: Predictor;
  readonly input: PointerInput;
  lastError: string | null = null;
  /** Resolves when the prediction in flight (if any) has settled. */
  pendingPrediction: Promise<void> = Promise.resolve();
  private cursor: Point | null = null;
  private strokeBefore: DraftSnapshot | null = null;
  private draftCanvas: AnyCanvas | null = null;
  /** Where the draft canvas may hold pixels (mask bbox, grown by brush strokes). */
  private draftExtent: BBox | null = null;
  private listeners: Listener[] = [];

  constructor(
    readonly asset: Asset,
    readonly renderer: Renderer,
    readonly store: AnnotationStore,
  ) {
    this.isVideo = asset.num_frames > 1;
    this.draft = new Draft(asset.width, asset.height);
    this.predictor = new Predictor(asset.id, (state) => this.predictState(state));
    this.input = new PointerInput(renderer.canvas, this);
    renderer.overlay = (ctx, view) => this.paint(ctx, view);
    this.activeLabel = store.labelList[0]?.id ?? 0;
  }

  on(listener: Listener): void {
    this.listeners.push(listener);
  }

  emit(what: Parameters<Listener>[0]): void {
    for (const listener of this.listeners) listener(what);
  }

  // --- view -----------------------------------------------------------------------------

  get view(): View {
    return this.renderer.view;
  }

  setView(view: View): void {
    this.renderer.view = view;
    this.renderer.invalidate();
    this.emit("view");
  }

  fit(): void {
    this.setView(fitView(this.asset.width, this.asset.height, this.renderer.width, this.renderer.height));
  }

  invalidate(): void {
    this.renderer.invalidate();
  }

  pointerMoved(p: Point | null): void {
    this.cursor = p;
    if (this.tool === "brush" || this.tool === "eraser") this.invalidate();
    this.emit("view");
  }

  get cursorPosition(): Point | null {
    return this.cursor;
  }

  // --- tools -> draft ---------------------------------------------------------------------

  private inside(p: Point): boolean {
    return p.x >= 0 && p.y >= 0 && p.x < this.asset.width && p.y < this.asset.height;
  }

  /** Inside the image, rounded to 0.1 px (enough precision, short requests). */
  private clampPoint(x: number, y: number): [number, number] {
    const round = (v: number): number => Math.round(v * 10) / 10;
    return [round(Math.min(this.asset.width - 0.5, Math.max(0, x))), round(Math.min(this.asset.height - 0.5, Math.max(0, y)))];
  }

  /** With an empty draft and a selection, the next prompt or stroke refines that annotation. */
  private ensureTarget(): void {
    if (!this.draft.isEmpty || this.selected === null) return;
    const instance = this.store.get(this.selected);
    if (instance !== undefined) {
      this.draft.beginEdit(instance.annotation);
      this.refreshLayers();
    }
  }

  addClick(p: Point, positive: boolean): void {
    if (!this.inside(p)) return;
    this.changeDraft(positive ? "positive click" : "negative click", () => {
      const [x, y] = this.clampPoint(p.x, p.y);
      this.draft.clicks.push({ x, y, positive });
    });
  }

  setBox(box: Box): void {
    const [x0, y0] = this.clampPoint(box[0], box[1]);
    const [x1, y1] = this.clampPoint(box[2], box[3]);
    if (x1 - x0 < 1 || y1 - y0 < 1) return;
    this.changeDraft("box", () => {
      this.draft.box = [x0, y0, x1, y1];
    });
  }

  addScribble(points: [number, number][], positive: boolean): void {
    const clamped = points.map(([x, y]) => this.clampPoint(x, y));
    this.changeDraft(positive ? "positive scribble" : "negative scribble", () => {
      this.draft.scribbles.push({ points: clamped, positive });
    });
  }

  beginStroke(): void {
    this.ensureTarget();
    this.strokeBefore = this.draft.snapshot();
  }

  strokeTo(from: Point, to: Point, erase: boolean): void {
    this.draft.paintLine(from.x, from.y, to.x, to.y, this.brushRadius, erase ? 0 : 1);
    this.updateDraftCanvas();
  }

  endStroke(): void {
    const before = this.strokeBefore;
    this.strokeBefore = null;
    if (before === null) return;
    this.pushDraftEntry(this.tool === "eraser" ? "erase" : "brush", before);
    this.draftChanged();
  }

  selectAt(p: Point): void {
    this.select(this.store.hitTest(p.x, p.y));
  }

  select(id: number | null): void {
    this.selected = id;
    const instance = id === null ? undefined : this.store.get(id);
    if (instance !== undefined) this.activeLabel = instance.annotation.label;
    this.activeTrack = instance?.annotation.track ?? null;
    this.refreshLayers();
    this.emit("instances");
  }

  /** Records a prompt change (undoable) and asks for a new mask. */
  private changeDraft(label: string, mutate: () => void): void {
    this.ensureTarget();
    const before = this.draft.snapshot();
    mutate();
    this.draft.stale = true;
    this.pushDraftEntry(label, before);
    this.requestPrediction();
    this.draftChanged();
  }

  private pushDraftEntry(label: string, before: DraftSnapshot): void {
    let after: DraftSnapshot | null = null;
    this.history.push({
      label,
      revert: () => {
        this.predictor.cancel();
        after = this.draft.snapshot();
        this.draft.restore(before);
        this.draftRestored();
      },
      apply: () => {
        if (after === null) return;
        this.draft.restore(after);
        this.draftRestored();
      },
    });
  }

  private draftRestored(): void {
    this.refreshLayers();
    if (this.draft.stale && this.draft.hasPrompts) this.requestPrediction();
    this.draftChanged();
  }

  /** Discards the draft (undoable). */
  discardDraft(): void {
    if (this.draft.isEmpty) return;
    this.predictor.cancel();
    const before = this.draft.snapshot();
    this.draft.reset();
    this.pushDraftEntry("discard", before);
    this.refreshLayers();
    this.draftChanged();
  }

  /** Every prompt so far, with the previous mask for refinement. */
  predictRequest(): PredictRequest {
    const d = this.draft;
    const body: PredictRequest = { frame: this.frame, engine: this.engine };
    if (d.clicks.length > 0) body.clicks = d.clicks;
    if (d.box !== null) body.box = d.box;
    if (d.scribbles.length > 0) body.scribbles = d.scribbles;
    const mask = d.rle();
    if (mask !== null && d.area > 0) body.mask = mask; // an empty mask is no guidance
    return body;
  }

  requestPrediction(): void {
    if (!this.draft.hasPrompts) return;
    this.lastError = null;
    const run = async (): Promise<void> => {
      try {
        const response = await this.predictor.predict(this.predictRequest());
        if (response === null) return; // superseded: a newer request owns the draft
        this.draft.applyPrediction(response);
        this.refreshLayers();
        this.draftChanged();
      } catch (error) {
        this.lastError = error instanceof Error ? error.message : String(error);
        this.emit("predict");
      }
    };
    this.pendingPrediction = run();
  }

  private predictState(state: PredictState): void {
    this.emit("predict");
    if (state.kind === "failed") this.emit("draft");
  }

  draftChanged(): void {
    saveBackup(this.asset.id, this.draft.isEmpty ? null : this.draft.snapshot(), this.frame);
    this.invalidate();
    this.emit("draft");
  }

  // --- layers -----------------------------------------------------------------------------

  get draftColor(): string {
    const target = this.draft.target;
    if (this.store.colorByTrack) {
      const track = target !== null ? this.store.get(target.id)?.annotation.track : this.activeTrack;
      if (track !== undefined && track !== null) return trackColor(track);
    }
    return this.store.colorOf(target?.label ?? this.activeLabel);
  }

  /**
   * The track a new mask on this frame continues: the active object when it has no mask
   * here yet; undefined (a new object, numbered by the server) otherwise.
   */
  get trackForNew(): number | undefined {
    if (!this.isVideo || this.activeTrack === null) return undefined;
    return this.store.byTrack(this.activeTrack) === undefined ? this.activeTrack : undefined;
  }

  /**
   * Updates what is drawn: the composite of all visible annotations except the one being
   * edited (its draft replaces it), then the selection and the draft on top. The selected
   * annotation stays in the composite, so changing the selection never rebuilds it.
   */
  refreshLayers(): void {
    const exclude = new Set<number>();
    if (this.draft.target !== null) exclude.add(this.draft.target.id);
    this.renderer.layer?.setItems(this.store.layerItems(exclude));
    this.updateDraftCanvas(true);
    this.invalidate();
  }

  private updateDraftCanvas(full = false): void {
    const d = this.draft;
    const highlights = [];
    const selected = this.selected === null ? undefined : this.store.get(this.selected);
    if (selected !== undefined && selected.visible && d.target?.id !== selected.annotation.id) {
      const { bitmap } = selected;
      if (bitmap.canvas !== null && bitmap.bbox !== null) {
        highlights.push({ canvas: bitmap.canvas, x: bitmap.bbox.x, y: bitmap.bbox.y, alpha: 0.5 });
      }
    }
    if (d.mask !== null) {
      if (this.draftCanvas === null) this.draftCanvas = makeCanvas(d.width, d.height);
      const ctx = context2d(this.draftCanvas);
      let rect: BBox | null = d.dirty;
      if (full || rect === null) {
        ctx.clearRect(0, 0, d.width, d.height);
        const rle = d.rle();
        rect = rle === null ? null : rleBBox(rle);
        this.draftExtent = null;
      }
      if (rect !== null && rect.width > 0 && rect.height > 0) {
        const grown = grow(rect, 1, d.width, d.height);
        ctx.putImageData(maskImageData(d.mask, d.width, d.height, grown, this.draftColor), grown.x, grown.y);
        this.draftExtent = this.draftExtent === null ? grown : union(this.draftExtent, grown);
      }
      d.dirty = null;
      if (this.draftExtent !== null) {
        highlights.push({ canvas: this.draftCanvas, x: 0, y: 0, alpha: Math.max(0.75, this.renderer.opacity), part: this.draftExtent });
      }
    }
    this.renderer.highlights = highlights;
    this.invalidate();
  }

  private paint(ctx: CanvasRenderingContext2D, view: View): void {
    const d = this.draft;
    const preview = this.input.preview;
    const selected = this.selected === null ? undefined : this.store.get(this.selected);
    const brushing = (this.tool === "brush" || this.tool === "eraser") && this.cursor !== null;
    paintOverlay(ctx, view, {
      clicks: d.clicks,
      box: d.box,
      scribbles: d.scribbles,
      previewBox: preview.box,
      previewScribble: preview.scribble,
      brush: brushing ? { at: this.cursor!, radius: this.brushRadius, erase: this.tool === "eraser" } : null,
      selectedBox: selected?.bitmap.bbox ?? null,
    });
  }

  /** The image point at the center of the viewport (for keyboard zoom). */
  get viewCenter(): Point {
    return { x: this.renderer.width / 2, y: this.renderer.height / 2 };
  }
}

function union(a: BBox, b: BBox): BBox {
  const x = Math.min(a.x, b.x);
  const y = Math.min(a.y, b.y);
  return { x, y, width: Math.max(a.x + a.width, b.x + b.width) - x, height: Math.max(a.y + a.height, b.y + b.height) - y };
}

function grow(rect: BBox, by: number, width: number, height: number): BBox {
  const x0 = Math.max(0, rect.x - by);
  const y0 = Math.max(0, rect.y - by);
  const x1 = Math.min(width, rect.x + rect.width + by);
  const y1 = Math.min(height, rect.y + rect.height + by);
  return { x: x0, y: y0, width: Math.max(0, x1 - x0), height: Math.max(0, y1 - y0) };
}
