// SAM's mask postprocessing in the browser, and its inverse for seeds.
//
// upscaleLogits: as segment-anything's Sam.postprocess_masks + `> 0`:
//   (256, 256) logits --bilinear--> (1024, 1024) --crop--> (h_in, w_in) --bilinear--> (H, W)
// (F.interpolate, align_corners=False: src = (dst + 0.5) * in / out - 0.5, clamped at 0).
// Both resizes are separable, so each output row (column) is a weighted sum of at most four
// low-res rows (columns): "taps". An output pixel can only be > 0 when one of its low-res
// taps is > 0 (the weights are >= 0 and sum to 1), so only the output rectangle whose taps
// reach the low-res pixels > 0 is computed: exact, and fast on a 6000x4000 photo. Inside that
// rectangle, an output pixel whose taps all read values of one sign has that sign (a convex
// combination): only pixels whose taps straddle a sign change (the mask's edge) are computed,
// the rest are filled by runs, so a large mask costs its outline, not its area.
//
// maskToLogits: studio.segment.low_res.seed_logits (cv2.resize INTER_NEAREST to the longest side
// 256, padded bottom/right; +8 inside, -8 outside).

import { type BinMask, emptyMask, maskAt } from "./mask";

export const LOW_RES = 256; // side of SAM's low-res logits
export const IMAGE_SIDE = 1024; // SAM's encoder input side
export const SEED_LOGIT = 8; // |logit| of seed_logits

/** (h, w) of an image resized to longest side `side` (ResizeLongestSide.get_preprocess_shape). */
export function resizedShape(height: number, width: number, side = IMAGE_SIDE): [number, number] {
  const scale = side / Math.max(height, width);
  return [Math.floor(height * scale + 0.5), Math.floor(width * scale + 0.5)];
}

/** Bilinear source taps of one axis, align_corners=False: out index -> [i0, i1, w0, w1]. */
function linearTaps(inSize: number, outSize: number): Float64Array {
  const taps = new Float64Array(outSize * 4);
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    const src = Math.max(scale * (o + 0.5) - 0.5, 0);
    const i0 = Math.floor(src);
    const i1 = i0 < inSize - 1 ? i0 + 1 : i0;
    const l1 = src - i0;
    taps.set([i0, i1, 1 - l1, l1], o * 4);
  }
  return taps;
}

/** Taps of one axis, low-res (256) -> 1024 -> crop `cropSize` -> `outSize`: per output index
 * four (low-res index, weight) pairs: idx[o * 4 + t], wt[o * 4 + t]. */
export interface AxisTaps {
  idx: Int32Array;
  wt: Float64Array;
  maxSource: number; // largest low-res index any output reads
  lo: Int32Array; // per output index: smallest low-res index it reads (weight > 0); nondecreasing
  hi: Int32Array; // per output index: largest; nondecreasing
  firstReaching: Int32Array; // per low-res index j (0..LOW_RES): first output index with hi >= j
  lastFrom: Int32Array; // per low-res index j: last output index with lo <= j (-1: none)
}

const tapCache = new Map<string, AxisTaps>();

