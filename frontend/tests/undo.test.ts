import assert from "node:assert/strict";
import { test } from "node:test";

import { UndoStack, type UndoEntry } from "../src/undo.js";

function counter(): { value: number; step: (n: number) => UndoEntry } {
  const state = { value: 0, step: (n: number): UndoEntry => ({ label: `+${n}`, apply: () => void (state.value += n), revert: () => void (state.value -= n) }) };
  return state;
}

test("undo and redo walk the history in order", () => {
  const c = counter();
  const stack = new UndoStack();
  for (const n of [1, 2, 3]) {
    const entry = c.step(n);
    entry.apply();
    stack.push(entry);
  }
  assert.equal(c.value, 6);
  stack.undo()!.revert();
  stack.undo()!.revert();
  assert.equal(c.value, 1);
  assert.ok(stack.canRedo);
  stack.redo()!.apply();
  assert.equal(c.value, 3);
  assert.equal(stack.peekUndo()!.label, "+2");
});

test("a new entry clears the redo side", () => {
  const c = counter();
  const stack = new UndoStack();
  stack.push(c.step(1));
  stack.undo();
  assert.ok(stack.canRedo);
  stack.push(c.step(5));
  assert.equal(stack.canRedo, false);
  assert.equal(stack.redo(), null);
});

test("empty stack answers null", () => {
  const stack = new UndoStack();
  assert.equal(stack.undo(), null);
  assert.equal(stack.redo(), null);
  assert.equal(stack.canUndo, false);
});

test("the history is bounded, oldest entries go first", () => {
  const c = counter();
  const stack = new UndoStack(3);
  for (const n of [1, 2, 3, 4, 5]) stack.push(c.step(n));
  assert.equal(stack.size, 3);
  assert.equal(stack.undo()!.label, "+5");
  assert.equal(stack.undo()!.label, "+4");
  assert.equal(stack.undo()!.label, "+3");
  assert.equal(stack.undo(), null);
});

test("a failed undo puts the entry back", () => {
  const c = counter();
  const stack = new UndoStack();
  const entry = c.step(1);
  stack.push(entry);
  const taken = stack.undo()!;
  stack.restoreAfterFailedUndo(taken);
  assert.ok(stack.canUndo);
  assert.equal(stack.canRedo, false);
  const again = stack.undo()!;
  stack.redo();
  stack.undo();
  assert.equal(again, entry);
});

test("discard removes matching entries on both sides", () => {
  const c = counter();
  const stack = new UndoStack();
  stack.push(c.step(1));
  stack.push(c.step(2));
  stack.push(c.step(3));
  stack.undo();
  stack.discard((e) => e.label === "+3" || e.label === "+1");
  assert.equal(stack.canRedo, false);
  assert.equal(stack.undo()!.label, "+2");
  assert.equal(stack.undo(), null);
});
