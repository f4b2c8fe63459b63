// Drawing on two stacked canvases, only when something changed (the app calls draw() from
// requestAnimationFrame with the dirty layers):
//  - scene: the image (the visible part only; a downscaled copy when zoomed out) and every
//    visible annotation: translucent fill (cached crop canvas) + outline at constant screen
//    width (dark halo under the class colour); drafts dashed and lighter, rejected grey and
//    dashed, the selected one white-haloed and stronger, the hovered one haloed;
//  - overlay: the working mask (class colour, white outline), the hover preview (lighter,
//    dashed), prompt points and boxes, the box being dragged, the brush cursor.
// Coordinates: image pixels under the view transform; sizes in CSS pixels times dpr.

import type { Step } from "./session";
import type { MaskSprite } from "./sprites";
import type { LoadedImage } from "./images";
import { type View, type Size, visibleRect } from "./view";

export interface AnnotationVisual {
  id: number;
  sprite: MaskSprite;
  status: "accepted" | "draft" | "rejected";
  pending?: boolean; // accepted locally, POST not answered yet
}

export interface SceneState {
  image: LoadedImage | null;
  annotations: AnnotationVisual[]; // visible ones, in draw order (largest first)
  opacity: number; // fill opacity of accepted annotations, 0..1
  selectedId: number | null;
  hoverId: number | null;
}

export interface OverlayState {
  working: MaskSprite | null;
  stroking: boolean; // the working mask is being painted (no outline until the stroke ends)
  preview: MaskSprite | null;
  steps: Step[];
  pending: Step[]; // prompts sent, answer not there yet
  drag: [number, number, number, number] | null; // box being dragged, XYXY image pixels
  brush: { x: number; y: number; radius: number; erase: boolean } | null; // image pixels
  opacity: number;
}

const POSITIVE = "#28dc3c";
const NEGATIVE = "#eb2828";

export class Renderer {
  readonly scene: HTMLCanvasElement;
  readonly overlay: HTMLCanvasElement;
  view: View = { scale: 1, tx: 0, ty: 0 };
  size: Size = { width: 1, height: 1 };
  dpr = 1;
  /** Called when an outline traced after its fill (MaskSprite.outlineSoon) is ready to draw
   * on the overlay (working mask, preview) or the scene (stored annotations). */
  readonly outlineTraced: () => void;
  readonly sceneOutlineTraced: () => void;

  constructor(scene: HTMLCanvasElement, overlay: HTMLCanvasElement,
              outlineTraced: (layer: "scene" | "overlay") => void = () => {}) {
    this.scene = scene;
    this.overlay = overlay;
    this.outlineTraced = () => outlineTraced("overlay");
    this.sceneOutlineTraced = () => outlineTraced("scene");
  }

  /** Match the backing stores to the CSS size (true when it changed). */
  resize(size: Size, dpr: number): boolean {
    const w = Math.max(Math.round(size.width * dpr), 1);
    const h = Math.max(Math.round(size.height * dpr), 1);
    const changed = w !== this.scene.width || h !== this.scene.height || dpr !== this.dpr;
    this.size = size;
    this.dpr = dpr;
    for (const c of [this.scene, this.overlay]) {
      if (c.width !== w) c.width = w;
      if (c.height !== h) c.height = h;
    }
    return changed;
  }

  private imageTransform(ctx: CanvasRenderingContext2D): void {
    const { scale, tx, ty } = this.view;
    const d = this.dpr;
    ctx.setTransform(d * scale, 0, 0, d * scale, d * tx, d * ty);
  }

  /** Stroke `path` (image coordinates) `px` CSS pixels wide whatever the zoom. */
  private stroke(ctx: CanvasRenderingContext2D, path: Path2D, color: string, px: number, dash: number[] = []): void {
    const k = 1 / this.view.scale;
    ctx.lineWidth = px * k;
    ctx.strokeStyle = color;
    ctx.setLineDash(dash.map((v) => v * k));
    ctx.stroke(path);
  }