export function axisTaps(cropSize: number, outSize: number): AxisTaps {
  const key = `${cropSize}:${outSize}`;
  const known = tapCache.get(key);
  if (known) return known;
  const first = linearTaps(LOW_RES, IMAGE_SIDE); // 1024 index -> low-res
  const second = linearTaps(cropSize, outSize); // out index -> 1024 index (< cropSize)
  const idx = new Int32Array(outSize * 4);
  const wt = new Float64Array(outSize * 4);
  let maxSource = 0;
  for (let o = 0; o < outSize; o++) {
    const pairs = new Map<number, number>();
    for (let a = 0; a < 2; a++) {
      const mid = second[o * 4 + a];
      const wa = second[o * 4 + 2 + a];
      for (let b = 0; b < 2; b++) {
        const low = first[mid * 4 + b];
        pairs.set(low, (pairs.get(low) ?? 0) + wa * first[mid * 4 + 2 + b]);
      }
    }
    let t = 0;
    for (const [low, w] of pairs) {
      idx[o * 4 + t] = low;
      wt[o * 4 + t] = w;
      if (w > 0 && low > maxSource) maxSource = low;
      t++;
    }
    for (; t < 4; t++) idx[o * 4 + t] = idx[o * 4]; // weight 0
  }
  const lo = new Int32Array(outSize);
  const hi = new Int32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    let a = LOW_RES;
    let b = -1;
    for (let t = 0; t < 4; t++) {
      if (wt[o * 4 + t] <= 0) continue;
      a = Math.min(a, idx[o * 4 + t]);
      b = Math.max(b, idx[o * 4 + t]);
    }
    lo[o] = a;
    hi[o] = b;
  }
  const firstReaching = new Int32Array(LOW_RES + 1);
  const lastFrom = new Int32Array(LOW_RES + 1);
  for (let j = 0, o = 0; j <= LOW_RES; j++) {
    while (o < outSize && hi[o] < j) o++;
    firstReaching[j] = o;
  }
  for (let j = LOW_RES, o = outSize - 1; j >= 0; j--) {
    while (o >= 0 && lo[o] > j) o--;
    lastFrom[j] = o;
  }
  const taps = { idx, wt, maxSource, lo, hi, firstReaching, lastFrom };
  if (tapCache.size > 16) tapCache.clear();
  tapCache.set(key, taps);
  return taps;
}

/** First and last output index whose taps (with weight > 0) reach [lo, hi]; null if none. */
function outputRange(taps: AxisTaps, lo: number, hi: number): [number, number] | null {
  const n = taps.idx.length / 4;
  let first = -1;
  let last = -1;
  for (let o = 0; o < n; o++) {
    for (let t = 0; t < 4; t++) {
      const i = taps.idx[o * 4 + t];
      if (taps.wt[o * 4 + t] > 0 && i >= lo && i <= hi) {
        if (first < 0) first = o;
        last = o;
        break;
      }
    }
  }
  return first < 0 ? null : [first, last];
}

/**
 * Low-res logits (256 * 256 floats, row-major) -> full-resolution mask of an H x W image,
 * equal to SAM's postprocess_masks(...) > 0. `inputSize`: (h, w) of the image resized to
 * longest side 1024 (before padding).
 */
export function upscaleLogits(
  lowres: Float32Array,
  inputSize: [number, number],
  imageSize: [number, number],
): BinMask {
  const [H, W] = imageSize;
  const rows = axisTaps(inputSize[0], H);
  const cols = axisTaps(inputSize[1], W);
  // low-res pixels > 0 among those any output pixel reads
  let r0 = LOW_RES;
  let r1 = -1;
  let c0 = LOW_RES;
  let c1 = -1;
  for (let i = 0; i <= rows.maxSource; i++) {
    for (let j = 0; j <= cols.maxSource; j++) {
      if (lowres[i * LOW_RES + j] > 0) {
        if (i < r0) r0 = i;
        if (i > r1) r1 = i;
        if (j < c0) c0 = j;
        if (j > c1) c1 = j;
      }
    }
  }
  if (r1 < 0) return emptyMask(W, H);
  const yr = outputRange(rows, r0, r1);
  const xr = outputRange(cols, c0, c1);
  if (!yr || !xr) return emptyMask(W, H);
  const [ya, yb] = yr;
  const [xa, xb] = xr;
  const w = xb - xa + 1;
  const h = yb - ya + 1;
  const data = new Uint8Array(w * h);
  // low-res columns the output columns read
  let ja = LOW_RES;
  let jb = 0;
  for (let x = xa; x <= xb; x++) {
    for (let t = 0; t < 4; t++) {
      const j = cols.idx[x * 4 + t];
      if (j < ja) ja = j;
      if (j > jb) jb = j;
    }
  }
  const row = new Float64Array(LOW_RES);
  const exact = (out: number, x: number): void => {
    const k = x * 4;
    const v =
      cols.wt[k] * row[cols.idx[k]] +
      cols.wt[k + 1] * row[cols.idx[k + 1]] +
      cols.wt[k + 2] * row[cols.idx[k + 2]] +
      cols.wt[k + 3] * row[cols.idx[k + 3]];
    if (v > 0) data[out + x] = 1;
  };
  for (let y = ya; y <= yb; y++) {
    // one output row's vertical mix of the low-res rows, on the columns that matter
    for (let j = ja; j <= jb; j++) {
      let s = 0;
      for (let t = 0; t < 4; t++) s += rows.wt[y * 4 + t] * lowres[rows.idx[y * 4 + t] * LOW_RES + j];
      row[j] = s;
    }
    const out = (y - ya) * w - xa;
    // walk the sign changes of the mix: between p and p + 1 it changes, so the output columns
    // reading both (lastFrom / firstReaching) are computed; the columns between are one sign
    let x = xa;
    for (let p = ja; p <= jb; p++) {
      if (p < jb && row[p] > 0 === row[p + 1] > 0) continue;
      const from = p < jb ? Math.max(cols.firstReaching[p + 1], xa) : xb + 1; // first mixed column
      if (from > x && row[cols.lo[x]] > 0) data.fill(1, out + x, out + Math.min(from, xb + 1));
      if (p === jb) break;
      const to = Math.min(cols.lastFrom[p], xb); // last mixed column
      for (let m = Math.max(from, x); m <= to; m++) exact(out, m);
      x = Math.max(x, to + 1);
      if (x > xb) break;
    }
  }
  return { width: W, height: H, x0: xa, y0: ya, w, h, data };
}

