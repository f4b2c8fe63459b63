// The prompt history of one object on one image: studio.labelling.PromptSession in the
// browser, plus brush / eraser steps.
//
// Each step keeps the answer it got, so undo / redo are instant. The first prompt element
// gives the 3 candidates (cycle with V, best score first); later steps give one mask, with the
// chosen candidate of the step before as mask_input. A brush step stores the painted mask as
// its single candidate; prompts after it start from that mask (its mask_to_logits), as do
// prompts on a selected annotation (the seed). No decoding here: the app asks a decoder with
// `promptWith(step)` and pushes the answer.

import type { BinMask } from "./mask";
import type { MaskSource } from "./types";
import type { Point } from "./brush";

export const MAX_HISTORY = 50;

export type Step =
  | { kind: "point"; x: number; y: number; positive: boolean }
  | { kind: "box"; box: [number, number, number, number] } // XYXY image pixels
  | { kind: "brush"; erase: boolean; radius: number; points: Point[] };

/** What a step's answer feeds into the next step's mask_input. */
export type MaskInput =
  | { kind: "logits"; logits: Float32Array } // SAM low-res logits (256 * 256), browser decoder
  | { kind: "server"; prediction: string; candidate: number } // a POST predict answer
  | { kind: "mask"; mask: BinMask }; // a mask (seed or brush): mask_to_logits / {"rle"}

export interface Candidate {
  score: number | null;
  input: MaskInput;
  /** full-resolution mask (may be computed on first use, then cached) */
  mask(): BinMask;
}

export interface Prediction {
  candidates: Candidate[]; // best score first
  source: MaskSource;
}

/** What a decoder gets for one step (image pixels). */
export interface PromptSpec {
  points: Point[];
  labels: number[]; // 1 positive, 0 negative
  box: [number, number, number, number] | null;
  maskInput: MaskInput | null;
  baseMask: BinMask | null; // the mask maskInput stands for (a decoder that cannot use the input re-seeds from it)
  multimask: boolean;
}

export interface Seed {
  annotationId: number;
  mask: BinMask;
  source: MaskSource;
}

interface Entry {
  step: Step;
  prediction: Prediction;
}

/** A candidate whose mask is known. */
export function fixedCandidate(mask: BinMask, score: number | null, input?: MaskInput): Candidate {
  return { score, input: input ?? { kind: "mask", mask }, mask: () => mask };
}

/** A candidate whose mask is computed once, when first shown. */
export function lazyCandidate(score: number | null, input: MaskInput, compute: () => BinMask): Candidate {
  let cached: BinMask | null = null;
  return { score, input, mask: () => (cached ??= compute()) };
}

export class PromptSession {
  readonly imageId: number;
  readonly seed: Seed | null; // the annotation being refined, if any
  history: Entry[] = [];
  redoStack: Entry[] = [];
  candidate = 0; // position in the current prediction's candidates (score order)
  readonly started: number;

  constructor(imageId: number, seed: Seed | null = null, now = performance.now()) {
    this.imageId = imageId;
    this.seed = seed;
    this.started = now;
  }

  get editingAnnotationId(): number | null {
    return this.seed?.annotationId ?? null;
  }

  get steps(): Step[] {
    return this.history.map((e) => e.step);
  }

  get prediction(): Prediction | null {
    return this.history.length ? this.history[this.history.length - 1].prediction : null;
  }

  get candidates(): number {
    return this.prediction?.candidates.length ?? 0;
  }

  get current(): Candidate | null {
    const p = this.prediction;
    return p ? p.candidates[this.candidate % p.candidates.length] : null;
  }

  /** The current mask: the chosen candidate, else the seed's mask, else null. */
  get mask(): BinMask | null {
    return this.current?.mask() ?? null;
  }

  /** The mask a brush stroke starts from (current, else the seed's, else null). */
  get baseMask(): BinMask | null {
    return this.current?.mask() ?? this.seed?.mask ?? null;
  }

  get score(): number | null {
    return this.current?.score ?? null;
  }

  /** Where the accepted mask came from: the last step that decoded, else the seed, else manual. */
  get source(): MaskSource {
    for (let i = this.history.length - 1; i >= 0; i--) {
      const s = this.history[i].prediction.source;
      if (s !== "manual") return s;
    }
    return this.seed?.source ?? "manual";
  }

  get hasSteps(): boolean {
    return this.history.length > 0;
  }

  seconds(now = performance.now()): number {
    return (now - this.started) / 1000;
  }

  /** The decoder input for the history plus `step` (a point or a box): the points and the
   * latest box since the last brush step, the current answer (or the brush mask, or the seed)
   * as mask_input, and 3 candidates only for the very first prompt element of a new object. */
  promptWith(step: Step): PromptSpec {
    if (step.kind === "brush") throw new Error("promptWith: brush steps are painted, not decoded");
    let base = -1; // index of the last brush step
    this.history.forEach((e, i) => {
      if (e.step.kind === "brush") base = i;
    });
    const steps = [...this.history.slice(base + 1).map((e) => e.step), step];
    const points: Point[] = [];
    const labels: number[] = [];
    let box: [number, number, number, number] | null = null;
    for (const s of steps) {
      if (s.kind === "point") {
        points.push([s.x, s.y]);
        labels.push(s.positive ? 1 : 0);
      } else if (s.kind === "box") {
        box = s.box;
      }
    }
    const current = this.current;
    const maskInput: MaskInput | null = current
      ? current.input
      : this.seed
        ? { kind: "mask", mask: this.seed.mask }
        : null;
    const elements = points.length + (box ? 1 : 0);
    const multimask = elements === 1 && base < 0 && this.seed === null;
    return { points, labels, box, maskInput, baseMask: current ? current.mask() : (this.seed?.mask ?? null), multimask };
  }

  /** Add a step with its answer (redo is cleared; the best candidate is shown). */
  push(step: Step, prediction: Prediction): void {
    if (!prediction.candidates.length) throw new Error("push: a prediction needs at least one candidate");
    this.history.push({ step, prediction });
    if (this.history.length > MAX_HISTORY) this.history.splice(0, this.history.length - MAX_HISTORY);
    this.redoStack = [];
    this.candidate = 0;
  }

  undo(): boolean {
    const e = this.history.pop();
    if (!e) return false;
    this.redoStack.push(e);
    this.candidate = 0;
    return true;
  }

  redo(): boolean {
    const e = this.redoStack.pop();
    if (!e) return false;
    this.history.push(e);
    this.candidate = 0;
    return true;
  }

  /** Forget every step (undoable: they move to the redo stack in order). */
  clear(): void {
    while (this.undo()) {
      /* each step moves to redo */
    }
  }

  /** Show the next (or previous) candidate; the new position. */
  cycle(delta = 1): number {
    const n = this.candidates;
    if (n) this.candidate = (((this.candidate + delta) % n) + n) % n;
    return this.candidate;
  }
}

/** Candidates in score order (best first, stable), as Prediction.order in Python. */
export function byScore<T extends { score: number | null }>(items: T[]): T[] {
  return items
    .map((item, i) => ({ item, i }))
    .sort((a, b) => (b.item.score ?? -Infinity) - (a.item.score ?? -Infinity) || a.i - b.i)
    .map((x) => x.item);
}
