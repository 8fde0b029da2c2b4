/**
 * The asset's annotations as the server has them, with a display bitmap per annotation
 * (cached by id + version + color) and the server calls that change them. A stale
 * version comes back as ApiError 409 carrying `current`; the caller decides what to do.
 */

import { api, listAll } from "../api.js";
import { MaskBitmap, type LayerItem } from "../masks.js";
import type { Rle } from "../rle.js";
import type { Annotation, Interaction, Label } from "../types.js";

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

  constructor(
    private readonly assetId: number,
    labels: Label[],
    private readonly frame = 0,
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

  /** Adds or replaces an annotation; the bitmap is rebuilt only when it must be. */
  upsert(annotation: Annotation): Instance {
    const color = this.colorOf(annotation.label);
    const key = `${annotation.version}:${color}:${annotation.mask.counts.length}`;
    const previous = this.items.get(annotation.id);
    const bitmap =
      previous !== undefined && previous.cacheKey === key ? previous.bitmap : MaskBitmap.fromRle(annotation.mask, color);
    const instance: Instance = { annotation, bitmap, visible: previous?.visible ?? true, cacheKey: key };
    this.items.set(annotation.id, instance);
    return instance;
  }

  forget(id: number): void {
    this.items.delete(id);
  }

  setVisible(id: number, visible: boolean): void {
    const instance = this.items.get(id);
    if (instance !== undefined) instance.visible = visible;
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
