// SAM's prompt encoder + mask decoder in the browser: onnxruntime-web (WASM) in a web worker
// (decoderWorker.ts, built as dist/decoder-worker.js next to canvas.js), so decoding never
// blocks the page. Inputs are built here (samInputs.ts); the worker returns the raw low-res
// outputs and the masks are upscaled here, only where they are positive (postprocess.ts).
// onnxruntime-web's .mjs / .wasm come from the studio's asset route (never a CDN); threads
// only when the page is cross-origin isolated, otherwise single-threaded SIMD.

import { type Embedding, buildInputs, outputIndices } from "./samInputs";
import { LOW_RES, upscaleLogits } from "./postprocess";
import { type Prediction, type PromptSpec, byScore, lazyCandidate } from "./session";

/** main thread -> worker */
export type WorkerRequest =
  | { type: "load"; id: number; modelUrl: string; mjsUrl: string; wasmUrl: string; threads: number }
  | { type: "embedding"; id: number; key: string; features: Float32Array }
  | {
      type: "run";
      id: number;
      key: string;
      coords: Float32Array; // (N * 2) 1024 frame
      labels: Float32Array; // (N)
      n: number;
      maskInput: Float32Array; // (256 * 256)
      hasMaskInput: number;
    };

/** worker -> main thread */
export type WorkerReply =
  | { type: "loaded"; id: number; threads: number }
  | { type: "ok"; id: number }
  | { type: "result"; id: number; scores: Float32Array; lowres: Float32Array; ms: number }
  | { type: "error"; id: number; message: string };

export interface RawOutput {
  scores: Float32Array; // (4)
  lowres: Float32Array; // (4 * 256 * 256)
  ms: number; // time in session.run
}

type WithoutId<T> = T extends unknown ? Omit<T, "id"> : never;
type Pending = { resolve: (r: WorkerReply) => void; reject: (e: Error) => void };

/** Absolute URL of a file next to this bundle, with the bundle's ?v= version. */
function besideBundle(name: string): string {
  const here = new URL(import.meta.url);
  return new URL(`./${name}${here.search}`, here).href;
}

export class SamDecoder {
  threads = 1;
  runs = 0; // decoder runs asked of the worker (tests: a click reuses its press's run)
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private readonly sent = new WeakMap<Embedding, Promise<string>>();
  private embeddingKeys = 0;

  private constructor(worker: Worker) {
    this.worker = worker;
    worker.onmessage = (e: MessageEvent<WorkerReply>) => {
      const p = this.pending.get(e.data.id);
      if (!p) return;
      this.pending.delete(e.data.id);
      if (e.data.type === "error") p.reject(new Error(e.data.message));
      else p.resolve(e.data);
    };
    worker.onerror = (e) => {
      const err = new Error(`the decoder worker failed: ${e.message || "could not start"}`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
  }

  private call(msg: WithoutId<WorkerRequest>, transfer: Transferable[] = []): Promise<WorkerReply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...msg, id }, transfer);
    });
  }

  /** Start the worker, download the decoder file and create its session (in the worker);
   * throws a message for people. `assets`: URL of the asset route. */
  static async load(modelUrl: string, assets: string): Promise<SamDecoder> {
    const base = new URL(`${assets.replace(/\/+$/, "")}/ort/`, window.location.href).href;
    const threads = globalThis.crossOriginIsolated ? Math.min(navigator.hardwareConcurrency || 1, 4) : 1;
    const worker = new Worker(besideBundle("decoder-worker.js"), { type: "module", name: "studio-sam-decoder" });
    const decoder = new SamDecoder(worker);
    try {
      const reply = await decoder.call({
        type: "load",
        modelUrl: new URL(modelUrl, window.location.href).href,
        mjsUrl: `${base}ort-wasm-simd-threaded.mjs`,
        wasmUrl: `${base}ort-wasm-simd-threaded.wasm`,
        threads,
      });
      if (reply.type === "loaded") decoder.threads = reply.threads;
    } catch (err) {
      worker.terminate();
      throw err;
    }
    return decoder;
  }

  /** The worker's key of `emb` (its features are copied to the worker once). */
  private key(emb: Embedding): Promise<string> {
    let p = this.sent.get(emb);
    if (!p) {
      const key = `e${this.embeddingKeys++}`;
      p = this.call({ type: "embedding", key, features: emb.features }).then(() => key);
      this.sent.set(emb, p);
      p.catch(() => this.sent.delete(emb));
    }
    return p;
  }

  /** Run the decoder once (runs are queued in the worker). */
  async run(emb: Embedding, spec: PromptSpec): Promise<RawOutput> {
    const key = await this.key(emb);
    const x = buildInputs(spec, emb);
    this.runs++;
    const reply = await this.call({ type: "run", key, coords: x.coords, labels: x.labels, n: x.n, maskInput: x.maskInput, hasMaskInput: x.hasMaskInput });
    if (reply.type !== "result") throw new Error(`unexpected decoder reply ${reply.type}`);
    return { scores: reply.scores, lowres: reply.lowres, ms: reply.ms };
  }

  /** A step's prediction: the candidates the step uses, best score first, each mask
   * upscaled when first shown. */
  async decode(emb: Embedding, spec: PromptSpec): Promise<Prediction> {
    const raw = await this.run(emb, spec);
    return toPrediction(raw, outputIndices(spec.multimask), emb);
  }

  dispose(): void {
    this.worker.terminate();
  }
}

/** Raw outputs -> Prediction with candidates `indices` (decoder order) sorted by score. */
export function toPrediction(raw: RawOutput, indices: number[], emb: Embedding): Prediction {
  const n = LOW_RES * LOW_RES;
  const candidates = indices.map((k) => {
    const logits = raw.lowres.slice(k * n, (k + 1) * n);
    return lazyCandidate(raw.scores[k], { kind: "logits", logits }, () => upscaleLogits(logits, emb.inputSize, emb.imageSize));
  });
  return { candidates: byScore(candidates), source: "sam" };
}
