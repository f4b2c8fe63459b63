import { test } from "node:test";
import assert from "node:assert/strict";
import { isTyping, keyAction } from "../src/keyboard";

const key = (k: string, mods: Partial<{ ctrlKey: boolean; metaKey: boolean; altKey: boolean; shiftKey: boolean }> = {}) =>
  keyAction({ key: k, ctrlKey: false, metaKey: false, altKey: false, shiftKey: false, ...mods });

test("the documented keys map to their actions", () => {
  assert.deepEqual(key("3"), { kind: "class", number: 3 });
  assert.deepEqual(key("a"), { kind: "accept" });
  assert.deepEqual(key("A", { shiftKey: true }), { kind: "accept" });
  assert.deepEqual(key("z"), { kind: "undo" });
  assert.deepEqual(key("z", { ctrlKey: true }), { kind: "undo" });
  assert.deepEqual(key("Z", { ctrlKey: true, shiftKey: true }), { kind: "redo" });
  assert.deepEqual(key("y"), { kind: "redo" });
  assert.deepEqual(key("Escape"), { kind: "escape" });
  assert.deepEqual(key("V", { shiftKey: true }), { kind: "cycle", delta: -1 });
  assert.deepEqual(key("w"), { kind: "negative" });
  assert.deepEqual(key("b"), { kind: "tool", tool: "brush" });
  assert.deepEqual(key("e"), { kind: "tool", tool: "eraser" });
  assert.equal(key("]")?.kind, "brushSize");
  assert.equal(key("+")?.kind, "zoom");
  assert.deepEqual(key("f"), { kind: "fit" });
  assert.deepEqual(key("0"), { kind: "fit" });
  assert.deepEqual(key("Delete"), { kind: "delete" });
});

test("N / P / U (the page's buttons), browser shortcuts and Alt combinations are left alone", () => {
  for (const k of ["n", "p", "u", "N"]) assert.equal(key(k), null, k);
  assert.equal(key("c", { ctrlKey: true }), null);
  assert.equal(key("r", { metaKey: true }), null);
  assert.equal(key("1", { altKey: true }), null);
  assert.equal(key("Tab"), null);
});

test("typing places: text inputs, textareas, selects, editable elements; not sliders or checkboxes", () => {
  const event = (el: Partial<HTMLInputElement>) => ({ composedPath: () => [el], target: el }) as unknown as Event;
  assert.equal(isTyping(event({ tagName: "INPUT", type: "text" })), true);
  assert.equal(isTyping(event({ tagName: "INPUT", type: "search" })), true);
  assert.equal(isTyping(event({ tagName: "TEXTAREA" })), true);
  assert.equal(isTyping(event({ tagName: "SELECT" })), true);
  assert.equal(isTyping(event({ tagName: "DIV", isContentEditable: true })), true);
  assert.equal(isTyping(event({ tagName: "INPUT", type: "range" })), false);
  assert.equal(isTyping(event({ tagName: "INPUT", type: "checkbox" })), false);
  assert.equal(isTyping(event({ tagName: "CANVAS" })), false);
});
