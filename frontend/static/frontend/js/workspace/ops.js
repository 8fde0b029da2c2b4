/**
 * Server operations of the workspace, each undoable: save the draft (create or PUT),
 * relabel, delete. A stale version (409) asks the user: reload theirs, overwrite, or
 * keep editing. Any other failure keeps the draft and says it is not saved.
 */
import { ApiError, describeError } from "../api.js";
export class Operations {
    ws;
    askConflict;
    onState;
    state = { kind: "idle" };
    busy = false;
    constructor(ws, askConflict, onState) {
        this.ws = ws;
        this.askConflict = askConflict;
        this.onState = onState;
    }
    get inFlight() {
        return this.busy;
    }
    set(state) {
        this.state = state;
        this.onState(state);
    }
    /** Runs one operation at a time; failures are reported, never thrown. */
    async run(what, work) {
        if (this.busy)
            return false;
        this.busy = true;
        this.set({ kind: "saving", what });
        try {
            const done = await work();
            if (done)
                this.set({ kind: "saved", what });
            else if (this.state.kind === "saving")
                this.set({ kind: "idle" });
            return done;
        }
        catch (error) {
            this.set({ kind: "failed", what, message: describeError(error) });
            return false;
        }
        finally {
            this.busy = false;
            this.ws.refreshLayers();
            this.ws.emit("instances");
            this.ws.emit("draft");
        }
    }
    /**
     * Calls `attempt(version)`; on 409 asks the user. Returns the result, or null when the
     * user reloaded their version or chose to keep editing.
     */
    async withConflict(id, version, attempt) {
        try {
            return await attempt(version);
        }
        catch (error) {
            if (!(error instanceof ApiError) || error.status !== 409 || error.code !== "stale_version")
                throw error;
            const current = error.body.current;
            if (current === undefined)
                throw error;
            this.set({ kind: "conflict", what: `annotation #${id}` });
            const choice = await this.askConflict({ id, yourVersion: version, current });
            if (choice === "overwrite")
                return await attempt(current.version);
            if (choice === "reload") {
                this.ws.store.upsert(current);
                if (this.ws.draft.target?.id === id) {
                    this.ws.predictor.cancel();
                    this.ws.draft.reset();
                    this.ws.draftChanged();
                }
            }
            this.set({ kind: "idle" });
            return null;
        }
    }
    version(id) {
        const instance = this.ws.store.get(id);
        if (instance === undefined)
            throw new Error(`annotation #${id} is gone`);
        return instance.annotation.version;
    }
    async update(id, changes, version = this.version(id)) {
        return this.withConflict(id, version, (v) => this.ws.store.update(id, v, changes));
    }
    /** Saves the draft: a new annotation, or the refined mask of the one being edited. */
    async accept() {
        const ws = this.ws;
        await ws.pendingPrediction;
        const draft = ws.draft;
        const mask = draft.rle();
        if (mask === null || draft.area === 0) {
            this.set({ kind: "failed", what: "draft", message: "nothing to save: the mask is empty" });
            return false;
        }
        const before = draft.snapshot();
        const meta = draft.meta;
        const score = meta?.score ?? null;
        const source = meta !== null ? "interactive" : "manual";
        const target = draft.target;
        if (target !== null) {
            return this.run(`annotation #${target.id}`, async () => {
                const previous = ws.store.get(target.id)?.annotation;
                const interaction = meta === null ? null : { prompts: meta.prompts, engine: meta.engine, elapsed_ms: meta.elapsedMs };
                const saved = await this.update(target.id, { mask, score, source, interaction }, target.version);
                if (saved === null || previous === undefined)
                    return false;
                draft.reset();
                ws.draftChanged();
                this.push(`save #${target.id}`, {
                    revert: async () => {
                        const reverted = await this.update(target.id, { mask: previous.mask, score: previous.score, source: previous.source });
                        if (reverted === null)
                            return;
                        draft.restore({ ...before, target: { ...target, version: reverted.version } });
                        ws.draftChanged();
                    },
                    apply: async () => {
                        if ((await this.update(target.id, { mask, score, source })) === null)
                            return;
                        draft.reset();
                        ws.draftChanged();
                    },
                });
                return true;
            });
        }
        const label = ws.activeLabel;
        if (ws.store.label(label) === undefined) {
            this.set({ kind: "failed", what: "draft", message: "choose a label class first" });
            return false;
        }
        const body = {
            label,
            mask,
            score,
            source,
            interaction: meta === null ? null : { prompts: meta.prompts, engine: meta.engine, elapsed_ms: meta.elapsedMs },
        };
        return this.run("new annotation", async () => {
            const created = await ws.store.create(body);
            const ref = { id: created.id };
            draft.reset();
            ws.selected = null;
            ws.draftChanged();
            this.push(`save #${created.id}`, {
                revert: async () => {
                    await ws.store.remove(ref.id, this.version(ref.id));
                    draft.restore(before);
                    ws.draftChanged();
                },
                apply: async () => {
                    ref.id = (await ws.store.create(body)).id;
                    draft.reset();
                    ws.draftChanged();
                },
            });
            return true;
        });
    }
    async relabel(id, label) {
        const instance = this.ws.store.get(id);
        if (instance === undefined || instance.annotation.label === label)
            return false;
        const old = instance.annotation.label;
        return this.run(`annotation #${id}`, async () => {
            if ((await this.update(id, { label })) === null)
                return false;
            this.push(`relabel #${id}`, {
                revert: async () => void (await this.update(id, { label: old })),
                apply: async () => void (await this.update(id, { label })),
            });
            return true;
        });
    }
    async remove(id) {
        const instance = this.ws.store.get(id);
        if (instance === undefined)
            return false;
        const a = instance.annotation;
        const ref = { id };
        return this.run(`annotation #${id}`, async () => {
            const done = await this.withConflict(id, a.version, (v) => this.ws.store.remove(id, v).then(() => true));
            if (done === null)
                return false;
            if (this.ws.selected === id)
                this.ws.selected = null;
            this.push(`delete #${id}`, {
                revert: async () => {
                    const again = await this.ws.store.create({
                        label: a.label,
                        mask: a.mask,
                        score: a.score,
                        source: a.source === "interactive" ? "interactive" : "manual",
                        interaction: a.interaction,
                    });
                    ref.id = again.id;
                },
                apply: async () => {
                    await this.withConflict(ref.id, this.version(ref.id), (v) => this.ws.store.remove(ref.id, v));
                },
            });
            return true;
        });
    }
    push(label, steps) {
        this.ws.history.push({ label, ...steps });
    }
    async undo() {
        if (this.busy)
            return;
        const entry = this.ws.history.undo();
        if (entry !== null && !(await this.step(`undo ${entry.label}`, () => entry.revert()))) {
            this.ws.history.restoreAfterFailedUndo(entry);
        }
    }
    async redo() {
        if (this.busy)
            return;
        const entry = this.ws.history.redo();
        if (entry !== null && !(await this.step(`redo ${entry.label}`, () => entry.apply()))) {
            this.ws.history.restoreAfterFailedRedo(entry);
        }
    }
    /** Draft steps are instant; server steps go through run() (status, one at a time). */
    async step(what, action) {
        let result;
        try {
            result = action();
        }
        catch (error) {
            this.set({ kind: "failed", what, message: describeError(error) });
            return false;
        }
        if (!(result instanceof Promise))
            return true;
        const pending = result;
        return this.run(what, async () => {
            await pending;
            return true;
        });
    }
}
//# sourceMappingURL=ops.js.map