// The SAM decoder's web worker (built as dist/decoder-worker.js): onnxruntime-web runs here,
// so a decode (tens to hundreds of milliseconds of WASM) never blocks the page's main
// thread: panning, zooming and typing stay smooth while the hover preview decodes.
// Messages: see WorkerRequest / WorkerReply in samDecoder.ts.

import * as ort from "onnxruntime-web/wasm";
import type { WorkerReply, WorkerRequest } from "./samDecoder";

const scope = self as unknown as {
  postMessage(message: WorkerReply, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<WorkerRequest>) => void) | null;
};

let session: ort.InferenceSession | null = null;
const embeddings = new Map<string, ort.Tensor>(); // by key, the last few images
const KEEP = 4;

async function handle(msg: WorkerRequest): Promise<void> {
  if (msg.type === "load") {
    ort.env.wasm.wasmPaths = { mjs: msg.mjsUrl, wasm: msg.wasmUrl };
    ort.env.wasm.numThreads = msg.threads;
    ort.env.wasm.proxy = false;
    ort.env.logLevel = "error";
    const response = await fetch(msg.modelUrl, { credentials: "same-origin" });
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
    session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
    scope.postMessage({ type: "loaded", id: msg.id, threads: ort.env.wasm.numThreads ?? 1 });
    return;
  }
  if (msg.type === "embedding") {
    embeddings.delete(msg.key);
    embeddings.set(msg.key, new ort.Tensor("float32", msg.features, [1, 256, 64, 64]));
    while (embeddings.size > KEEP) embeddings.delete(embeddings.keys().next().value as string);
    scope.postMessage({ type: "ok", id: msg.id });
    return;
  }
  if (!session) throw new Error("the decoder is not loaded");
  const features = embeddings.get(msg.key);
  if (!features) throw new Error("unknown embedding (send it first)");
  const t0 = performance.now();
  const out = await session.run({
    image_embeddings: features,
    point_coords: new ort.Tensor("float32", msg.coords, [1, msg.n, 2]),
    point_labels: new ort.Tensor("float32", msg.labels, [1, msg.n]),
    mask_input: new ort.Tensor("float32", msg.maskInput, [1, 1, 256, 256]),
    has_mask_input: new ort.Tensor("float32", Float32Array.of(msg.hasMaskInput), [1]),
  });
  const scores = Float32Array.from(out.scores.data as Float32Array);
  const lowres = Float32Array.from(out.low_res_masks.data as Float32Array);
  scope.postMessage({ type: "result", id: msg.id, scores, lowres, ms: performance.now() - t0 }, [scores.buffer, lowres.buffer]);
}

let queue: Promise<void> = Promise.resolve(); // one message at a time (a session is not re-entrant)

scope.onmessage = (e) => {
  const msg = e.data;
  queue = queue
    .then(() => handle(msg))
    .catch((err: unknown) => {
      scope.postMessage({ type: "error", id: msg.id, message: err instanceof Error ? err.message : String(err) });
    });
};
