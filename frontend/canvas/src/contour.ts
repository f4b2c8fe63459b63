// Outlines of a mask as closed polylines on pixel corners, and their simplified versions for
// zoomed-out views (levels of detail), so that stroking 60 annotations of a 6000x4000 photo
// costs a few thousand segments, not hundreds of thousands.
//
// Tracing: every pixel edge between inside and outside is a directed edge with the inside on
// its right (y down): top edges go right, right edges down, bottom edges left, left edges up.
// Edges are chained into closed loops (outer outlines and holes alike); only corners are kept.
// Coordinates are image pixels (pixel (x, y) covers [x, x+1) x [y, y+1)).

import type { BinMask } from "./mask";

/** A closed loop: x0, y0, x1, y1, ... (the first point is not repeated). */
export type Loop = Float64Array;

/** The closed outlines of a mask (outer boundaries and holes). */
export function traceLoops(m: BinMask): Loop[] {
  const { w, h, data, x0, y0 } = m;
  if (w === 0 || h === 0) return [];
  const W1 = w + 1;
  const at = (x: number, y: number): number => (x < 0 || y < 0 || x >= w || y >= h ? 0 : data[y * w + x]);
  // outgoing edges per corner vertex (index y * (w + 1) + x): up to two (at a saddle)
  const next = new Map<number, number[]>();
  const add = (ax: number, ay: number, bx: number, by: number): void => {
    const a = ay * W1 + ax;
    const b = by * W1 + bx;
    const list = next.get(a);
    if (list) list.push(b);
    else next.set(a, [b]);
  };
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!data[y * w + x]) continue;
      if (!at(x, y - 1)) add(x, y, x + 1, y);
      if (!at(x + 1, y)) add(x + 1, y, x + 1, y + 1);
      if (!at(x, y + 1)) add(x + 1, y + 1, x, y + 1);
      if (!at(x - 1, y)) add(x, y + 1, x, y);
    }
  }
  const loops: Loop[] = [];
  for (const start of [...next.keys()]) {
    while (next.get(start)?.length) {
      const pts: number[] = [];
      let v = start;
      let dx = 0;
      let dy = 0;
      do {
        const outs = next.get(v)!;
        // at a saddle (two ways out) keep turning right, so 8-connected pixels stay apart
        let k = 0;
        if (outs.length > 1) {
          const vx = v % W1;
          const vy = (v - vx) / W1;
          const right = (vy + dx) * W1 + (vx - dy); // direction (dx, dy) turned right (y down): (-dy, dx)
          k = Math.max(outs.indexOf(right), 0);
        }
        const u = outs[k];
        outs.splice(k, 1);
        if (!outs.length) next.delete(v);
        const vx = v % W1;
        const vy = (v - vx) / W1;
        const ux = u % W1;
        const uy = (u - ux) / W1;
        const ndx = Math.sign(ux - vx);
        const ndy = Math.sign(uy - vy);
        if (ndx !== dx || ndy !== dy) pts.push(x0 + vx, y0 + vy); // a corner
        dx = ndx;
        dy = ndy;
        v = u;
      } while (v !== start && next.has(v));
      if (pts.length >= 4) loops.push(Float64Array.from(pts));
    }
  }
  return loops;
}

/** Douglas-Peucker simplification of a closed loop: no point of the original is farther than
 * `tolerance` from the result (at least a triangle is kept). */
export function simplifyLoop(loop: Loop, tolerance: number): Loop {
  const n = loop.length / 2;
  if (n <= 4 || tolerance <= 0) return loop;
  // split at the point farthest from the first one, then simplify both halves
  let far = 0;
  let best = -1;
  for (let i = 1; i < n; i++) {
    const d = (loop[2 * i] - loop[0]) ** 2 + (loop[2 * i + 1] - loop[1]) ** 2;
    if (d > best) {
      best = d;
      far = i;
    }
  }
  const keep = new Uint8Array(n + 1);
  keep[0] = keep[far] = keep[n] = 1;
  const px = (i: number): number => loop[2 * (i % n)];
  const py = (i: number): number => loop[2 * (i % n) + 1];
  const t2 = tolerance * tolerance;
  const stack: [number, number][] = [
    [0, far],
    [far, n],
  ];
  while (stack.length) {
    const [a, b] = stack.pop()!;
    const ax = px(a);
    const ay = py(a);
    const bx = px(b);
    const by = py(b);
    const dx = bx - ax;
    const dy = by - ay;
    const len2 = dx * dx + dy * dy;
    let worst = -1;
    let at = -1;
    for (let i = a + 1; i < b; i++) {
      const ex = px(i) - ax;
      const ey = py(i) - ay;
      const d2 = len2 > 0 ? (ex * dy - ey * dx) ** 2 / len2 : ex * ex + ey * ey;
      if (d2 > worst) {
        worst = d2;
        at = i;
      }
    }
    if (at >= 0 && worst > t2) {
      keep[at] = 1;
      stack.push([a, at], [at, b]);
    }
  }
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (keep[i]) out.push(loop[2 * i], loop[2 * i + 1]);
  return out.length >= 6 ? Float64Array.from(out) : loop;
}

/** Number of segments of some loops (for tests and budgets). */
export function segmentCount(loops: Loop[]): number {
  return loops.reduce((n, l) => n + l.length / 2, 0);
}
