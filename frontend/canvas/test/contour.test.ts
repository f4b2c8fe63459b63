import { test } from "node:test";
import assert from "node:assert/strict";
import { type Loop, segmentCount, simplifyLoop, traceLoops } from "../src/contour";
import { maskArea, maskFromFull } from "../src/mask";
import { shape } from "./shapes";
import { MAX_OUTLINE_RUNS, countRuns, outlineLevel } from "../src/sprites";

/** Shoelace area; pixel-corner loops with the inside on the right (y down) are positive. */
function area(l: Loop): number {
  let s = 0;
  const n = l.length / 2;
  for (let i = 0; i < n; i++) {
    const j = (i + 1) % n;
    s += l[2 * i] * l[2 * j + 1] - l[2 * j] * l[2 * i + 1];
  }
  return s / 2;
}

function distToSegment(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax;
  const dy = by - ay;
  const len2 = dx * dx + dy * dy;
  const t = len2 ? Math.min(Math.max(((px - ax) * dx + (py - ay) * dy) / len2, 0), 1) : 0;
  return Math.hypot(px - ax - t * dx, py - ay - t * dy);
}

test("loops enclose exactly the mask: signed areas (holes negative) sum to the pixel count", () => {
  for (const name of ["disc", "pattern", "stripes", "tall", "first", "full"]) {
    const m = shape(name);
    const loops = traceLoops(m);
    assert.ok(loops.length > 0, name);
    const total = loops.reduce((s, l) => s + area(l), 0);
    assert.equal(total, maskArea(m), name);
    for (const l of loops) for (const v of l) assert.ok(Number.isInteger(v), "corners are integer pixel corners");
  }
});

test("a ring has an outer loop and a hole; diagonal pixels stay two loops", () => {
  const ring = maskFromFull([1, 1, 1, 1, 0, 1, 1, 1, 1], 3, 3);
  const loops = traceLoops(ring);
  assert.deepEqual(loops.map(area).sort((a, b) => a - b), [-1, 9]);
  const diagonal = maskFromFull([1, 0, 0, 1], 2, 2);
  assert.deepEqual(traceLoops(diagonal).map(area), [1, 1]);
  assert.deepEqual(traceLoops(maskFromFull([0, 0, 0, 0], 2, 2)), []);
});

test("only corners are kept, and simplification stays within its tolerance", () => {
  const disc = shape("disc");
  const [loop] = traceLoops(disc);
  for (const tol of [0.5, 2, 8]) {
    const s = simplifyLoop(loop, tol);
    assert.ok(s.length < loop.length, `${tol}: fewer points`);
    const n = s.length / 2;
    for (let i = 0; i < loop.length; i += 2) {
      let d = Infinity;
      for (let k = 0; k < n; k++) {
        const j = (k + 1) % n;
        d = Math.min(d, distToSegment(loop[i], loop[i + 1], s[2 * k], s[2 * k + 1], s[2 * j], s[2 * j + 1]));
      }
      assert.ok(d <= tol + 1e-9, `tolerance ${tol}: a point is ${d} away`);
    }
  }
  const square = traceLoops(shape("full"))[0];
  assert.equal(square.length / 2, 4);
});

test("zoomed-out views stroke far fewer segments", () => {
  const big = shape("big");
  const loops = traceLoops(big);
  const exact = segmentCount(loops);
  const coarse = segmentCount(loops.map((l) => simplifyLoop(l, 8)));
  assert.ok(coarse * 10 < exact, `${coarse} vs ${exact}`);
  assert.equal(outlineLevel(4), 0);
  assert.equal(outlineLevel(1), 1); // 0.5 px at 1:1
  assert.equal(outlineLevel(0.15), 4); // 4 image px = 0.6 CSS px
});

test("row runs are counted exactly, and the count stops at its limit", () => {
  const m = maskFromFull([1, 1, 0, 1, /**/ 0, 0, 0, 0, /**/ 1, 0, 1, 0], 4, 3);
  assert.equal(countRuns(m), 4); // row 0: two runs, row 1: none, row 2: two
  assert.equal(countRuns(m, 2), 2); // stops after the row that reaches the limit
  const noise = maskFromFull(Array.from({ length: 800 * 600 }, (_, i) => ((i * 2654435761) >>> 16) & 1), 800, 600);
  assert.ok(countRuns(noise, MAX_OUTLINE_RUNS + 1) > MAX_OUTLINE_RUNS, "noise is too fragmented for an outline");
  for (const name of ["disc", "pattern", "stripes", "tall"]) assert.ok(countRuns(shape(name)) < MAX_OUTLINE_RUNS, name);
});
