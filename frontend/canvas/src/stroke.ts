// One brush or eraser stroke in progress: painted segment by segment into a MaskEditor
// (brush.ts), with the sprite that shows it kept up to date (only the changed rectangle is
// repainted; a new sprite when the editor's crop grows).

import { MaskEditor, type Point } from "./brush";
import type { BinMask } from "./mask";
import type { Step } from "./session";
import { MaskSprite } from "./sprites";

export class Stroke {
  sprite: MaskSprite;
  private readonly editor: MaskEditor;
  private readonly points: Point[];
  private last: Point;
  private generation: number;

  /** A stroke on `base` starting at image point `start`; `radius` in image pixels. */
  constructor(base: BinMask, start: Point, readonly radius: number, readonly erase: boolean, color: string) {
    this.editor = new MaskEditor(base);
    this.sprite = new MaskSprite(this.editor as BinMask, color);
    this.generation = this.editor.generation;
    this.last = start;
    this.points = [start];
    this.paint(start, start);
  }

  /** Extend the stroke to image point `p` (a point closer than a quarter radius waits). */
  to(p: Point): void {
    if (Math.hypot(p[0] - this.last[0], p[1] - this.last[1]) < this.radius * 0.25) return;
    this.paint(this.last, p);
    this.last = p;
    this.points.push(p);
  }

  /** The stroke as a prompt step, and the edited mask (cropped to its bounding box). */
  finish(): { step: Step; mask: BinMask } {
    return { step: { kind: "brush", erase: this.erase, radius: this.radius, points: this.points }, mask: this.editor.result() };
  }

  private paint(a: Point, b: Point): void {
    const rect = this.editor.segment(a, b, this.radius, this.erase);
    if (!rect) return;
    if (this.editor.generation !== this.generation || !this.sprite.canvas) {
      this.sprite = new MaskSprite(this.editor as BinMask, this.sprite.color);
      this.generation = this.editor.generation;
    } else {
      const { x0, y0 } = this.editor;
      this.sprite.paint(rect[0] - x0, rect[1] - y0, rect[2] - rect[0], rect[3] - rect[1]);
    }
  }
}
