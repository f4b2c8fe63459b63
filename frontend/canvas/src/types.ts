// The message format, version 1 (plan/workbench.md "The message format"): what Python sends
// as the component's `data`, what the HTTP API answers, and the triggers sent back.
// Image coordinates everywhere: x to the right, y down, in pixels of the stored image.

/** COCO compressed RLE: size [h, w], counts in pycocotools' string form (column-major). */
export interface Rle {
  size: [number, number];
  counts: string;
}

export interface ClassInfo {
  id: number;
  name: string;
  index: number; // display order (1-9 keys pick the first nine)
  color: string; // "#rrggbb"
}

export type AnnotationStatus = "accepted" | "draft" | "rejected";
export type MaskSource = "sam" | "fallback" | "manual";

export interface AnnotationData {
  id: number;
  class_id: number | null;
  status: AnnotationStatus;
  source: string;
  score: number | null;
  rle: Rle;
  bbox: [number, number, number, number]; // [x, y, w, h]
  author?: string;
  version?: number; // counts up with every edit; sent back with an edit (a stale one is refused)
}

export interface ImageInfo {
  id: number;
  url: string;
  width: number;
  height: number;
  file_name: string;
  status?: string;
}

export interface DecoderInfo {
  model_url: string;
  embedding_url: string;
}

export interface SegmenterInfo {
  kind: "sam" | "fallback";
  id: string;
  name: string;
  decoder: DecoderInfo | null;
}

export interface PrefetchItem {
  image_id: number;
  url: string;
  embedding_url: string | null;
}

export interface CanvasSettings {
  opacity?: number; // fill opacity 0..1
  height?: number; // css pixels of the canvas area (default: fills most of the window)
}

/** The component's `data` (built by studio.labelling.protocol.canvas_data). */
export interface CanvasData {
  v: 1;
  api: string;
  assets: string;
  image: ImageInfo | null;
  classes: ClassInfo[];
  class_id: number | null;
  annotations: AnnotationData[];
  revision: number;
  segmenter: SegmenterInfo;
  prefetch: PrefetchItem[];
  selected_id: number | null;
  settings: CanvasSettings;
  build?: string; // bundle version added by studio_ui/canvas.py (cache busting)
}

/** Triggers sent to Streamlit with setTriggerValue("event", ...). */
export type CanvasEvent =
  | { kind: "changed"; revision: number }
  | { kind: "select"; annotation_id: number | null }
  | { kind: "class"; class_id: number }
  | { kind: "open"; image_id: number };

/** The components-v2 argument of the default export (Streamlit 1.67). */
export interface ComponentArgs {
  name: string;
  key: string;
  data: CanvasData;
  parentElement: HTMLElement | ShadowRoot;
  setStateValue: (name: string, value: unknown) => void;
  setTriggerValue: (name: string, value: unknown) => void;
}

// ---- HTTP replies ------------------------------------------------------------------------

export interface PredictReply {
  prediction: string;
  masks: Rle[];
  scores: number[];
  ms: number;
}

export interface AnnotationReply {
  annotation: AnnotationData;
  revision: number;
}

export interface DeleteReply {
  deleted: number;
  revision: number;
}

export interface ClassReply {
  class: ClassInfo;
  classes: ClassInfo[];
  revision: number;
}

/** mask_input of POST predict: a previous server prediction, or a mask. */
export type ServerMaskInput = null | { prediction: string; candidate: number } | { rle: Rle };
