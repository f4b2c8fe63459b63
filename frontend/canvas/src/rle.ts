// COCO RLE in pycocotools' compressed string form (maskApi.c rleToString / rleFrString):
// the mask is read column by column (x outer, y inner); counts alternate background /
// foreground runs, starting with background (possibly 0). Each count, from the third on,
// is stored as the difference to the count two before; values are written in 5-bit chunks,
// least significant first, as chr(48 + chunk | 0x20 when more follow), sign in bit 0x10 of
// the last chunk. Arithmetic uses plain numbers (no 32-bit shifts), so any size is exact.

import type { Rle } from "./types";
import { type BinMask, type Box, emptyMask } from "./mask";

/** Run lengths -> compressed string. */
export function countsToString(counts: ArrayLike<number>): string {
  const out: number[] = [];
  for (let i = 0; i < counts.length; i++) {
    let x = counts[i];
    if (i > 2) x -= counts[i - 2];
    let more = true;
    while (more) {
      let c = ((x % 32) + 32) % 32; // x & 0x1f for any sign
      x = Math.floor(x / 32); // arithmetic shift right by 5
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      out.push(c + 48);
    }
  }
  let s = "";
  for (let i = 0; i < out.length; i += 4096) s += String.fromCharCode(...out.slice(i, i + 4096));
  return s;
}

/** Compressed string -> run lengths. Throws on a malformed string. */
export function stringToCounts(s: string): number[] {
  const counts: number[] = [];
  let p = 0;
  while (p < s.length) {
    let x = 0;
    let k = 0;
    let more = true;
    let c = 0;
    while (more) {
      if (p >= s.length) throw new Error(`RLE counts string ends inside a value at character ${p}`);
      c = s.charCodeAt(p) - 48;
      if (c < 0 || c > 63) throw new Error(`RLE counts string has a character out of range at ${p}`);
      x += (c & 0x1f) * 2 ** (5 * k);
      more = (c & 0x20) !== 0;
      p++;
      k++;
    }
    if (c & 0x10) x -= 2 ** (5 * k); // sign extension
    if (counts.length > 2) x += counts[counts.length - 2];
    counts.push(x);
  }
  return counts;
}

/** Checked (h, w, counts) of an RLE: counts non-negative and summing to h * w. */
export function rleCounts(rle: Rle): number[] {
  const [h, w] = rle.size;
  const counts = stringToCounts(rle.counts);
  let total = 0;
  for (const c of counts) {
    if (c < 0) throw new Error(`RLE of size ${h}x${w}: negative run length ${c}`);
    total += c;
  }
  if (total !== h * w) throw new Error(`RLE counts sum to ${total}, expected height*width = ${h * w}`);
  return counts;
}

/** Mask -> compressed RLE (exactly pycocotools' encode of the same pixels). */
export function encodeRle(m: BinMask): Rle {
  const H = m.height;
  const W = m.width;
  const { x0, y0, w, h, data } = m;
  const counts: number[] = [];
  let value = 0; // value of the open run (runs start with background)
  let run = Math.min(x0, W) * H; // the columns left of the crop
  for (let cx = 0; cx < w; cx++) {
    if (value === 0) run += y0;
    else if (y0 > 0) {
      counts.push(run);
      value = 0;
      run = y0;
    }
    for (let i = cx; i < w * h; i += w) {
      const v = data[i];
      if (v === value) run++;
      else {
        counts.push(run);
        value = v;
        run = 1;
      }
    }
    const below = H - y0 - h;
    if (below > 0) {
      if (value === 0) run += below;
      else {
        counts.push(run);
        value = 0;
        run = below;
      }
    }
  }
  const right = Math.max(W - x0 - w, 0) * H;
  if (right > 0) {
    if (value === 0) run += right;
    else {
      counts.push(run);
      run = right;
    }
  }
  counts.push(run);
  return { size: [H, W], counts: countsToString(counts) };
}

/** [x, y, w, h] of an RLE's foreground (as pycocotools toBbox; zeros when empty). */
export function rleBbox(rle: Rle): Box {
  return countsBbox(rle.size[0], rleCounts(rle));
}

function countsBbox(H: number, counts: number[]): Box {
  let xs = Infinity;
  let ys = Infinity;
  let xe = -1;
  let ye = -1;
  let p = 0;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i];
    if (i % 2 === 1 && n > 0) {
      const cs = Math.floor(p / H);
      const rs = p % H;
      const ce = Math.floor((p + n - 1) / H);
      const re = (p + n - 1) % H;
      xs = Math.min(xs, cs);
      xe = Math.max(xe, ce);
      ys = Math.min(ys, ce > cs ? 0 : rs);
      ye = Math.max(ye, ce > cs ? H - 1 : re);
    }
    p += n;
  }
  if (xe < 0) return [0, 0, 0, 0];
  return [xs, ys, xe - xs + 1, ye - ys + 1];
}

/** Foreground pixel count of an RLE. */
export function rleArea(rle: Rle): number {
  const counts = rleCounts(rle);
  let a = 0;
  for (let i = 1; i < counts.length; i += 2) a += counts[i];
  return a;
}

/** Compressed RLE -> mask cropped to its bounding box. */
export function decodeRle(rle: Rle): BinMask {
  const [H, W] = rle.size;
  const counts = rleCounts(rle);
  const [bx, by, bw, bh] = countsBbox(H, counts);
  if (bw === 0) return emptyMask(W, H);
  const data = new Uint8Array(bw * bh);
  let p = 0;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i];
    if (i % 2 === 1) {
      let q = p;
      const end = p + n;
      while (q < end) {
        const x = Math.floor(q / H);
        const y = q - x * H;
        const stop = Math.min(end - q, H - y); // pixels of this run in column x
        let o = (y - by) * bw + (x - bx);
        for (let k = 0; k < stop; k++, o += bw) data[o] = 1;
        q += stop;
      }
    }
    p += n;
  }
  return { width: W, height: H, x0: bx, y0: by, w: bw, h: bh, data };
}
