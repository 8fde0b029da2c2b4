/**
 * A bounded undo/redo history of reversible steps.
 *
 * Each entry knows how to apply and revert itself (possibly asynchronously, e.g. a
 * server call). The stack only orders them: `undo()` hands back the entry to revert and
 * moves it to the redo side; pushing a new entry clears the redo side. Pure: no DOM.
 */
export class UndoStack {
    limit;
    done = [];
    undone = [];
    constructor(limit = 200) {
        this.limit = limit;
    }
    get canUndo() {
        return this.done.length > 0;
    }
    get canRedo() {
        return this.undone.length > 0;
    }
    get size() {
        return this.done.length;
    }
    /** Records an entry that has already been applied. */
    push(entry) {
        this.done.push(entry);
        if (this.done.length > this.limit)
            this.done.shift();
        this.undone = [];
    }
    /** Takes the last applied entry for reverting; null when there is none. */
    undo() {
        const entry = this.done.pop();
        if (entry === undefined)
            return null;
        this.undone.push(entry);
        return entry;
    }
    /** Takes the last reverted entry for applying again; null when there is none. */
    redo() {
        const entry = this.undone.pop();
        if (entry === undefined)
            return null;
        this.done.push(entry);
        return entry;
    }
    /** Puts an entry back where it came from after its revert/apply failed. */
    restoreAfterFailedUndo(entry) {
        if (this.undone[this.undone.length - 1] === entry)
            this.undone.pop();
        this.done.push(entry);
    }
    restoreAfterFailedRedo(entry) {
        if (this.done[this.done.length - 1] === entry)
            this.done.pop();
        this.undone.push(entry);
    }
    peekUndo() {
        return this.done[this.done.length - 1] ?? null;
    }
    peekRedo() {
        return this.undone[this.undone.length - 1] ?? null;
    }
    /** Drops entries matching the predicate (e.g. those about a deleted annotation). */
    discard(predicate) {
        this.done = this.done.filter((entry) => !predicate(entry));
        this.undone = this.undone.filter((entry) => !predicate(entry));
    }
    clear() {
        this.done = [];
        this.undone = [];
    }
}
//# sourceMappingURL=undo.js.map