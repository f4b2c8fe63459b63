// Which path decodes a prompt step:
//  - "browser": SAM's decoder in onnxruntime-web on the image's embedding (segmenter kind
//    "sam" with a decoder file);
//  - "server": POST predict (the fallback segmenter always; SAM when the browser decoder or
//    the embedding cannot be loaded, with a note for the annotator).

import { Api } from "./api";
import { encodeRle, decodeRle } from "./rle";
import { embeddingCache, getEmbedding } from "./images";
import type { Embedding } from "./samInputs";
import { SamDecoder } from "./samDecoder";
import { type Prediction, type PromptSpec, byScore, lazyCandidate } from "./session";
import type { SegmenterInfo, ServerMaskInput } from "./types";

export type DecoderStatus = "none" | "loading" | "ready" | "failed";

/** The prompt's mask_input in the form POST predict takes. */
export function serverMaskInput(spec: PromptSpec): ServerMaskInput {
  const input = spec.maskInput;
  if (!input) return null;
  if (input.kind === "server") return { prediction: input.prediction, candidate: input.candidate };
  if (input.kind === "mask") return { rle: encodeRle(input.mask) };
  return spec.baseMask ? { rle: encodeRle(spec.baseMask) } : null;
}

export async function serverDecode(api: Api, imageId: number, spec: PromptSpec, source: "sam" | "fallback"): Promise<Prediction> {
  const reply = await api.predict({
    image_id: imageId,
    points: spec.points,
    labels: spec.labels,
    box: spec.box,
    multimask: spec.multimask,
    mask_input: serverMaskInput(spec),
  });
  const candidates = reply.masks.map((rle, k) =>
    lazyCandidate(reply.scores[k] ?? null, { kind: "server", prediction: reply.prediction, candidate: k }, () =>
      decodeRle(rle),
    ),
  );
  if (!candidates.length) throw new Error("the server's prediction has no mask");
  return { candidates: byScore(candidates), source };
}

const decoders = new Map<string, Promise<SamDecoder>>(); // by segmenter id, shared by the page

export class DecoderHub {
  status: DecoderStatus = "none";
  note: string | null = null; // for people: why the server path is used
  decoder: SamDecoder | null = null;
  waitingFor: string | null = null; // embedding URL being fetched (the server may be computing it)
  private segmenter: SegmenterInfo | null = null;
  private readonly assets: string;
  private readonly onChange: () => void;
  private loading: Promise<SamDecoder> | null = null;

  constructor(assets: string, onChange: () => void) {
    this.assets = assets;
    this.onChange = onChange;
  }

  get path(): "browser" | "server" {
    return this.status === "ready" || this.status === "loading" ? "browser" : "server";
  }

  /** Start loading the browser decoder of `segmenter` (once per segmenter id). */
  configure(segmenter: SegmenterInfo): void {
    if (this.segmenter && this.segmenter.id === segmenter.id && this.segmenter.decoder?.model_url === segmenter.decoder?.model_url) {
      this.segmenter = segmenter;
      return;
    }
    this.segmenter = segmenter;
    this.decoder = null;
    this.note = null;
    if (segmenter.kind !== "sam" || !segmenter.decoder) {
      this.status = "none";
      this.loading = null;
      if (segmenter.kind === "sam") this.note = "SAM decodes on the server (no browser decoder offered)";
      this.onChange();
      return;
    }
    const url = segmenter.decoder.model_url;
    let p = decoders.get(segmenter.id);
    if (!p) {
      p = SamDecoder.load(url, this.assets);
      decoders.set(segmenter.id, p);
      p.catch(() => decoders.delete(segmenter.id));
    }
    this.status = "loading";
    this.loading = p;
    this.onChange();
    p.then(
      (d) => {
        if (this.loading !== p) return;
        this.decoder = d;
        this.status = "ready";
        this.onChange();
      },
      (err: unknown) => {
        if (this.loading !== p) return;
        this.fail(`the browser SAM decoder could not load (${err instanceof Error ? err.message : String(err)}); clicks go to the server`);
      },
    );
  }

  private fail(note: string): void {
    this.status = "failed";
    this.decoder = null;
    this.note = note;
    this.onChange();
  }

  /** The embedding at `url` for the browser path, or null (server path for it). With
   * `imageSize` ([H, W] of the open image), an embedding of another size or of another
   * segmenter is refused with a note. */
  async embedding(url: string | null, imageSize?: [number, number]): Promise<Embedding | null> {
    if (!url || this.status === "failed" || this.status === "none") return null;
    const pending = !embeddingCache.has(url);
    const noteBefore = this.note;
    if (pending) {
      this.waitingFor = url;
      this.onChange();
    }
    try {
      const emb = await getEmbedding(url);
      const id = this.segmenter?.id;
      if (imageSize && (emb.imageSize[0] !== imageSize[0] || emb.imageSize[1] !== imageSize[1])) {
        throw new Error(`it is for a ${emb.imageSize[1]}x${emb.imageSize[0]} image, this one is ${imageSize[1]}x${imageSize[0]}`);
      }
      if (id && emb.segmenterId && emb.segmenterId !== id) {
        throw new Error(`it was computed by ${emb.segmenterId}, not by ${id}`);
      }
      if (this.note?.startsWith("the image embedding")) this.note = null;
      return emb;
    } catch (err) {
      this.note = `the image embedding could not be loaded (${err instanceof Error ? err.message : String(err)}); clicks go to the server`;
      return null;
    } finally {
      if (pending && this.waitingFor === url) this.waitingFor = null;
      if (pending || this.note !== noteBefore) this.onChange();
    }
  }

  /** Wait for the browser decoder if it is loading; null when the server path applies. */
  async ready(): Promise<SamDecoder | null> {
    if (this.status === "loading" && this.loading) {
      try {
        await this.loading;
      } catch {
        return null;
      }
    }
    return this.status === "ready" ? this.decoder : null;
  }

  /** Decode one step: browser when possible, else the server. `path` tells which ran. */
  async decode(
    api: Api,
    imageId: number,
    embeddingUrl: string | null,
    spec: PromptSpec,
    imageSize?: [number, number],
  ): Promise<{ prediction: Prediction; path: "browser" | "server" }> {
    const kind = this.segmenter?.kind ?? "fallback";
    const decoder = await this.ready();
    const emb = decoder ? await this.embedding(embeddingUrl, imageSize) : null;
    if (decoder && emb) {
      try {
        return { prediction: await decoder.decode(emb, spec), path: "browser" };
      } catch (err) {
        this.fail(`the browser SAM decoder failed (${err instanceof Error ? err.message : String(err)}); clicks go to the server`);
      }
    }
    return { prediction: await serverDecode(api, imageId, spec, kind), path: "server" };
  }
}
