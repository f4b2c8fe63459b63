// Image pixels and SAM embeddings, fetched once per image and kept in small LRU caches, so
// the next images (data.prefetch) are decoded before the annotator presses Next.

import { type Embedding, parseEmbedding } from "./samInputs";

export interface LoadedImage {
  id: number;
  width: number;
  height: number;
  bitmap: ImageBitmap; // full resolution
  overview: ImageBitmap | null; // longest side <= OVERVIEW_SIDE, drawn when zoomed out
}

export const OVERVIEW_SIDE = 2048;

async function fetchOk(url: string, what: string): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, { credentials: "same-origin" });
  } catch (err) {
    throw new Error(`${what}: the studio server did not answer (${String(err)})`);
  }
  if (!response.ok) {
    let detail = "";
    try {
      detail = (await response.json()).error ?? "";
    } catch {
      /* not JSON */
    }
    throw new Error(`${what}: HTTP ${response.status}${detail ? ` (${detail})` : ""}`);
  }
  return response;
}

export async function loadImage(id: number, url: string): Promise<LoadedImage> {
  const blob = await (await fetchOk(url, `image ${id}`)).blob();
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(blob);
  } catch {
    throw new Error(`image ${id}: the browser cannot decode this file`);
  }
  const side = Math.max(bitmap.width, bitmap.height);
  let overview: ImageBitmap | null = null;
  if (side > OVERVIEW_SIDE) {
    const f = OVERVIEW_SIDE / side;
    overview = await createImageBitmap(bitmap, {
      resizeWidth: Math.max(Math.round(bitmap.width * f), 1),
      resizeHeight: Math.max(Math.round(bitmap.height * f), 1),
      resizeQuality: "high",
    });
  }
  return { id, width: bitmap.width, height: bitmap.height, bitmap, overview };
}

export async function loadEmbedding(url: string): Promise<Embedding> {
  const response = await fetchOk(url, "embedding");
  return parseEmbedding(await response.arrayBuffer(), response.headers);
}

/** A small LRU of promises keyed by string; failed loads are forgotten (retried next time). */
export class LruCache<T> {
  private readonly entries = new Map<string, Promise<T>>();
  private readonly limit: number;
  private readonly dispose?: (value: T) => void;

  constructor(limit: number, dispose?: (value: T) => void) {
    this.limit = limit;
    this.dispose = dispose;
  }

  get(key: string, load: () => Promise<T>): Promise<T> {
    let p = this.entries.get(key);
    if (p) {
      this.entries.delete(key); // most recent last
      this.entries.set(key, p);
      return p;
    }
    p = load();
    this.entries.set(key, p);
    p.catch(() => {
      if (this.entries.get(key) === p) this.entries.delete(key);
    });
    while (this.entries.size > this.limit) {
      const [oldest, value] = this.entries.entries().next().value as [string, Promise<T>];
      this.entries.delete(oldest);
      if (this.dispose) value.then(this.dispose, () => undefined);
    }
    return p;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** Forget `key` without disposing it. */
  forget(key: string): void {
    this.entries.delete(key);
  }
}

/** Images (5: the open one, 3 ahead, one behind) and embeddings (8), shared by every canvas on the page. */
export const imageCache = new LruCache<LoadedImage>(5, (img) => {
  img.bitmap.close();
  img.overview?.close();
});
export const embeddingCache = new LruCache<Embedding>(8);

export function getImage(id: number, url: string): Promise<LoadedImage> {
  return imageCache.get(`${id}:${url}`, () => loadImage(id, url));
}

export function getEmbedding(url: string): Promise<Embedding> {
  return embeddingCache.get(url, () => loadEmbedding(url));
}
