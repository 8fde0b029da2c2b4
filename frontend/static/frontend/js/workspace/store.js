/**
 * The asset's annotations as the server has them, with a display bitmap per annotation
 * (cached by id + version + color) and the server calls that change them. A stale
 * version comes back as ApiError 409 carrying `current`; the caller decides what to do.
 */
import { api, listAll } from "../api.js";
import { MaskBitmap } from "../masks.js";
export class AnnotationStore {
    assetId;
    frame;
    items = new Map();
    labels = new Map();
    constructor(assetId, labels, frame = 0) {
        this.assetId = assetId;
        this.frame = frame;
        for (const label of labels)
            this.labels.set(label.id, label);
    }
    get labelList() {
        return [...this.labels.values()];
    }
    label(id) {
        return this.labels.get(id);
    }
    colorOf(labelId) {
        return this.labels.get(labelId)?.color ?? "#9e9e9e";
    }
    /** In creation order; the last one is drawn on top and hit first. */
    list() {
        return [...this.items.values()].sort((a, b) => a.annotation.id - b.annotation.id);
    }
    get(id) {
        return this.items.get(id);
    }
    get size() {
        return this.items.size;
    }
    async load() {
        const annotations = await listAll(`/api/assets/${this.assetId}/annotations/?frame=${this.frame}&page_size=500`, { retries: 3 });
        this.items.clear();
        for (const annotation of annotations)
            this.upsert(annotation);
    }
    /** Adds or replaces an annotation; the bitmap is rebuilt only when it must be. */
    upsert(annotation) {
        const color = this.colorOf(annotation.label);
        const key = `${annotation.version}:${color}:${annotation.mask.counts.length}`;
        const previous = this.items.get(annotation.id);
        const bitmap = previous !== undefined && previous.cacheKey === key ? previous.bitmap : MaskBitmap.fromRle(annotation.mask, color);
        const instance = { annotation, bitmap, visible: previous?.visible ?? true, cacheKey: key };
        this.items.set(annotation.id, instance);
        return instance;
    }
    forget(id) {
        this.items.delete(id);
    }
    setVisible(id, visible) {
        const instance = this.items.get(id);
        if (instance !== undefined)
            instance.visible = visible;
    }
    /** The topmost visible annotation under an image point. */
    hitTest(x, y) {
        const list = this.list();
        for (let i = list.length - 1; i >= 0; i--) {
            const item = list[i];
            if (item.visible && item.bitmap.contains(x, y))
                return item.annotation.id;
        }
        return null;
    }
    layerItems(exclude) {
        return this.list()
            .filter((item) => !exclude.has(item.annotation.id))
            .map((item) => ({ bitmap: item.bitmap, visible: item.visible }));
    }
    async create(body) {
        const created = await api.post(`/api/assets/${this.assetId}/annotations/`, { frame: this.frame, ...body }, { retries: 3 });
        this.upsert(created);
        return created;
    }
    /** PUT (mask changes) or PATCH (label only) with the version being replaced. */
    async update(id, version, changes) {
        const method = changes.mask !== undefined ? api.put : api.patch;
        const updated = await method(`/api/annotations/${id}/`, { version, ...changes }, { retries: 3 });
        this.upsert(updated);
        return updated;
    }
    async remove(id, version) {
        await api.delete(`/api/annotations/${id}/?version=${version}`, { retries: 3 });
        this.items.delete(id);
    }
}
//# sourceMappingURL=store.js.map