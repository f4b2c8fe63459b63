import { test } from "node:test";
import assert from "node:assert/strict";
import { type Prediction, PromptSession, byScore, fixedCandidate } from "../src/session";
import { emptyMask, maskFromFull } from "../src/mask";

const mask = (v: number) => maskFromFull([v, 1, 0, 0], 2, 2);
const logits = (v: number) => new Float32Array(256 * 256).fill(v);

/** A prediction of `scores.length` candidates; candidate k has logits filled with k. */
function prediction(scores: number[]): Prediction {
  const cands = scores.map((s, k) => ({ ...fixedCandidate(mask(k % 2), s), input: { kind: "logits" as const, logits: logits(k) } }));
  return { candidates: byScore(cands), source: "sam" };
}

test("first element gives 3 candidates; later steps feed the chosen candidate's logits", () => {
  const s = new PromptSession(1);
  const first = s.promptWith({ kind: "point", x: 5, y: 6, positive: true });
  assert.deepEqual(first, { points: [[5, 6]], labels: [1], box: null, maskInput: null, baseMask: null, multimask: true });
  s.push({ kind: "point", x: 5, y: 6, positive: true }, prediction([0.2, 0.9, 0.5]));
  assert.equal(s.score, 0.9); // best first
  s.cycle(); // the 0.5 candidate (logits filled with 2)
  const second = s.promptWith({ kind: "point", x: 9, y: 1, positive: false });
  assert.equal(second.multimask, false);
  assert.deepEqual(second.points, [[5, 6], [9, 1]]);
  assert.deepEqual(second.labels, [1, 0]);
  assert.equal(second.maskInput?.kind, "logits");
  assert.equal((second.maskInput as { logits: Float32Array }).logits[0], 2);
});

test("a box is one element: box alone is multimask, box + point keeps the latest box", () => {
  const s = new PromptSession(1);
  assert.equal(s.promptWith({ kind: "box", box: [1, 2, 30, 40] }).multimask, true);
  s.push({ kind: "box", box: [1, 2, 30, 40] }, prediction([0.3, 0.2, 0.1]));
  const p = s.promptWith({ kind: "point", x: 3, y: 3, positive: true });
  assert.deepEqual(p.box, [1, 2, 30, 40]);
  assert.equal(p.multimask, false);
  s.push({ kind: "point", x: 3, y: 3, positive: true }, prediction([0.5]));
  assert.deepEqual(s.promptWith({ kind: "box", box: [0, 0, 9, 9] }).box, [0, 0, 9, 9]);
});

test("undo / redo restore answers without recomputing; clear is undoable; new step clears redo", () => {
  const s = new PromptSession(1);
  s.push({ kind: "point", x: 1, y: 1, positive: true }, prediction([0.1, 0.2, 0.3]));
  s.push({ kind: "point", x: 2, y: 2, positive: true }, prediction([0.7]));
  const second = s.current;
  assert.ok(s.undo());
  assert.equal(s.candidates, 3);
  assert.ok(s.redo());
  assert.equal(s.current, second);
  s.clear();
  assert.equal(s.history.length, 0);
  assert.equal(s.mask, null);
  assert.ok(s.redo() && s.redo());
  assert.equal(s.history.length, 2);
  s.undo();
  s.push({ kind: "point", x: 4, y: 4, positive: false }, prediction([0.4]));
  assert.equal(s.redoStack.length, 0);
  assert.equal(s.undo() && s.undo() && !s.undo(), true);
});

test("a seed (selected annotation) refines with single masks from its mask", () => {
  const seed = { annotationId: 7, mask: mask(1), source: "sam" as const };
  const s = new PromptSession(1, seed);
  assert.equal(s.editingAnnotationId, 7);
  assert.equal(s.baseMask, seed.mask);
  const p = s.promptWith({ kind: "point", x: 0, y: 0, positive: true });
  assert.equal(p.multimask, false);
  assert.deepEqual(p.maskInput, { kind: "mask", mask: seed.mask });
  assert.equal(s.source, "sam");
});

test("prompts after a brush step start from the painted mask", () => {
  const s = new PromptSession(1);
  s.push({ kind: "point", x: 1, y: 1, positive: true }, prediction([0.1, 0.2, 0.3]));
  const painted = mask(0);
  s.push({ kind: "brush", erase: false, radius: 3, points: [[0, 0]] }, { candidates: [fixedCandidate(painted, null)], source: "manual" });
  assert.equal(s.mask, painted);
  const p = s.promptWith({ kind: "point", x: 1, y: 0, positive: false });
  assert.deepEqual(p.points, [[1, 0]]); // the points before the brush are not re-sent
  assert.deepEqual(p.maskInput, { kind: "mask", mask: painted });
  assert.equal(p.multimask, false);
  assert.equal(s.source, "sam"); // the object came from SAM, touched up by hand
  assert.throws(() => s.promptWith({ kind: "brush", erase: true, radius: 1, points: [] }));
});

test("a session of brush strokes only is manual; cycling wraps both ways", () => {
  const s = new PromptSession(1);
  s.push({ kind: "brush", erase: false, radius: 3, points: [[0, 0]] }, { candidates: [fixedCandidate(emptyMask(2, 2), null)], source: "manual" });
  assert.equal(s.source, "manual");
  const t = new PromptSession(1);
  t.push({ kind: "point", x: 1, y: 1, positive: true }, prediction([0.3, 0.2, 0.1]));
  assert.equal(t.cycle(-1), 2);
  assert.equal(t.cycle(1), 0);
});

test("byScore is stable and puts null scores last", () => {
  const items = [{ score: 0.5, k: 0 }, { score: null, k: 1 }, { score: 0.9, k: 2 }, { score: 0.5, k: 3 }];
  assert.deepEqual(byScore(items).map((i) => i.k), [2, 0, 3, 1]);
});