  drawScene(s: SceneState): void {
    const ctx = this.scene.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.scene.width, this.scene.height);
    if (!s.image) return;
    this.imageTransform(ctx);
    const img = s.image;
    const [vx, vy, vw, vh] = visibleRect(this.view, img, this.size);
    if (vw > 0 && vh > 0) {
      const screenWidth = img.width * this.view.scale * this.dpr;
      const useOverview = img.overview !== null && screenWidth <= img.overview.width;
      ctx.imageSmoothingEnabled = this.view.scale < 3;
      ctx.imageSmoothingQuality = "medium";
      if (useOverview && img.overview) {
        const f = img.overview.width / img.width;
        ctx.drawImage(img.overview, vx * f, vy * f, vw * f, vh * f, vx, vy, vw, vh);
      } else {
        ctx.drawImage(img.bitmap, vx, vy, vw, vh, vx, vy, vw, vh);
      }
    }
    // fills, then outlines (so an outline is never hidden under a neighbour's fill)
    ctx.imageSmoothingEnabled = this.view.scale < 1;
    for (const a of s.annotations) {
      const selected = a.id === s.selectedId;
      const hover = a.id === s.hoverId;
      let alpha = s.opacity;
      if (a.status === "draft") alpha *= 0.55;
      if (a.status === "rejected") alpha *= 0.25;
      if (selected) alpha = Math.min(1, alpha + 0.25);
      else if (hover) alpha = Math.min(1, alpha + 0.15);
      a.sprite.drawFill(ctx, alpha, this.view.scale);
    }
    for (const a of s.annotations) {
      // traced in a task of its own the first time: opening a photo with many masks shows their
      // fills at once and each outline as it is ready (69 outlines of a 6000x4000 shelf: ~80 ms)
      const path = a.sprite.canvas ? a.sprite.outlineSoon(this.view.scale, this.sceneOutlineTraced) : null;
      if (!path) continue;
      const selected = a.id === s.selectedId;
      const hover = a.id === s.hoverId;
      const dash = a.status === "accepted" ? [] : [6, 4];
      const color = a.status === "rejected" ? "#9e9e9e" : a.sprite.color;
      if (selected) {
        this.stroke(ctx, path, "rgba(0,0,0,0.85)", 5);
        this.stroke(ctx, path, "#ffffff", 3.5);
        this.stroke(ctx, path, color, 1.5, dash);
      } else {
        this.stroke(ctx, path, hover ? "rgba(255,255,255,0.9)" : "rgba(0,0,0,0.6)", hover ? 4 : 3);
        this.stroke(ctx, path, color, hover ? 2 : 1.5, dash);
      }
    }
    ctx.setLineDash([]);
  }

  drawOverlay(o: OverlayState): void {
    const ctx = this.overlay.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.overlay.width, this.overlay.height);
    this.imageTransform(ctx);
    ctx.imageSmoothingEnabled = this.view.scale < 1;
    if (o.preview?.canvas) {
      o.preview.drawFill(ctx, Math.max(o.opacity * 0.6, 0.2), this.view.scale);
      const outline = o.preview.outlineSoon(this.view.scale, this.outlineTraced);
      if (outline) {
        this.stroke(ctx, outline, "rgba(0,0,0,0.5)", 3);
        this.stroke(ctx, outline, "#ffffff", 1.5, [5, 4]);
      }
    }
    if (o.working?.canvas) {
      o.working.drawFill(ctx, Math.min(Math.max(o.opacity + 0.15, 0.35), 0.85), o.stroking ? 1 : this.view.scale);
      const outline = o.stroking ? null : o.working.outlineSoon(this.view.scale, this.outlineTraced);
      if (outline) {
        this.stroke(ctx, outline, "rgba(0,0,0,0.75)", 4);
        this.stroke(ctx, outline, "#ffffff", 2);
      }
    }
    ctx.setLineDash([]);
    for (const step of [...o.steps, ...o.pending]) {
      if (step.kind === "box") this.box(ctx, step.box, [6, 4]);
    }
    if (o.drag) this.box(ctx, o.drag, [4, 4]);
    // points and the brush cursor in screen space (constant size)
    const d = this.dpr;
    ctx.setTransform(d, 0, 0, d, 0, 0);
    const { scale, tx, ty } = this.view;
    const pendingSet = new Set(o.pending);
    for (const step of [...o.steps, ...o.pending]) {
      if (step.kind !== "point") continue;
      const sx = (step.x + 0.5) * scale + tx;
      const sy = (step.y + 0.5) * scale + ty;
      ctx.globalAlpha = pendingSet.has(step) ? 0.6 : 1;
      ctx.beginPath();
      ctx.arc(sx, sy, 7, 0, Math.PI * 2);
      ctx.fillStyle = "#ffffff";
      ctx.fill();
      ctx.beginPath();
      ctx.arc(sx, sy, 5, 0, Math.PI * 2);
      ctx.fillStyle = step.positive ? POSITIVE : NEGATIVE;
      ctx.fill();
      ctx.fillStyle = "#ffffff";
      ctx.fillRect(sx - 3, sy - 0.75, 6, 1.5);
      if (step.positive) ctx.fillRect(sx - 0.75, sy - 3, 1.5, 6);
      ctx.globalAlpha = 1;
    }
    if (o.brush) {
      const sx = o.brush.x * scale + tx;
      const sy = o.brush.y * scale + ty;
      const r = Math.max(o.brush.radius * scale, 1);
      ctx.beginPath();
      ctx.arc(sx, sy, r, 0, Math.PI * 2);
      ctx.lineWidth = 3;
      ctx.strokeStyle = "rgba(0,0,0,0.6)";
      ctx.stroke();
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = o.brush.erase ? "#ff8080" : "#ffffff";
      ctx.stroke();
    }
  }

  private box(ctx: CanvasRenderingContext2D, b: [number, number, number, number], dash: number[]): void {
    const path = new Path2D();
    path.rect(Math.min(b[0], b[2]), Math.min(b[1], b[3]), Math.abs(b[2] - b[0]) + 1, Math.abs(b[3] - b[1]) + 1);
    this.stroke(ctx, path, "rgba(0,0,0,0.7)", 3);
    this.stroke(ctx, path, "#ffffff", 1.5, dash);
    ctx.setLineDash([]);
  }
}
