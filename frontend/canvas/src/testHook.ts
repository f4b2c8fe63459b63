// window.__studioCanvas: a small hook for the browser tests and benchmarks/labelling.py (the
// most recently mounted canvas). Documented in frontend/canvas/README.md.

import type { CanvasApp } from "./app";
import type { RequestRecord } from "./api";
import { maskArea } from "./mask";
import { encodeRle } from "./rle";
import { resizedShape, upscaleLogits } from "./postprocess";
import { getEmbedding } from "./images";
import type { Timing, TimingKind } from "./timing";
import type { CanvasEvent, Rle } from "./types";
import { toImage, toScreen, type View } from "./view";

export interface DecodePrompt {
  points?: [number, number][]; // image pixels
  labels?: number[]; // 1 positive, 0 negative
  box?: [number, number, number, number] | null; // XYXY image pixels
  multimask?: boolean; // default: true
  mask_input?: { decode: number; candidate: number } | null; // logits of an earlier decode() answer
}

export interface DecodeResult {
  id: number; // refer to it in a later mask_input
  masks: Rle[]; // in the decoder's order (multimask: outputs 1..3; else output 0)
  scores: number[];
  ms: number; // decoder run + postprocessing
  run_ms: number; // the decoder's session.run alone (onnxruntime-web, in the worker)
}

export interface StudioCanvasHook {
  version: 1;
  ready(): boolean;
  imageId(): number | null;
  decoder(): { status: string; path: "browser" | "server"; note: string | null; threads: number; runs: number };
  readonly lastTiming: Timing | null;
  timings(kind: TimingKind): Timing[];
  clearTimings(): void;
  workingMask(): Rle | null;
  state(): Record<string, unknown>;
  toClient(x: number, y: number): [number, number];
  toImage(clientX: number, clientY: number): [number, number];
  view(): View;
  idle(): Promise<void>;
  events(): CanvasEvent[];
  requests(): RequestRecord[];
  frames(): { at: number; ms: number; scene: boolean }[];
  decode(prompt: DecodePrompt): Promise<DecodeResult>;
  /** Time SAM's postprocess of `lowres` (256 * 256 logits) to an H x W image (benchmarks):
   * median ms of `runs`, and the mask's pixel count. */
  upscale(lowres: number[], imageSize: [number, number], runs: number): { ms: number; pixels: number };
}

const hooks = new WeakMap<CanvasApp, StudioCanvasHook>();

type HookWindow = { __studioCanvas?: StudioCanvasHook };

/** Remove window.__studioCanvas when it belongs to `app` (unmounted). */
export function uninstallHook(app: CanvasApp): void {
  const w = window as unknown as HookWindow;
  if (w.__studioCanvas && w.__studioCanvas === hooks.get(app)) delete w.__studioCanvas;
}

export function installHook(app: CanvasApp): StudioCanvasHook {
  const known = hooks.get(app);
  if (known) {
    (window as unknown as HookWindow).__studioCanvas = known;
    return known;
  }
  const decodes: Float32Array[][] = [];
  const stageOrigin = (): [number, number] => {
    const r = app.ui.overlay.getBoundingClientRect();
    return [r.left, r.top];
  };
  const hook: StudioCanvasHook = {
    version: 1,
    ready: () => app.image !== null && app.image.id === app.imageInfo?.id,
    imageId: () => app.imageInfo?.id ?? null,
    decoder: () => ({
      status: app.hub.status,
      path: app.hub.path,
      note: app.hub.note,
      threads: app.hub.decoder?.threads ?? 0,
      runs: app.hub.decoder?.runs ?? 0,
    }),
    get lastTiming() {
      return app.timings.last;
    },
    timings: (kind) => [...app.timings.samples[kind]],
    clearTimings: () => app.timings.clear(),
    workingMask: () => app.workingMaskRle(),
    state: () => ({
      tool: app.tool,
      positive: app.positive,
      classId: app.classId,
      selectedId: app.selectedId,
      hoverId: app.hoverId,
      steps: app.session.history.length,
      redo: app.session.redoStack.length,
      candidate: app.session.candidate,
      candidates: app.session.candidates,
      score: app.session.score,
      editingId: app.session.editingAnnotationId,
      revision: app.revision,
      annotations: app.annotations.all().map((s) => ({ id: s.data.id, class_id: s.data.class_id, status: s.data.status })),
      classes: app.classes.map((c) => c.id),
      message: app.message?.text ?? null,
      busy: app.busy,
      opacity: app.opacity,
      brushSize: app.brushSize,
      showAnnotations: app.showAnnotations,
    }),
    toClient: (x, y) => {
      const [ox, oy] = stageOrigin();
      const [sx, sy] = toScreen(app.view, x, y);
      return [ox + sx, oy + sy];
    },
    toImage: (cx, cy) => {
      const [ox, oy] = stageOrigin();
      return toImage(app.view, cx - ox, cy - oy);
    },
    view: () => ({ ...app.view }),
    idle: () => app.idle(),
    events: () => [...app.sent],
    requests: () => [...app.api.log],
    frames: () => [...app.frameTimes],
    decode: async (prompt) => {
      const decoder = await app.hub.ready();
      const url = app.data.segmenter?.decoder?.embedding_url;
      if (!decoder || !url) throw new Error(`no browser decoder (status ${app.hub.status}: ${app.hub.note ?? ""})`);
      const emb = await getEmbedding(url);
      const t0 = performance.now();
      const ref = prompt.mask_input ? decodes[prompt.mask_input.decode]?.[prompt.mask_input.candidate] : null;
      if (prompt.mask_input && !ref) throw new Error("mask_input refers to an unknown decode / candidate");
      const multimask = prompt.multimask ?? true;
      const raw = await decoder.run(emb, {
        points: prompt.points ?? [],
        labels: prompt.labels ?? [],
        box: prompt.box ?? null,
        maskInput: ref ? { kind: "logits", logits: ref } : null,
        baseMask: null,
        multimask,
      });
      const n = 256 * 256;
      const indices = multimask ? [1, 2, 3] : [0];
      const logits = indices.map((k) => raw.lowres.slice(k * n, (k + 1) * n));
      const masks = logits.map((l) => encodeRle(upscaleLogits(l, emb.inputSize, emb.imageSize)));
      decodes.push(logits);
      return { id: decodes.length - 1, masks, scores: indices.map((k) => raw.scores[k]), ms: performance.now() - t0, run_ms: raw.ms };
    },
    upscale: (lowres, imageSize, runs) => {
      const logits = Float32Array.from(lowres);
      const input = resizedShape(imageSize[0], imageSize[1]);
      const times: number[] = [];
      let pixels = 0;
      for (let i = 0; i < Math.max(runs, 1); i++) {
        const t0 = performance.now();
        const mask = upscaleLogits(logits, input, imageSize);
        times.push(performance.now() - t0);
        pixels = maskArea(mask);
      }
      times.sort((a, b) => a - b);
      return { ms: times[times.length >> 1], pixels };
    },
  };
  hooks.set(app, hook);
  (window as unknown as HookWindow).__studioCanvas = hook;
  return hook;
}
