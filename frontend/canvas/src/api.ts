// The HTTP calls of the workspace API (plan "canvas -> server: HTTP JSON", all under
// data.api). Errors come back as ApiError carrying the server's {"error": message}.

import type {
  AnnotationData,
  AnnotationReply,
  AnnotationStatus,
  ClassReply,
  DeleteReply,
  MaskSource,
  PredictReply,
  Rle,
  ServerMaskInput,
} from "./types";

export class ApiError extends Error {
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.status = status;
  }
}

/** One request as the test hook records it (the last few are kept). */
export interface RequestRecord {
  method: string;
  path: string; // relative to the API base
  body: unknown;
  status?: number;
  ms?: number;
}

export interface PredictRequest {
  image_id: number;
  points: [number, number][];
  labels: number[];
  box: [number, number, number, number] | null;
  multimask: boolean;
  mask_input: ServerMaskInput;
}

export interface CreateAnnotationRequest {
  image_id: number;
  class_id: number;
  rle: Rle;
  source: MaskSource;
  seconds: number;
  score: number | null;
  annotation_id: number | null;
  version?: number; // with annotation_id: the version edited (a stale edit is refused, HTTP 409)
}

export interface UpdateAnnotationRequest {
  class_id?: number;
  status?: AnnotationStatus;
  version?: number; // the version the annotator saw (a stale edit is refused, HTTP 409)
}

export class Api {
  readonly base: string;
  readonly log: RequestRecord[] = [];

  constructor(base: string) {
    this.base = base.replace(/\/+$/, "");
  }

  url(path: string): string {
    return `${this.base}/${path}`;
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const record: RequestRecord = { method, path, body };
    this.log.push(record);
    if (this.log.length > 50) this.log.shift();
    const t0 = performance.now();
    let response: Response;
    try {
      response = await fetch(this.url(path), {
        method,
        headers: body === undefined ? {} : { "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
      });
    } catch (err) {
      throw new ApiError(`the studio server did not answer (${method} ${path}): ${String(err)}`, 0);
    }
    record.status = response.status;
    record.ms = performance.now() - t0;
    const text = await response.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (!response.ok) {
      const message =
        json && typeof json === "object" && "error" in json ? String((json as { error: unknown }).error) : text.slice(0, 200);
      throw new ApiError(message || `${method} ${path} failed with HTTP ${response.status}`, response.status);
    }
    return json as T;
  }

  predict(req: PredictRequest): Promise<PredictReply> {
    return this.call("POST", "predict", req);
  }

  createAnnotation(req: CreateAnnotationRequest): Promise<AnnotationReply> {
    return this.call("POST", "annotations", req);
  }

  updateAnnotation(id: number, req: UpdateAnnotationRequest): Promise<AnnotationReply> {
    return this.call("POST", `annotations/${id}`, req);
  }

  deleteAnnotation(id: number, version?: number): Promise<DeleteReply> {
    return this.call("DELETE", version === undefined ? `annotations/${id}` : `annotations/${id}?version=${version}`);
  }

  createClass(name: string, color?: string): Promise<ClassReply> {
    return this.call("POST", "classes", color ? { name, color } : { name });
  }
}

export type { AnnotationData };
