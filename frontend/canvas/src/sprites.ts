// Drawable forms of a mask, built once and reused every frame:
//  - a canvas of the mask's bounding-box crop, filled with one colour (alpha applied when drawn);
//  - its outline as Path2Ds of closed pixel-corner loops in image coordinates, simplified for
//    zoomed-out views (contour.ts), stroked at a constant screen width (lineWidth = px / scale);
//  - for large crops seen zoomed out, a downscaled copy of the fill.
// The working mask and the hover preview get their outline one task after their fill is shown
// (outlineSoon): tracing a large mask must not delay the frame that shows it. A mask split into
// more than MAX_OUTLINE_RUNS row runs (noise, e.g. SAM with random weights) is drawn without one.

import type { BinMask } from "./mask";
import { type Loop, simplifyLoop, traceLoops } from "./contour";

export type Rgb = [number, number, number];

export function hexToRgb(color: string): Rgb {
  const m = /^#?([0-9a-f]{6})$/i.exec(color.trim());
  if (!m) return [255, 204, 0];
  const v = parseInt(m[1], 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

/** Above this many row runs a mask gets no outline (tracing and stroking it would take longer
 * than the decode; a real object's mask has a few thousand). */
export const MAX_OUTLINE_RUNS = 100_000;

/** Runs (maximal horizontal segments of set pixels) of `m`, counting stops at `limit`. */
export function countRuns(m: BinMask, limit = Infinity): number {
  const { data, w, h } = m;
  let runs = 0;
  for (let y = 0; y < h; y++) {
    let prev = 0;
    const row = y * w;
    for (let x = 0; x < w; x++) {
      const v = data[row + x];
      if (v && !prev) runs++;
      prev = v;
    }
    if (runs >= limit) return runs;
  }
  return runs;
}

let noOutline: Path2D | null = null; // the empty outline of a too fragmented mask (made on first use)

/** Simplification tolerances (image pixels) of the outline's levels of detail. */
const LEVELS = [0, 0.5, 1, 2, 4, 8, 16, 32];
const MAX_SCREEN_ERROR = 0.6; // CSS pixels an outline may deviate from the exact one

function pathOf(loops: Loop[]): Path2D {
  const path = new Path2D();
  for (const l of loops) {
    path.moveTo(l[0], l[1]);
    for (let i = 2; i < l.length; i += 2) path.lineTo(l[i], l[i + 1]);
    path.closePath();
  }
  return path;
}

/** The level of detail for a view scale: the coarsest whose error stays under 0.6 CSS px. */
export function outlineLevel(scale: number): number {
  let level = 0;
  for (let i = 1; i < LEVELS.length; i++) if (LEVELS[i] * scale <= MAX_SCREEN_ERROR) level = i;
  return level;
}

/** A mask ready to draw. */
export class MaskSprite {
  readonly mask: BinMask;
  readonly color: string;
  readonly canvas: HTMLCanvasElement | null; // null for an empty mask
  private loops: Loop[] | null = null;
  private readonly paths = new Map<number, Path2D>();
  private small: HTMLCanvasElement | null = null; // quarter-size fill for zoomed-out views
  private fragmented: boolean | null = null; // more than MAX_OUTLINE_RUNS runs (null: not counted)
  private tracing = false; // an outlineSoon trace is scheduled

  constructor(mask: BinMask, color: string) {
    this.mask = mask;
    this.color = color;
    if (mask.w === 0 || mask.h === 0) {
      this.canvas = null;
      return;
    }
    this.canvas = document.createElement("canvas");
    this.canvas.width = mask.w;
    this.canvas.height = mask.h;
    this.paint(0, 0, mask.w, mask.h);
  }

  /** Repaint crop pixels [x, x + w) x [y, y + h) (crop coordinates) from the mask data. */
  paint(x: number, y: number, w: number, h: number): void {
    if (!this.canvas || w <= 0 || h <= 0) return;
    const ctx = this.canvas.getContext("2d");
    if (!ctx) return;
    const [r, g, b] = hexToRgb(this.color);
    const image = ctx.createImageData(w, h);
    const px = new Uint32Array(image.data.buffer);
    const on = (255 << 24) | (b << 16) | (g << 8) | r; // little-endian RGBA
    const { data, w: mw } = this.mask;
    for (let yy = 0; yy < h; yy++) {
      const src = (y + yy) * mw + x;
      const dst = yy * w;
      for (let xx = 0; xx < w; xx++) if (data[src + xx]) px[dst + xx] = on;
    }
    ctx.putImageData(image, x, y);
    this.small = null;
    this.loops = null;
    this.fragmented = null;
    this.paths.clear();
  }

  /** Whether the mask is too fragmented for an outline (counted once per paint). */
  private tooFragmented(): boolean {
    this.fragmented ??= countRuns(this.mask, MAX_OUTLINE_RUNS + 1) > MAX_OUTLINE_RUNS;
    return this.fragmented;
  }

  /** The outline at the level of detail of a view `scale` (computed on first use). */
  outline(scale = Infinity): Path2D {
    if (this.tooFragmented()) return (noOutline ??= new Path2D());
    const level = outlineLevel(scale);
    let path = this.paths.get(level);
    if (!path) {
      this.loops ??= traceLoops(this.mask);
      const tol = LEVELS[level];
      path = pathOf(tol > 0 ? this.loops.map((l) => simplifyLoop(l, tol)) : this.loops);
      this.paths.set(level, path);
    }
    return path;
  }

  /** The outline if it is traced; else null now, traced in a task of its own, then `done()`
   * (the caller redraws). Null for good when the mask is too fragmented. */
  outlineSoon(scale: number, done: () => void): Path2D | null {
    if (this.loops) return this.outline(scale);
    if (this.fragmented) return null;
    if (!this.tracing) {
      this.tracing = true;
      setTimeout(() => {
        this.tracing = false;
        if (this.tooFragmented()) return;
        this.loops ??= traceLoops(this.mask);
        done();
      }, 0);
    }
    return null;
  }

  /** Draw the fill with `alpha` under the current transform (image coordinates); `scale`: the
   * view's, to pick the downscaled copy when the crop is shown at under a quarter size. */
  drawFill(ctx: CanvasRenderingContext2D, alpha: number, scale = 1): void {
    if (!this.canvas || alpha <= 0) return;
    ctx.globalAlpha = alpha;
    const { x0, y0, w, h } = this.mask;
    if (scale < 0.25 && w * h > 256 * 256) {
      if (!this.small) {
        this.small = document.createElement("canvas");
        this.small.width = Math.max(Math.ceil(w / 4), 1);
        this.small.height = Math.max(Math.ceil(h / 4), 1);
        const c = this.small.getContext("2d");
        if (c) {
          c.imageSmoothingEnabled = true;
          c.imageSmoothingQuality = "medium";
          c.drawImage(this.canvas, 0, 0, this.small.width, this.small.height);
        }
      }
      ctx.drawImage(this.small, x0, y0, w, h);
    } else {
      ctx.drawImage(this.canvas, x0, y0);
    }
    ctx.globalAlpha = 1;
  }
}
