/**
 * Server operations of the workspace, each undoable: save the draft (create or PUT),
 * relabel, delete. A stale version (409) asks the user: reload theirs, overwrite, or
 * keep editing. Any other failure keeps the draft and says it is not saved.
 */

import { ApiError, describeError } from "../api.js";
import type { Annotation } from "../types.js";
import type { UndoEntry } from "../undo.js";
import type { Workspace } from "./controller.js";
import type { AnnotationChanges } from "./store.js";

export type SaveState =
  | { kind: "idle" }
  | { kind: "saving"; what: string }
  | { kind: "saved"; what: string }
  | { kind: "failed"; what: string; message: string }
  | { kind: "conflict"; what: string };

export type ConflictChoice = "reload" | "overwrite" | "keep";

export interface ConflictInfo {
  id: number;
  yourVersion: number;
  current: Annotation;
}

export type ConflictPrompt = (info: ConflictInfo) => Promise<ConflictChoice>;

export class Operations {
  state: SaveState = { kind: "idle" };
  private busy = false;

  constructor(
    private readonly ws: Workspace,
    private readonly askConflict: ConflictPrompt,
    private readonly onState: (state: SaveState) => void,
  ) {}

  get inFlight(): boolean {
    return this.busy;
  }

  private set(state: SaveState): void {
    this.state = state;
    this.onState(state);
  }

  /** Runs one operation at a time; failures are reported, never thrown. */
  private async run(what: string, work: () => Promise<boolean>): Promise<boolean> {
    if (this.busy) return false;
    this.busy = true;
    this.set({ kind: "saving", what });
    try {
      const done = await work();
      if (done) this.set({ kind: "saved", what });
      else if (this.state.kind === "saving") this.set({ kind: "idle" });
      return done;
    } catch (error) {
      this.set({ kind: "failed", what, message: describeError(error) });
      return false;
    } finally {
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
  private async withConflict<T>(id: number, version: number, attempt: (version: number) => Promise<T>): Promise<T | null> {
    try {
      return await attempt(version);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 409 || error.code !== "stale_version") throw error;
      const current = error.body.current as Annotation | undefined;
      if (current === undefined) throw error;
      this.set({ kind: "conflict", what: `annotation #${id}` });
      const choice = await this.askConflict({ id, yourVersion: version, current });
      if (choice === "overwrite") return await attempt(current.version);
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

  private version(id: number): number {
    const instance = this.ws.store.get(id);
    if (instance === undefined) throw new Error(`annotation #${id} is gone`);
    return instance.annotation.version;
  }

  private async update(id: number, changes: AnnotationChanges, version = this.version(id)): Promise<Annotation | null> {
    return this.withConflict(id, version, (v) => this.ws.store.update(id, v, changes));
  }

  /** Saves the draft: a new annotation, or the refined mask of the one being edited. */
  async accept(): Promise<boolean> {
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
    const source = meta !== null ? ("interactive" as const) : ("manual" as const);
    const target = draft.target;
    if (target !== null) {
      return this.run(`annotation #${target.id}`, async () => {
        const previous = ws.store.get(target.id)?.annotation;
        const interaction =
          meta === null ? null : { prompts: meta.prompts, engine: meta.engine, elapsed_ms: meta.elapsedMs };
        // A person's correction of a propagated mask: no `source`, so the server makes
        // it a manual keyframe that propagation stops at and never overwrites.
        const correction = ws.isVideo && previous?.source === "propagated";
        const changes: AnnotationChanges = correction ? { mask, score, interaction } : { mask, score, source, interaction };
        const saved = await this.update(target.id, changes, target.version);
        if (saved === null || previous === undefined) return false;
        draft.reset();
        ws.draftChanged();
        this.push(`save #${target.id}`, {
          revert: async () => {
            const reverted = await this.update(target.id, { mask: previous.mask, score: previous.score, source: previous.source });
            if (reverted === null) return;
            draft.restore({ ...before, target: { ...target, version: reverted.version } });
            ws.draftChanged();
          },
          apply: async () => {
            if ((await this.update(target.id, correction ? { mask, score } : { mask, score, source })) === null) return;
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
    const track = ws.trackForNew;
    const body = {
      label,
      mask,
      score,
      source,
      interaction: meta === null ? null : { prompts: meta.prompts, engine: meta.engine, elapsed_ms: meta.elapsedMs },
      ...(track !== undefined ? { track } : {}),
    };
    return this.run("new annotation", async () => {
      const created = await ws.store.create(body);
      const ref = { id: created.id };
      draft.reset();
      // A video keeps the new object selected: propagating it is the usual next step.
      ws.selected = ws.isVideo ? created.id : null;
      if (ws.isVideo) ws.activeTrack = created.track;
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

  async relabel(id: number, label: number): Promise<boolean> {
    const instance = this.ws.store.get(id);
    if (instance === undefined || instance.annotation.label === label) return false;
    const old = instance.annotation.label;
    return this.run(`annotation #${id}`, async () => {
      if ((await this.update(id, { label })) === null) return false;
      this.push(`relabel #${id}`, {
        revert: async () => void (await this.update(id, { label: old })),
        apply: async () => void (await this.update(id, { label })),
      });
      return true;
    });
  }

  async remove(id: number): Promise<boolean> {
    const instance = this.ws.store.get(id);
    if (instance === undefined) return false;
    const a = instance.annotation;
    const ref = { id };
    return this.run(`annotation #${id}`, async () => {
      const done = await this.withConflict(id, a.version, (v) => this.ws.store.remove(id, v).then(() => true));
      if (done === null) return false;
      if (this.ws.selected === id) this.ws.selected = null;
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

  private push(label: string, steps: Pick<UndoEntry, "apply" | "revert">): void {
    this.ws.history.push({ label, ...steps });
  }

  async undo(): Promise<void> {
    if (this.busy) return;
    const entry = this.ws.history.undo();
    if (entry !== null && !(await this.step(`undo ${entry.label}`, () => entry.revert()))) {
      this.ws.history.restoreAfterFailedUndo(entry);
    }
  }

  async redo(): Promise<void> {
    if (this.busy) return;
    const entry = this.ws.history.redo();
    if (entry !== null && !(await this.step(`redo ${entry.label}`, () => entry.apply()))) {
      this.ws.history.restoreAfterFailedRedo(entry);
    }
  }

  /** Draft steps are instant; server steps go through run() (status, one at a time). */
  private async step(what: string, action: () => void | Promise<void>): Promise<boolean> {
    let result: void | Promise<void>;
    try {
      result = action();
    } catch (error) {
      this.set({ kind: "failed", what, message: describeError(error) });
      return false;
    }
    if (!(result instanceof Promise)) return true;
    const pending = result;
    return this.run(what, async () => {
      await pending;
      return true;
    });
  }
}
