// Decoding ahead of the click (SAM in the browser only): the hover preview, the mask under the
// resting pointer, and the decode a press starts at pointer down (a person holds a click
// ~80-120 ms). A click released on a pixel decoded here, as the first positive point of a new
// object, reuses that answer instead of decoding again: the same prompt gives the same
// candidates. Pointer moves within one frame make one decode (the last position), one decode
// is in flight at a time, and an answer the pointer has already left is not drawn. While the
// pointer travels fast (a move of more than SETTLE_PX in the last SETTLE_MS) the preview waits
// for it to slow down: a decode of a point it is passing over would only hold up the decode
// of where it stops (the worker runs one at a time and a run cannot be cancelled).

import { isEmpty } from "./mask";
import type { Prediction } from "./session";
import { MaskSprite } from "./sprites";

type Flight = { x: number; y: number; prediction: Promise<Prediction> };

export const SETTLE_PX = 8; // CSS px between two pointer moves: faster is travelling
export const SETTLE_MS = 24; // ms without such a move: the pointer has slowed down or stopped

/** What the lookahead needs of the canvas. */
export interface LookaheadHost {
  /** Whether a hover preview may show now (decoder ready, point tool, no prompt, ...). */
  previewAllowed(): boolean;
  /** The decode of image pixel (x, y) as the first positive point of a new object; null when
   * the browser cannot decode (no decoder or embedding for this image). */
  decodeFirstPoint(x: number, y: number): Promise<Prediction> | null;
  /** Changes whenever the prompt session does (a new object, another image). */
  sessionToken(): object;
  /** A press (pointer down, not yet a click or a drag) is under way. */
  pressing(): boolean;
  nextFrame(): Promise<void>;
  previewColor(): string;
  /** A preview was set: draw it; `t0` the pointer move, `answered` when the decoder answered. */
  previewShown(t0: number, answered: number): void;
}

export interface Preview {
  x: number;
  y: number;
  prediction: Prediction;
  sprite: MaskSprite | null; // null: an empty best mask
}

export class Lookahead {
  preview: Preview | null = null;
  busy = false; // the hover loop runs
  private wanted: { x: number; y: number; t0: number } | null = null;
  private hoverFlight: Flight | null = null;
  private pressFlight: Flight | null = null;
  private lastMove: { sx: number; sy: number; at: number } | null = null;
  private fastAt = -Infinity; // when the pointer last made a move of more than SETTLE_PX

  constructor(private readonly host: LookaheadHost) {}

  /** The first-point decode of image pixel (px, py) already made or under way (the preview's,
   * its flight's, or a press's); null when there is none. */
  decodeOf(px: number, py: number): Promise<Prediction> | null {
    const p = this.preview;
    if (p && p.x === px && p.y === py) return Promise.resolve(p.prediction);
    for (const f of [this.pressFlight, this.hoverFlight]) if (f && f.x === px && f.y === py) return f.prediction;
    return null;
  }

  /** A press on pixel (px, py) where its click would start a new object: decode it now
   * unless the preview has it (or is decoding it). */
  press(px: number, py: number): void {
    this.pressFlight = null;
    if (this.decodeOf(px, py)) return;
    const prediction = this.host.decodeFirstPoint(px, py);
    if (!prediction) return;
    prediction.catch(() => undefined); // a click that does not come, or that decodes itself, ignores it
    this.pressFlight = { x: px, y: py, prediction };
  }

  /** The press ended (its click took the decode, or it became a drag). */
  endPress(): void {
    this.pressFlight = null;
  }

  /** The pointer is on pixel (px, py) where a preview may show, at stage point (sx, sy) (CSS
   * px; none: its speed is not known): decode it once it moves slowly, once per frame. */
  hover(px: number, py: number, t0: number, screen?: { sx: number; sy: number }): void {
    if (screen) {
      const now = performance.now();
      const last = this.lastMove;
      if (last && Math.hypot(screen.sx - last.sx, screen.sy - last.sy) > SETTLE_PX) this.fastAt = now;
      this.lastMove = { sx: screen.sx, sy: screen.sy, at: now };
    }
    if (this.preview && this.preview.x === px && this.preview.y === py) return;
    this.wanted = { x: px, y: py, t0 };
    void this.run();
  }

  /** No preview where the pointer is (an object, outside, a prompt began); true when one was
   * shown (redraw). */
  stop(): boolean {
    this.wanted = null;
    return this.dropPreview();
  }

  /** The pointer left the stage: nothing more to decode (the preview is hidden, not dropped). */
  leave(): void {
    this.wanted = null;
    this.lastMove = null;
  }

  /** Forget the preview (a step was added, a stroke began, ...); true when there was one. */
  dropPreview(): boolean {
    const had = this.preview !== null;
    this.preview = null;
    return had;
  }

  /** Another image: forget everything (a decode under way ends unseen). */
  reset(): void {
    this.preview = null;
    this.wanted = null;
    this.pressFlight = null;
  }

  private async run(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      await this.host.nextFrame(); // moves within one frame make one decode (the last position)
      while (this.wanted && this.host.previewAllowed()) {
        if (performance.now() - this.fastAt < SETTLE_MS) {
          await this.host.nextFrame(); // travelling: wait until the pointer slows down
          continue;
        }
        const want = this.wanted;
        this.wanted = null;
        const token = this.host.sessionToken();
        const decoding = this.host.decodeFirstPoint(want.x, want.y);
        if (!decoding) break;
        const flight = { x: want.x, y: want.y, prediction: decoding };
        this.hoverFlight = flight;
        let prediction: Prediction;
        try {
          prediction = await flight.prediction;
        } finally {
          if (this.hoverFlight === flight) {
            this.hoverFlight = null;
            // a press began while this decoded (it did not decode again): its click reuses this answer
            if (this.host.pressing()) this.pressFlight ??= flight;
          }
        }
        if (token !== this.host.sessionToken() || !this.host.previewAllowed()) break;
        // the pointer moved on while this decoded: skip upscaling and drawing a stale preview
        if (this.wanted) continue;
        const answered = performance.now();
        const best = prediction.candidates[0].mask();
        this.preview = { x: want.x, y: want.y, prediction, sprite: isEmpty(best) ? null : new MaskSprite(best, this.host.previewColor()) };
        this.host.previewShown(want.t0, answered);
        await this.host.nextFrame(); // let the frame (and input) through before the next decode
      }
    } catch {
      /* a failed preview is not worth a message: the click path reports errors */
    } finally {
      this.busy = false;
    }
  }
}
