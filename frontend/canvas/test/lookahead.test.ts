import { test } from "node:test";
import assert from "node:assert/strict";
import { Lookahead, type LookaheadHost, SETTLE_MS } from "../src/lookahead";
import { emptyMask } from "../src/mask";
import { type Prediction, fixedCandidate } from "../src/session";

/** A host whose decodes resolve when the test says so; frames pass at once (next macrotask). */
class FakeHost implements LookaheadHost {
  decodes: { x: number; y: number; resolve: (p: Prediction) => void }[] = [];
  shown: number[] = []; // t0 of each preview shown
  allowed = true;
  pressed = false;
  token: object = {};

  previewAllowed = () => this.allowed;
  decodeFirstPoint = (x: number, y: number): Promise<Prediction> =>
    new Promise((resolve) => this.decodes.push({ x, y, resolve }));
  sessionToken = () => this.token;
  pressing = () => this.pressed;
  nextFrame = () => new Promise<void>((resolve) => setTimeout(resolve, 0));
  previewColor = () => "#ff0000";
  previewShown = (t0: number) => {
    this.shown.push(t0);
  };
}

const answer = (score: number): Prediction => ({ candidates: [fixedCandidate(emptyMask(4, 4), score)], source: "sam" });
const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

test("pointer moves within one frame make one decode, of the last position; its click reuses it", async () => {
  const host = new FakeHost();
  const ahead = new Lookahead(host);
  ahead.hover(1, 1, 10);
  ahead.hover(2, 2, 11);
  ahead.hover(3, 3, 12);
  await tick();
  assert.deepEqual(host.decodes.map((d) => [d.x, d.y]), [[3, 3]]);
  assert.equal(ahead.decodeOf(1, 1), null);
  const flying = ahead.decodeOf(3, 3); // a click while it decodes waits for the same answer
  const best = answer(0.9);
  host.decodes[0].resolve(best);
  assert.equal(await flying, best);
  await tick();
  assert.deepEqual(host.shown, [12]);
  assert.equal(ahead.preview?.prediction, best);
  assert.equal(await ahead.decodeOf(3, 3), best);
  assert.equal(ahead.busy, false);
});

test("an answer the pointer has left is not shown; the newest position is decoded next", async () => {
  const host = new FakeHost();
  const ahead = new Lookahead(host);
  ahead.hover(5, 5, 1);
  await tick();
  ahead.hover(6, 6, 2); // while (5, 5) decodes
  host.decodes[0].resolve(answer(0.5));
  await tick();
  assert.deepEqual(host.decodes.map((d) => [d.x, d.y]), [[5, 5], [6, 6]]);
  assert.deepEqual(host.shown, []);
  host.decodes[1].resolve(answer(0.7));
  await tick();
  assert.deepEqual(host.shown, [2]);
  assert.equal(ahead.preview?.x, 6);
});

test("a press on the pixel the hover is decoding does not decode again and keeps its answer", async () => {
  const host = new FakeHost();
  const ahead = new Lookahead(host);
  ahead.hover(7, 8, 1);
  await tick();
  host.pressed = true; // pointer down: no preview while pressing
  host.allowed = false;
  ahead.press(7, 8);
  assert.equal(host.decodes.length, 1);
  const best = answer(0.8);
  host.decodes[0].resolve(best);
  await tick();
  assert.equal(ahead.preview, null); // not drawn during the press...
  assert.equal(await ahead.decodeOf(7, 8), best); // ...but handed to the press's click
  ahead.endPress();
  assert.equal(ahead.decodeOf(7, 8), null);
});

test("a press elsewhere decodes its own point; another session's answer is never shown", async () => {
  const host = new FakeHost();
  const ahead = new Lookahead(host);
  ahead.press(20, 30);
  assert.deepEqual(host.decodes.map((d) => [d.x, d.y]), [[20, 30]]);
  assert.notEqual(ahead.decodeOf(20, 30), null);
  ahead.endPress();
  ahead.hover(1, 2, 5);
  await tick();
  host.token = {}; // a new object or another image began while it decoded
  host.decodes[1].resolve(answer(0.9));
  await tick();
  assert.deepEqual(host.shown, []);
  assert.equal(ahead.preview, null);
  ahead.stop();
  ahead.reset();
  assert.equal(ahead.decodeOf(1, 2), null);
});

test("while the pointer travels fast nothing is decoded; where it slows down is", async () => {
  const host = new FakeHost();
  const ahead = new Lookahead(host);
  ahead.hover(10, 10, 1, { sx: 0, sy: 0 });
  ahead.hover(50, 10, 2, { sx: 40, sy: 0 }); // 40 CSS px in one move: travelling
  await tick();
  await tick();
  assert.equal(host.decodes.length, 0);
  ahead.hover(52, 10, 3, { sx: 42, sy: 0 }); // slowing down, but the fast move was just now
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS + 20));
  assert.deepEqual(host.decodes.map((d) => [d.x, d.y]), [[52, 10]]); // once settled: one decode, of the last point
});

test("slow moves decode at once", async () => {
  const host = new FakeHost();
  const ahead = new Lookahead(host);
  ahead.hover(10, 10, 1, { sx: 0, sy: 0 });
  ahead.hover(12, 10, 2, { sx: 2, sy: 0 });
  await tick();
  assert.deepEqual(host.decodes.map((d) => [d.x, d.y]), [[12, 10]]);
});
