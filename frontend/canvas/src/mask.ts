// Binary masks of one image, stored as the crop of their bounding box (a 6000x4000 photo
// with a 200x300 object holds 60 000 bytes, not 24 MB).

/** Mask of a `width` x `height` image: pixel (x, y) is foreground when x0 <= x < x0 + w,
 * y0 <= y < y0 + h and data[(y - y0) * w + (x - x0)] === 1 (row-major, 0/1 bytes).
 * The crop may be larger than the tight bounding box; an empty mask may have w = h = 0. */
export interface BinMask {
  width: number;
  height: number;
  x0: number;
  y0: number;
  w: number;
  h: number;
  data: Uint8Array;
}

/** [x, y, w, h] in pixel-corner coordinates, as COCO's bbox. */
export type Box = [number, number, number, number];

export function emptyMask(width: number, height: number): BinMask {
  return { width, height, x0: 0, y0: 0, w: 0, h: 0, data: new Uint8Array(0) };
}

/** A mask from a full row-major (height x width) array of 0/non-zero values (tests, small images). */
export function maskFromFull(full: ArrayLike<number>, width: number, height: number): BinMask {
  if (full.length !== width * height) {
    throw new Error(`maskFromFull: expected ${width * height} values for ${width}x${height}, got ${full.length}`);
  }
  const data = new Uint8Array(full.length);
  for (let i = 0; i < full.length; i++) data[i] = full[i] ? 1 : 0;
  return tight({ width, height, x0: 0, y0: 0, w: width, h: height, data });
}

/** The full row-major (height x width) 0/1 array of a mask. */
export function toFull(m: BinMask): Uint8Array {
  const out = new Uint8Array(m.width * m.height);
  for (let y = 0; y < m.h; y++) {
    out.set(m.data.subarray(y * m.w, (y + 1) * m.w), (m.y0 + y) * m.width + m.x0);
  }
  return out;
}

export function maskArea(m: BinMask): number {
  let n = 0;
  for (let i = 0; i < m.data.length; i++) n += m.data[i];
  return n;
}

export function isEmpty(m: BinMask): boolean {
  for (let i = 0; i < m.data.length; i++) if (m.data[i]) return false;
  return true;
}

/** Pixel value at integer (x, y); 0 outside the crop or the image. */
export function maskAt(m: BinMask, x: number, y: number): number {
  const cx = x - m.x0;
  const cy = y - m.y0;
  if (cx < 0 || cy < 0 || cx >= m.w || cy >= m.h) return 0;
  return m.data[cy * m.w + cx];
}

/** The tight bounding box [x, y, w, h] of the foreground ([0, 0, 0, 0] when empty). */
export function maskBbox(m: BinMask): Box {
  let minX = m.w;
  let maxX = -1;
  let minY = m.h;
  let maxY = -1;
  for (let y = 0; y < m.h; y++) {
    const row = y * m.w;
    let first = -1;
    let last = -1;
    for (let x = 0; x < m.w; x++) {
      if (m.data[row + x]) {
        if (first < 0) first = x;
        last = x;
      }
    }
    if (first >= 0) {
      if (y < minY) minY = y;
      maxY = y;
      if (first < minX) minX = first;
      if (last > maxX) maxX = last;
    }
  }
  if (maxY < 0) return [0, 0, 0, 0];
  return [m.x0 + minX, m.y0 + minY, maxX - minX + 1, maxY - minY + 1];
}

/** The same mask with its crop shrunk to the tight bounding box (a copy when it shrinks). */
export function tight(m: BinMask): BinMask {
  const [x, y, w, h] = maskBbox(m);
  if (w === 0) return emptyMask(m.width, m.height);
  if (x === m.x0 && y === m.y0 && w === m.w && h === m.h) return m;
  const data = new Uint8Array(w * h);
  for (let r = 0; r < h; r++) {
    const src = (y - m.y0 + r) * m.w + (x - m.x0);
    data.set(m.data.subarray(src, src + w), r * w);
  }
  return { width: m.width, height: m.height, x0: x, y0: y, w, h, data };
}

/** Intersection over union of two masks of the same image (two empty masks: 1). */
export function maskIou(a: BinMask, b: BinMask): number {
  let inter = 0;
  for (let y = 0; y < a.h; y++) {
    for (let x = 0; x < a.w; x++) {
      if (a.data[y * a.w + x] && maskAt(b, a.x0 + x, a.y0 + y)) inter++;
    }
  }
  const union = maskArea(a) + maskArea(b) - inter;
  return union === 0 ? 1 : inter / union;
}
