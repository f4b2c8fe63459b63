// The image's annotations as the canvas draws and hit-tests them: each decoded once (keyed by
// its RLE string and colour) into a mask and a sprite, reused across data updates.

import { decodeRle } from "./rle";
import { type BinMask, maskArea, maskAt } from "./mask";
import { MaskSprite } from "./sprites";
import type { AnnotationData, ClassInfo } from "./types";

export const UNKNOWN_COLOR = "#9e9e9e";

export interface Shown {
  data: AnnotationData;
  mask: BinMask;
  area: number;
  sprite: MaskSprite;
}

export interface Visibility {
  hiddenClasses: Set<number>;
  showRejected: boolean;
  showAnnotations: boolean;
}

export class AnnotationSet {
  private readonly items = new Map<number, Shown>();

  get size(): number {
    return this.items.size;
  }

  get(id: number): Shown | undefined {
    return this.items.get(id);
  }

  all(): Shown[] {
    return [...this.items.values()];
  }

  /** Replace the set with `list`, reusing decoded masks and sprites that did not change. */
  sync(list: AnnotationData[], classes: ClassInfo[]): void {
    const colors = new Map(classes.map((c) => [c.id, c.color]));
    const keep = new Set<number>();
    for (const data of list) {
      keep.add(data.id);
      this.put(data, colors.get(data.class_id ?? -1) ?? UNKNOWN_COLOR);
    }
    for (const id of [...this.items.keys()]) if (!keep.has(id)) this.items.delete(id);
  }

  /** Add or update one annotation (after a POST reply). */
  put(data: AnnotationData, color: string): Shown {
    const old = this.items.get(data.id);
    let mask = old?.mask;
    let area = old?.area ?? 0;
    if (!old || old.data.rle.counts !== data.rle.counts || old.data.rle.size.join() !== data.rle.size.join()) {
      mask = decodeRle(data.rle);
      area = maskArea(mask);
    }
    const sprite = old && old.sprite.mask === mask && old.sprite.color === color ? old.sprite : new MaskSprite(mask!, color);
    const shown = { data, mask: mask!, area, sprite };
    this.items.set(data.id, shown);
    return shown;
  }

  /** Recolour after a class list change. */
  recolor(classes: ClassInfo[]): void {
    const colors = new Map(classes.map((c) => [c.id, c.color]));
    for (const s of this.items.values()) {
      const color = colors.get(s.data.class_id ?? -1) ?? UNKNOWN_COLOR;
      if (s.sprite.color !== color) s.sprite = new MaskSprite(s.mask, color);
    }
  }

  delete(id: number): void {
    this.items.delete(id);
  }

  isVisible(s: Shown, v: Visibility): boolean {
    if (!v.showAnnotations) return false;
    if (s.data.status === "rejected" && !v.showRejected) return false;
    return !(s.data.class_id !== null && v.hiddenClasses.has(s.data.class_id));
  }

  /** Visible annotations, largest first (small objects are drawn on top). */
  visible(v: Visibility): Shown[] {
    return this.all()
      .filter((s) => this.isVisible(s, v))
      .sort((a, b) => b.area - a.area || a.data.id - b.data.id);
  }

  /** The smallest visible annotation containing pixel (x, y), or null. */
  hit(x: number, y: number, v: Visibility): Shown | null {
    const px = Math.floor(x);
    const py = Math.floor(y);
    let best: Shown | null = null;
    for (const s of this.items.values()) {
      if (!this.isVisible(s, v) || !maskAt(s.mask, px, py)) continue;
      if (!best || s.area < best.area) best = s;
    }
    return best;
  }
}
