// Drawable forms of a mask, built once and reused every frame:
//  - a canvas of the mask's bounding-box crop, filled with one colour (alpha applied when drawn);
//  - its outline as a Path2D of pixel-edge segments in image coordinates, stroked at a
//    constant screen width by the renderer (lineWidth = px / scale).

import type { BinMask } from "./mask";

export type Rgb = [number, number, number];

export function hexToRgb(color: string): Rgb {
  const m = /^#?([0-9a-f]{6})$/i.exec(color.trim());
  if (!m) return [255, 204, 0];
  const v = parseInt(m[1], 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

/** Outline of a mask as axis-aligned segments on pixel edges: [x0, y0, x1, y1, ...] in image
 * coordinates (horizontal runs merged along x, vertical runs along y). */
export function outlineSegments(m: BinMask): Float64Array {
  const out: number[] = [];
  const { w, h, data, x0, y0 } = m;
  const at = (x: number, y: number): number => (x < 0 || y < 0 || x >= w || y >= h ? 0 : data[y * w + x]);
  for (let y = 0; y <= h; y++) {
    let start = -1;
    for (let x = 0; x <= w; x++) {
      const edge = x < w && at(x, y - 1) !== at(x, y);
      if (edge && start < 0) start = x;
      if (!edge && start >= 0) {
        out.push(x0 + start, y0 + y, x0 + x, y0 + y);
        start = -1;
      }
    }
  }
  for (let x = 0; x <= w; x++) {
    let start = -1;
    for (let y = 0; y <= h; y++) {
      const edge = y < h && at(x - 1, y) !== at(x, y);
      if (edge && start < 0) start = y;
      if (!edge && start >= 0) {
        out.push(x0 + x, y0 + start, x0 + x, y0 + y);
        start = -1;
      }
    }
  }
  return Float64Array.from(out);
}

function pathOf(segments: Float64Array): Path2D {
  const path = new Path2D();
  for (let i = 0; i < segments.length; i += 4) {
    path.moveTo(segments[i], segments[i + 1]);
    path.lineTo(segments[i + 2], segments[i + 3]);
  }
  return path;
}

/** A mask ready to draw. */
export class MaskSprite {
  readonly mask: BinMask;
  readonly color: string;
  readonly canvas: HTMLCanvasElement | null; // null for an empty mask
  private outlinePath: Path2D | null = null;

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
  }

  /** The outline path (computed on first use). */
  get outline(): Path2D {
    this.outlinePath ??= pathOf(outlineSegments(this.mask));
    return this.outlinePath;
  }

  /** Draw the fill with `alpha` under the current transform (image coordinates). */
  drawFill(ctx: CanvasRenderingContext2D, alpha: number): void {
    if (!this.canvas || alpha <= 0) return;
    ctx.globalAlpha = alpha;
    ctx.drawImage(this.canvas, this.mask.x0, this.mask.y0);
    ctx.globalAlpha = 1;
  }
}