/** Reference of upscaleLogits computed in two full bilinear passes (tests only; slow). */
export function upscaleLogitsReference(
  lowres: Float32Array,
  inputSize: [number, number],
  imageSize: [number, number],
): Uint8Array {
  const resize = (src: Float64Array, sh: number, sw: number, dh: number, dw: number): Float64Array => {
    const ty = linearTaps(sh, dh);
    const tx = linearTaps(sw, dw);
    const out = new Float64Array(dh * dw);
    for (let y = 0; y < dh; y++) {
      const [y0, y1, wy0, wy1] = ty.subarray(y * 4, y * 4 + 4);
      for (let x = 0; x < dw; x++) {
        const [x0, x1, wx0, wx1] = tx.subarray(x * 4, x * 4 + 4);
        out[y * dw + x] =
          wy0 * (wx0 * src[y0 * sw + x0] + wx1 * src[y0 * sw + x1]) +
          wy1 * (wx0 * src[y1 * sw + x0] + wx1 * src[y1 * sw + x1]);
      }
    }
    return out;
  };
  const big = resize(Float64Array.from(lowres), LOW_RES, LOW_RES, IMAGE_SIDE, IMAGE_SIDE);
  const [hi, wi] = inputSize;
  const crop = new Float64Array(hi * wi);
  for (let y = 0; y < hi; y++) crop.set(big.subarray(y * IMAGE_SIDE, y * IMAGE_SIDE + wi), y * wi);
  const out = resize(crop, hi, wi, imageSize[0], imageSize[1]);
  return Uint8Array.from(out, (v) => (v > 0 ? 1 : 0));
}

/** (1, 256, 256) seed logits of a mask, as studio.segment.low_res.seed_logits: the mask resized
 * (cv2 INTER_NEAREST) so its longest side is 256, padded bottom/right, +8 inside, -8 outside. */
export function maskToLogits(mask: BinMask): Float32Array {
  const h = mask.height;
  const w = mask.width;
  const scale = LOW_RES / Math.max(h, w);
  const nh = Math.max(Math.floor(h * scale + 0.5), 1);
  const nw = Math.max(Math.floor(w * scale + 0.5), 1);
  // cv2 resizeNN: ifx = 1 / (dst / src); sx = min(floor(x * ifx), src - 1)
  const ifx = 1 / (nw / w);
  const ify = 1 / (nh / h);
  const out = new Float32Array(LOW_RES * LOW_RES).fill(-SEED_LOGIT);
  for (let y = 0; y < nh; y++) {
    const sy = Math.min(Math.floor(y * ify), h - 1);
    if (sy < mask.y0 || sy >= mask.y0 + mask.h) continue;
    for (let x = 0; x < nw; x++) {
      const sx = Math.min(Math.floor(x * ifx), w - 1);
      if (maskAt(mask, sx, sy)) out[y * LOW_RES + x] = SEED_LOGIT;
    }
  }
  return out;
}
