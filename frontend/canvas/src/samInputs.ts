// Inputs of the exported SAM decoder (studio/segment/onnx_decoder.py, plan "SAM decoder
// export") and the embedding's wire format. Pure functions: no onnxruntime here.
//
// Decoder inputs: image_embeddings (1, 256, 64, 64) f32; point_coords (1, N, 2) f32 in the
// 1024 frame (ResizeLongestSide.apply_coords); point_labels (1, N) f32: 1 positive, 0
// negative, 2 / 3 box corners, -1 the padding point (0, 0) added when there is no box;
// mask_input (1, 1, 256, 256) f32; has_mask_input (1) f32.
// Outputs: scores (1, 4), low_res_masks (1, 4, 256, 256); mask 0 = single-mask output,
// 1..3 = the multimask candidates.

import { type BinMask } from "./mask";
import { LOW_RES, maskToLogits } from "./postprocess";
import type { MaskInput, PromptSpec } from "./session";

export const EMBED_SHAPE = [1, 256, 64, 64] as const;
export const EMBED_SIZE = 256 * 64 * 64;

/** One image's SAM embedding, as GET embedding/{id} serves it. */
export interface Embedding {
  features: Float32Array; // (1, 256, 64, 64)
  inputSize: [number, number]; // (h, w) resized to longest side 1024, before padding
  imageSize: [number, number]; // (H, W)
  segmenterId: string;
}

export interface DecoderInputs {
  coords: Float32Array; // (N * 2)
  labels: Float32Array; // (N)
  n: number;
  maskInput: Float32Array; // (256 * 256)
  hasMaskInput: number; // 0 or 1
}

/** IEEE half-precision bits -> float32 values. */
export function float16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i];
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) out[i] = sign * frac * 2 ** -24;
    else if (exp === 31) out[i] = frac ? NaN : sign * Infinity;
    else out[i] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return out;
}

/** "h,w" header value -> [h, w]; throws naming the header when malformed. */
export function parseSize(value: string | null, header: string): [number, number] {
  const parts = (value ?? "").split(",").map((s) => Number(s.trim()));
  if (parts.length !== 2 || !parts.every((v) => Number.isInteger(v) && v > 0)) {
    throw new Error(`embedding reply: header ${header} should be "h,w", got ${JSON.stringify(value)}`);
  }
  return [parts[0], parts[1]];
}

/** The body + headers of GET embedding/{id} -> Embedding (little-endian float16 body). */
export function parseEmbedding(body: ArrayBuffer, headers: { get(name: string): string | null }): Embedding {
  if (body.byteLength !== EMBED_SIZE * 2) {
    throw new Error(`embedding reply: expected ${EMBED_SIZE * 2} bytes of float16 (1, 256, 64, 64), got ${body.byteLength}`);
  }
  return {
    features: float16ToFloat32(new Uint16Array(body)),
    inputSize: parseSize(headers.get("X-Studio-Input-Size"), "X-Studio-Input-Size"),
    imageSize: parseSize(headers.get("X-Studio-Image-Size"), "X-Studio-Image-Size"),
    segmenterId: headers.get("X-Studio-Segmenter") ?? "",
  };
}

/** Image pixels -> SAM's 1024 frame (ResizeLongestSide.apply_coords with the embedding's
 * input size): x * w_in / W, y * h_in / H. */
export function toModelFrame(x: number, y: number, emb: Pick<Embedding, "inputSize" | "imageSize">): [number, number] {
  return [x * (emb.inputSize[1] / emb.imageSize[1]), y * (emb.inputSize[0] / emb.imageSize[0])];
}

/** The mask_input logits of a step's MaskInput (null: none). `fallback` is the mask to seed
 * from when the input is a server reference (decoder switched mid-object). */
export function maskInputLogits(input: MaskInput | null, fallback: BinMask | null): Float32Array | null {
  if (!input) return null;
  if (input.kind === "logits") return input.logits;
  if (input.kind === "mask") return maskToLogits(input.mask);
  return fallback ? maskToLogits(fallback) : null;
}

export function buildInputs(spec: PromptSpec, emb: Pick<Embedding, "inputSize" | "imageSize">): DecoderInputs {
  const coords: number[] = [];
  const labels: number[] = [];
  spec.points.forEach(([x, y], i) => {
    coords.push(...toModelFrame(x, y, emb));
    labels.push(spec.labels[i]);
  });
  if (spec.box) {
    const [x0, y0, x1, y1] = spec.box;
    coords.push(...toModelFrame(x0, y0, emb), ...toModelFrame(x1, y1, emb));
    labels.push(2, 3);
  } else {
    coords.push(0, 0);
    labels.push(-1);
  }
  const logits = maskInputLogits(spec.maskInput, spec.baseMask);
  return {
    coords: Float32Array.from(coords),
    labels: Float32Array.from(labels),
    n: labels.length,
    maskInput: logits ?? new Float32Array(LOW_RES * LOW_RES),
    hasMaskInput: logits ? 1 : 0,
  };
}

/** Which of the decoder's 4 outputs a step uses: 1..3 (multimask) or 0. */
export function outputIndices(multimask: boolean): number[] {
  return multimask ? [1, 2, 3] : [0];
}
