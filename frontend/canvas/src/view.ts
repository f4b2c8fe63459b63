// The zoom / pan transform between image pixels and the canvas's CSS pixels:
//   screen = image * scale + (tx, ty)
// Pure functions on a small immutable record, so every gesture is testable.

export interface View {
  scale: number; // CSS pixels per image pixel
  tx: number; // CSS pixels
  ty: number;
}

export interface Size {
  width: number;
  height: number;
}

export const MAX_SCALE = 32; // at most 32 screen pixels per image pixel
export const FIT_MARGIN = 8; // CSS pixels around a fitted image

/** The whole image centred in the viewport, as large as fits. */
export function fitView(image: Size, viewport: Size, margin = FIT_MARGIN): View {
  const w = Math.max(viewport.width - 2 * margin, 1);
  const h = Math.max(viewport.height - 2 * margin, 1);
  const scale = Math.min(w / image.width, h / image.height);
  return {
    scale,
    tx: (viewport.width - image.width * scale) / 2,
    ty: (viewport.height - image.height * scale) / 2,
  };
}

/** Smallest zoom: half the fitted size (or 1:1 for tiny images shown below fit). */
export function minScale(image: Size, viewport: Size): number {
  return Math.min(fitView(image, viewport).scale * 0.5, 1);
}

export function toImage(v: View, sx: number, sy: number): [number, number] {
  return [(sx - v.tx) / v.scale, (sy - v.ty) / v.scale];
}

export function toScreen(v: View, x: number, y: number): [number, number] {
  return [x * v.scale + v.tx, y * v.scale + v.ty];
}

/** Zoom by `factor` keeping the image point under screen (sx, sy) in place. */
export function zoomAt(v: View, factor: number, sx: number, sy: number, image: Size, viewport: Size): View {
  const scale = Math.min(Math.max(v.scale * factor, minScale(image, viewport)), MAX_SCALE);
  const [ix, iy] = toImage(v, sx, sy);
  return clampView({ scale, tx: sx - ix * scale, ty: sy - iy * scale }, image, viewport);
}

/** Zoom to an absolute `scale` around the viewport centre. */
export function zoomTo(v: View, scale: number, image: Size, viewport: Size): View {
  return zoomAt(v, scale / v.scale, viewport.width / 2, viewport.height / 2, image, viewport);
}

export function panBy(v: View, dx: number, dy: number, image: Size, viewport: Size): View {
  return clampView({ scale: v.scale, tx: v.tx + dx, ty: v.ty + dy }, image, viewport);
}

/** Keep at least a quarter of the viewport (or of the image) covered by the image. */
export function clampView(v: View, image: Size, viewport: Size): View {
  const iw = image.width * v.scale;
  const ih = image.height * v.scale;
  const keepX = Math.min(iw, viewport.width) / 4;
  const keepY = Math.min(ih, viewport.height) / 4;
  const tx = Math.min(Math.max(v.tx, keepX - iw), viewport.width - keepX);
  const ty = Math.min(Math.max(v.ty, keepY - ih), viewport.height - keepY);
  return { scale: v.scale, tx, ty };
}

/** The part of the image inside the viewport, in image pixels, clipped to the image and
 * widened to whole pixels: [x, y, w, h] (w or h is 0 when nothing is visible). */
export function visibleRect(v: View, image: Size, viewport: Size): [number, number, number, number] {
  const [ax, ay] = toImage(v, 0, 0);
  const [bx, by] = toImage(v, viewport.width, viewport.height);
  const x0 = Math.max(Math.floor(ax), 0);
  const y0 = Math.max(Math.floor(ay), 0);
  const x1 = Math.min(Math.ceil(bx), image.width);
  const y1 = Math.min(Math.ceil(by), image.height);
  return [x0, y0, Math.max(x1 - x0, 0), Math.max(y1 - y0, 0)];
}
