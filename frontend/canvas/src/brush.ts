// Brush and eraser strokes on a mask, clipped to the image.
//
// A stroke is a polyline of image points (continuous coordinates, pixel (x, y) covers
// [x, x+1) x [y, y+1)) swept by a disc of `radius` image pixels: a pixel is painted when its
// centre (x + 0.5, y + 0.5) lies within `radius` of the polyline. Pixels outside the image
// are never touched. MaskEditor paints segment by segment into a growing crop, so a stroke
// over a large mask costs the stroke's area, not the mask's.

import { type BinMask, tight } from "./mask";

export type Point = [number, number];

/** Integer rectangle [x0, y0, x1, y1) in image pixels. */
export type Rect = [number, number, number, number];

const SLACK = 128; // pixels added around the crop when a stroke leaves it

export class MaskEditor {
  readonly width: number;
  readonly height: number;
  x0: number;
  y0: number;
  w: number;
  h: number;
  data: Uint8Array;
  /** bumps whenever the crop is reallocated (renderers recreate their bitmap) */
  generation = 0;

  constructor(mask: BinMask) {
    this.width = mask.width;
    this.height = mask.height;
    this.x0 = mask.x0;
    this.y0 = mask.y0;
    this.w = mask.w;
    this.h = mask.h;
    this.data = mask.data.slice();
  }

  /** Grow the crop to cover `rect` (clipped to the image), with some slack. */
  private ensure(rect: Rect): void {
    const [ax, ay, bx, by] = rect;
    if (this.w > 0 && ax >= this.x0 && ay >= this.y0 && bx <= this.x0 + this.w && by <= this.y0 + this.h) return;
    const nx0 = Math.max(Math.min(ax - SLACK, this.w ? this.x0 : ax), 0);
    const ny0 = Math.max(Math.min(ay - SLACK, this.h ? this.y0 : ay), 0);
    const nx1 = Math.min(Math.max(bx + SLACK, this.x0 + this.w), this.width);
    const ny1 = Math.min(Math.max(by + SLACK, this.y0 + this.h), this.height);
    const nw = nx1 - nx0;
    const nh = ny1 - ny0;
    const data = new Uint8Array(nw * nh);
    for (let r = 0; r < this.h; r++) {
      data.set(this.data.subarray(r * this.w, (r + 1) * this.w), (this.y0 - ny0 + r) * nw + (this.x0 - nx0));
    }
    Object.assign(this, { x0: nx0, y0: ny0, w: nw, h: nh, data });
    this.generation++;
  }

  /** Paint (or erase) the capsule from a to b; the changed rectangle, or null when the
   * capsule misses the image. */
  segment(a: Point, b: Point, radius: number, erase: boolean): Rect | null {
    const r = Math.max(radius, 0.5);
    const rect: Rect = [
      Math.max(Math.floor(Math.min(a[0], b[0]) - r), 0),
      Math.max(Math.floor(Math.min(a[1], b[1]) - r), 0),
      Math.min(Math.ceil(Math.max(a[0], b[0]) + r) + 1, this.width),
      Math.min(Math.ceil(Math.max(a[1], b[1]) + r) + 1, this.height),
    ];
    if (rect[0] >= rect[2] || rect[1] >= rect[3]) return null;
    if (erase) {
      // erasing never grows the crop
      rect[0] = Math.max(rect[0], this.x0);
      rect[1] = Math.max(rect[1], this.y0);
      rect[2] = Math.min(rect[2], this.x0 + this.w);
      rect[3] = Math.min(rect[3], this.y0 + this.h);
      if (rect[0] >= rect[2] || rect[1] >= rect[3]) return null;
    } else {
      this.ensure(rect);
    }
    const dx = b[0] - a[0];
    const dy = b[1] - a[1];
    const len2 = dx * dx + dy * dy;
    const r2 = r * r;
    const value = erase ? 0 : 1;
    for (let y = rect[1]; y < rect[3]; y++) {
      const py = y + 0.5 - a[1];
      const row = (y - this.y0) * this.w - this.x0;
      for (let x = rect[0]; x < rect[2]; x++) {
        const px = x + 0.5 - a[0];
        const t = len2 > 0 ? Math.min(Math.max((px * dx + py * dy) / len2, 0), 1) : 0;
        const ex = px - t * dx;
        const ey = py - t * dy;
        if (ex * ex + ey * ey <= r2) this.data[row + x] = value;
      }
    }
    return rect;
  }

  /** The edited mask, cropped to its tight bounding box. */
  result(): BinMask {
    return tight({
      width: this.width,
      height: this.height,
      x0: this.x0,
      y0: this.y0,
      w: this.w,
      h: this.h,
      data: this.data.slice(),
    });
  }
}

/** A whole stroke applied to `mask` (a new mask; `mask` is unchanged). */
export function applyStroke(mask: BinMask, points: Point[], radius: number, erase: boolean): BinMask {
  const editor = new MaskEditor(mask);
  if (points.length === 1) editor.segment(points[0], points[0], radius, erase);
  for (let i = 1; i < points.length; i++) editor.segment(points[i - 1], points[i], radius, erase);
  return editor.result();
}
