/**
 * The asset's annotations as the server has them, with a display bitmap per annotation
 * (cached by id + version + color) and the server calls that change them. A stale
 * version comes back as ApiError 409 carrying `current`; the caller decides what to do.
 */

import { api, listAll } from "../api.js";
import { annotationStyle, type MaskStyle } from "../learning/status.js";
import { MaskBitmap, type LayerItem } from "../masks.js";
import type { Rle } from "../rle.js";
import type { Annotation, Interaction, Label } from "../types.js";
import { trackColor } from "./timeline-model.js";

/** Mask bitmaps kept for frames not on screen (videos); each is its bbox's size. */
const BITMAP_CACHE = 512;

export interface Instance {
  annotation: Annotation;
  bitmap: MaskBitmap;
  visible: boolean;
  cacheKey: string;
}

export interface NewAnnotation {
  label: number;
  mask: Rle;
  source: "interactive" | "manual";
  score: number | null;
  interaction: Interaction | null;
  /** Video: the object this mask shows; absent for a new object (the server numbers it). */
  track?: number;
}

export interface AnnotationChanges {
  label?: number;
  mask?: Rle;
  source?: string;
  score?: number | null;
  /** The prompts of a refinement, stored as a new interaction of the annotation. */
  interaction?: { prompts: unknown; engine: string; elapsed_ms: number } | null;
}

export class AnnotationStore {
  private readonly items = new Map<number, Instance>();
  private readonly labels = new Map<number, Label>();
  private readonly bitmaps = new Map<string, MaskBitmap>();
  /** Videos: tracks the user hid stay hidden on every frame. */
  private readonly hiddenTracks = new Set<number>();

  constructor(
    private readonly assetId: number,
    labels: Label[],
    /** The frame whose annotations these are (videos change it with replace()). */
    public frame = 0,
    /** Videos colour masks by track (object identity), images by label class. */
    readonly colorByTrack = false,
  ) {
    for (const label of labels) this.labels.set(label.id, label);
  }

  get labelList(): Label[] {
    return [...this.labels.values()];
  }

  label(id: number): Label | undefined {
    return this.labels.get(id);
  }

  colorOf(labelId: number): string {
    return this.labels.get(labelId)?.color ?? "#9e9e9e";
  }

  /** The colour an annotation is drawn in: its track's on a video, its label's otherwise. */
  colorFor(annotation: Pick<Annotation, "label" | "track">): string {
    return this.colorByTrack ? trackColor(annotation.track) : this.colorOf(annotation.label);
  }

  /** The annotation of `track` on the current frame, if there is one. */
  byTrack(track: number): Instance | undefined {
    for (const item of this.items.values()) if (item.annotation.track === track) return item;
    return undefined;
  }

  /** In creation order; the last one is drawn on top and hit first. */
  list(): Instance[] {
    return [...this.items.values()].sort((a, b) => a.annotation.id - b.annotation.id);
  }

  get(id: number): Instance | undefined {
    return this.items.get(id);
  }

  get size(): number {
    return this.items.size;
  }

  async load(): Promise<void> {
    const annotations = await listAll<Annotation>(
      `/api/assets/${this.assetId}/annotations/?frame=${this.frame}&page_size=500`,
      { retries: 3 },
    );
    this.items.clear();
    for (const annotation of annotations) this.upsert(annotation);
  }

  /** Shows another frame's annotations (loaded by the caller); visibility is kept per track. */
  replace(frame: number, annotations: Annotation[]): void {
    this.frame = frame;
    this.items.clear();
    for (const annotation of annotations) this.upsert(annotation);
  }

  /** Adds or replaces an annotation; the bitmap is rebuilt only when it must be. */
  upsert(annotation: Annotation): Instance {
    const color = this.colorFor(annotation);
    // The style is part of the key: a review (proposal -> accepted) redraws the mask.
    const style = annotationStyle(annotation);
    const key = `${annotation.version}:${color}:${annotation.mask.counts.length}:${style}`;
    const previous = this.items.get(annotation.id);
    const bitmap =
      previous !== undefined && previous.cacheKey === key ? previous.bitmap : this.bitmapOf(annotation, key, color, style);
    const visible = previous?.visible ?? !(this.colorByTrack && this.hiddenTracks.has(annotation.track));
    const instance: Instance = { annotation, bitmap, visible, cacheKey: key };
    this.items.set(annotation.id, instance);
    return instance;
  }

  /** Decoded masks of other frames stay around a while (scrubbing back and forth). */
  private bitmapOf(annotation: Annotation, key: string, color: string, style: MaskStyle): MaskBitmap {
    const cacheKey = `${annotation.id}:${key}`;
    const cached = this.bitmaps.get(cacheKey);
    if (cached !== undefined) return cached;
    const bitmap = MaskBitmap.fromRle(annotation.mask, color, style);
    if (this.colorByTrack) {
      this.bitmaps.set(cacheKey, bitmap);
      if (this.bitmaps.size > BITMAP_CACHE) this.bitmaps.delete(this.bitmaps.keys().next().value!);
    }
    return bitmap;
  }

  forget(id: number): void {
    this.items.delete(id);
  }

  setVisible(id: number, visible: boolean): void {
    const instance = this.items.get(id);
    if (instance === undefined) return;
    instance.visible = visible;
    if (visible) this.hiddenTracks.delete(instance.annotation.track);
    else this.hiddenTracks.add(instance.annotation.track);
  }

  /** The topmost visible annotation under an image point. */
  hitTest(x: number, y: number): number | null {
    const list = this.list();
    for (let i = list.length - 1; i >= 0; i--) {
      const item = list[i]!;
      if (item.visible && item.bitmap.contains(x, y)) return item.annotation.id;
    }
    return null;
  }

  layerItems(exclude: ReadonlySet<number>): LayerItem[] {
    return this.list()
      .filter((item) => !exclude.has(item.annotation.id))
      .map((item) => ({ bitmap: item.bitmap, visible: item.visible }));
  }

  async create(body: NewAnnotation): Promise<Annotation> {
    const created = await api.post<Annotation>(
      `/api/assets/${this.assetId}/annotations/`,
      { frame: this.frame, ...body },
      { retries: 3 },
    );
    this.upsert(created);
    return created;
  }

  /** PUT (mask changes) or PATCH (label only) with the version being replaced. */
  async update(id: number, version: number, changes: AnnotationChanges): Promise<Annotation> {
    const method = changes.mask !== undefined ? api.put : api.patch;
    const updated = await method<Annotation>(`/api/annotations/${id}/`, { version, ...changes }, { retries: 3 });
    this.upsert(updated);
    return updated;
  }

  async remove(id: number, version: number): Promise<void> {
    await api.delete(`/api/annotations/${id}/?version=${version}`, { retries: 3 });
    this.items.delete(id);
  }
}
