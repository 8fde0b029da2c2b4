/**
 * A bounded undo/redo history of reversible steps.
 *
 * Each entry knows how to apply and revert itself (possibly asynchronously, e.g. a
 * server call). The stack only orders them: `undo()` hands back the entry to revert and
 * moves it to the redo side; pushing a new entry clears the redo side. Pure: no DOM.
 */

export interface UndoEntry {
  /** Short text for the status bar: "click", "brush", "delete #12"... */
  readonly label: string;
  apply(): void | Promise<void>;
  revert(): void | Promise<void>;
}

export class UndoStack<E extends UndoEntry = UndoEntry> {
  private done: E[] = [];
  private undone: E[] = [];

  constructor(private readonly limit = 200) {}

  get canUndo(): boolean {
    return this.done.length > 0;
  }

  get canRedo(): boolean {
    return this.undone.length > 0;
  }

  get size(): number {
    return this.done.length;
  }

  /** Records an entry that has already been applied. */
  push(entry: E): void {
    this.done.push(entry);
    if (this.done.length > this.limit) this.done.shift();
    this.undone = [];
  }

  /** Takes the last applied entry for reverting; null when there is none. */
  undo(): E | null {
    const entry = this.done.pop();
    if (entry === undefined) return null;
    this.undone.push(entry);
    return entry;
  }

  /** Takes the last reverted entry for applying again; null when there is none. */
  redo(): E | null {
    const entry = this.undone.pop();
    if (entry === undefined) return null;
    this.done.push(entry);
    return entry;
  }

  /** Puts an entry back where it came from after its revert/apply failed. */
  restoreAfterFailedUndo(entry: E): void {
    if (this.undone[this.undone.length - 1] === entry) this.undone.pop();
    this.done.push(entry);
  }

  restoreAfterFailedRedo(entry: E): void {
    if (this.done[this.done.length - 1] === entry) this.done.pop();
    this.undone.push(entry);
  }

  peekUndo(): E | null {
    return this.done[this.done.length - 1] ?? null;
  }

  peekRedo(): E | null {
    return this.undone[this.undone.length - 1] ?? null;
  }

  /** Drops entries matching the predicate (e.g. those about a deleted annotation). */
  discard(predicate: (entry: E) => boolean): void {
    this.done = this.done.filter((entry) => !predicate(entry));
    this.undone = this.undone.filter((entry) => !predicate(entry));
  }

  clear(): void {
    this.done = [];
    this.undone = [];
  }
}
