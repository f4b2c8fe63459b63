// SAM's prompt encoder + mask decoder in the browser (onnxruntime-web, WASM backend).
//
// onnxruntime-web is imported on first use (its own chunk), with its .mjs / .wasm files from
// the studio's asset route (never a CDN). Threads only when the page is cross-origin
// isolated (SharedArrayBuffer); otherwise single-threaded SIMD.

import type * as Ort from "onnxruntime-web/wasm";
import { type Embedding, EMBED_SHAPE, buildInputs, outputIndices } from "./samInputs";
import { LOW_RES, upscaleLogits } from "./postprocess";
import { type Prediction, type PromptSpec, byScore, lazyCandidate } from "./session";

type OrtModule = typeof Ort;

let ortPromise: Promise<OrtModule> | null = null;

/** onnxruntime-web, configured to load its runtime files from `assets` (absolute or
 * page-relative URL of the asset route). */
export function loadOrt(assets: string): Promise<OrtModule> {
  ortPromise ??= import("onnxruntime-web/wasm").then((ort) => {
    const base = new URL(`${assets.replace(/\/+$/, "")}/ort/`, window.location.href).href;
    ort.env.wasm.wasmPaths = {
      mjs: `${base}ort-wasm-simd-threaded.mjs`,
      wasm: `${base}ort-wasm-simd-threaded.wasm`,
    };
    ort.env.wasm.numThreads = globalThis.crossOriginIsolated ? Math.min(navigator.hardwareConcurrency || 1, 4) : 1;
    ort.env.wasm.proxy = false;
    ort.env.logLevel = "error";
    return ort;
  });
  return ortPromise.catch((err) => {
    ortPromise = null;
    throw err;
  });
}

export interface RawOutput {
  scores: Float32Array; // (4)
  lowres: Float32Array; // (4 * 256 * 256)
}

export class SamDecoder {
  readonly threads: number;
  private readonly ort: OrtModule;
  private readonly session: Ort.InferenceSession;
  private tensors = new WeakMap<Embedding, Ort.Tensor>();
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(ort: OrtModule, session: Ort.InferenceSession) {
    this.ort = ort;
    this.session = session;
    this.threads = ort.env.wasm.numThreads ?? 1;
  }

  /** Download the decoder file and create its session; throws a message for people. */
  static async load(modelUrl: string, assets: string): Promise<SamDecoder> {
    const ort = await loadOrt(assets);
    const response = await fetch(modelUrl, { credentials: "same-origin" });
    if (!response.ok) {
      let detail = "";
      try {
        detail = (await response.json()).error ?? "";
      } catch {
        /* not JSON */
      }
      throw new Error(`decoder file: HTTP ${response.status}${detail ? `: ${detail}` : ""}`);
    }
    const bytes = new Uint8Array(await response.arrayBuffer());
    const session = await ort.InferenceSession.create(bytes, {
      executionProviders: ["wasm"],
      graphOptimizationLevel: "all",
    });
    const decoder = new SamDecoder(ort, session);
    return decoder;
  }

  private features(emb: Embedding): Ort.Tensor {
    let t = this.tensors.get(emb);
    if (!t) {
      t = new this.ort.Tensor("float32", emb.features, [...EMBED_SHAPE]);
      this.tensors.set(emb, t);
    }
    return t;
  }

  /** Run the decoder (one run at a time: onnxruntime-web sessions are not re-entrant). */
  run(emb: Embedding, spec: PromptSpec): Promise<RawOutput> {
    const job = this.queue.then(async () => {
      const x = buildInputs(spec, emb);
      const T = this.ort.Tensor;
      const out = await this.session.run({
        image_embeddings: this.features(emb),
        point_coords: new T("float32", x.coords, [1, x.n, 2]),
        point_labels: new T("float32", x.labels, [1, x.n]),
        mask_input: new T("float32", x.maskInput, [1, 1, LOW_RES, LOW_RES]),
        has_mask_input: new T("float32", Float32Array.of(x.hasMaskInput), [1]),
      });
      return { scores: out.scores.data as Float32Array, lowres: out.low_res_masks.data as Float32Array };
    });
    this.queue = job.catch(() => undefined);
    return job;
  }

  /** A step's prediction: the candidates the step uses, best score first, each mask
   * upscaled when first shown. */
  async decode(emb: Embedding, spec: PromptSpec): Promise<Prediction> {
    const raw = await this.run(emb, spec);
    return toPrediction(raw, outputIndices(spec.multimask), emb);
  }
}

/** Raw outputs -> Prediction with candidates `indices` (decoder order) sorted by score. */
export function toPrediction(raw: RawOutput, indices: number[], emb: Embedding): Prediction {
  const n = LOW_RES * LOW_RES;
  const candidates = indices.map((k) => {
    const logits = raw.lowres.slice(k * n, (k + 1) * n);
    return lazyCandidate(raw.scores[k], { kind: "logits", logits }, () =>
      upscaleLogits(logits, emb.inputSize, emb.imageSize),
    );
  });
  return { candidates: byScore(candidates), source: "sam" };
}
