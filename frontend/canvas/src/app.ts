// One labelling canvas: wires the data from Python, the pointer and the keyboard to the
// prompt session, the decoders, the HTTP API and the renderer. No business rules: saving,
// validation and class logic are the server's; this only sends what changed.

import { AnnotationSet, UNKNOWN_COLOR } from "./annotations";
import { Api, ApiError } from "./api";
import { DecoderHub } from "./decoders";
import { getEmbedding, getImage, type LoadedImage } from "./images";
import { Lookahead } from "./lookahead";
import { type Action, type Tool, captureKeys } from "./keyboard";
import { type BinMask, emptyMask, isEmpty } from "./mask";
import { encodeRle } from "./rle";
import { Renderer } from "./render";
import { type Prediction, PromptSession, type Step, fixedCandidate } from "./session";
import { MaskSprite } from "./sprites";
import { Stroke } from "./stroke";
import type { AnnotationData, AnnotationStatus, CanvasData, CanvasEvent, ClassInfo, ImageInfo, Rle } from "./types";
import { Ui, type UiModel } from "./ui";
import { type View, fitView, panBy, toImage, toScreen, zoomAt, zoomTo } from "./view";
import { Timings, type TimingKind } from "./timing";

const DRAG_MIN_PX = 4; // a press and release further apart (CSS px) is a drag
const DEFAULT_BRUSH = 24; // CSS pixels (diameter)

interface Pending {
  key: number; // negative temporary id
  replaces: number | null; // annotation being replaced (refinement), hidden meanwhile
  sprite: MaskSprite;
  classId: number;
}

type Gesture =
  | { kind: "none" }
  | { kind: "press"; sx: number; sy: number; button: number; shift: boolean; alt: boolean; t0: number }
  | { kind: "box"; x0: number; y0: number; x1: number; y1: number; t0: number }
  | { kind: "pan"; sx: number; sy: number; view: View }
  | { kind: "stroke"; stroke: Stroke };

/** Values this canvas sent to Python: a rerun that echoes an older one (the annotator has
 * picked again since) must not undo the newer choice. */
class Echo {
  private readonly values: (number | null)[] = [];

  sent(value: number | null): void {
    this.values.push(value);
    if (this.values.length > 20) this.values.shift();
  }

  /** True when `value` is one of ours but not the latest. */
  stale(value: number | null): boolean {
    const last = this.values.length ? this.values[this.values.length - 1] : undefined;
    return this.values.includes(value) && value !== last;
  }
}

export class CanvasApp {
  readonly host: HTMLElement | ShadowRoot;
  readonly ui: Ui;
  readonly renderer: Renderer;
  readonly timings = new Timings();
  data: CanvasData;
  api: Api;
  hub: DecoderHub;
  private setTrigger: (name: string, value: unknown) => void;

  // image and annotations
  imageInfo: ImageInfo | null = null;
  image: LoadedImage | null = null;
  imageError: string | null = null;
  readonly annotations = new AnnotationSet();
  classes: ClassInfo[] = [];
  classId: number | null = null;
  revision = -1;
  private pendingAnnotations: Pending[] = [];
  private nextPendingKey = -1;

  // what the annotator is doing
  session: PromptSession;
  private pendingSteps: Step[] = [];
  private chain: Promise<void> = Promise.resolve();
  private classChosen = false; // a class key was pressed during this session
  selectedId: number | null = null;
  hoverId: number | null = null;
  tool: Tool = "point";
  positive = true;
  brushSize = DEFAULT_BRUSH;
  opacity = 0.45;
  hiddenClasses = new Set<number>();
  showRejected = false;
  showAnnotations = true;
  private gesture: Gesture = { kind: "none" };
  private space = false;
  private pointerInside = false;
  private pointer: { sx: number; sy: number } | null = null;
  private fitted = false;
  private heightStale = false; // fitHeight was asked for during a gesture
  private fixedHeight: number | null = null; // data.settings.height, CSS px

  // the hover preview and the press's decode (browser SAM only): clicks reuse them
  private readonly lookahead = new Lookahead({
    previewAllowed: () => this.previewAllowed(),
    decodeFirstPoint: (x, y) => this.decodeFirstPoint(x, y),
    sessionToken: () => this.session,
    pressing: () => this.gesture.kind === "press",
    nextFrame: () => this.nextFrame(),
    previewColor: () => this.classColor(this.classId),
    previewShown: (t0, answered) => {
      this.mark("hover", t0, "browser", answered);
      this.invalidate("overlay");
    },
  });

  message: { text: string; kind: "error" | "info" } | null = null;
  private messageTimer = 0;
  busy = 0;
  sent: CanvasEvent[] = []; // triggers sent (last 50), for tests
  private readonly classEcho = new Echo();
  private readonly selectEcho = new Echo();

  private dirty = { scene: true, overlay: true, ui: true };
  private frame = 0;
  private marks: { kind: TimingKind; t0: number; path: string; answered?: number }[] = [];
  private frameWaiters: (() => void)[] = [];
  private readonly cleanups: (() => void)[] = [];
  private destroyed = false;

  constructor(host: HTMLElement | ShadowRoot, data: CanvasData, setTrigger: (name: string, value: unknown) => void) {
    this.host = host;
    this.data = data;
    this.setTrigger = setTrigger;
    this.api = new Api(data.api);
    this.hub = new DecoderHub(data.assets, () => this.invalidate("ui"));
    this.session = new PromptSession(data.image?.id ?? 0);
    this.ui = new Ui(this.uiActions());
    this.renderer = new Renderer(this.ui.scene, this.ui.overlay, (layer) => this.invalidate(layer));
    host.append(this.ui.root);
    this.listen();
    this.update(data, null);
  }

  // ---- data from Python ----------------------------------------------------------------

  /** Apply a new `data` (every rerun of the page): in-progress prompts on the same image
   * are kept; a new image id swaps to it (instantly when prefetched). */
  update(data: CanvasData, previous: CanvasData | null, setTrigger?: (name: string, value: unknown) => void): void {
    this.data = data;
    if (setTrigger) this.setTrigger = setTrigger;
    if (!previous || previous.api !== data.api) this.api = new Api(data.api);
    this.hub.configure(data.segmenter);
    this.fixedHeight = data.settings?.height ?? null;
    this.fitHeight();
    if (!previous || previous.settings?.opacity !== data.settings?.opacity) {
      if (typeof data.settings?.opacity === "number") this.opacity = data.settings.opacity;
    }
    const fresh = data.revision >= this.revision;
    if (fresh) {
      this.classes = [...data.classes].sort((a, b) => a.index - b.index);
      this.revision = data.revision;
    }
    const classChanged = !previous || previous.class_id !== data.class_id;
    if ((classChanged && !this.classEcho.stale(data.class_id)) || !this.classes.some((c) => c.id === this.classId)) {
      this.classId = data.class_id ?? this.classes[0]?.id ?? null;
    }
    const imageId = data.image?.id ?? null;
    if (imageId !== (this.imageInfo?.id ?? null)) {
      this.openImage(data.image, data);
    } else if (fresh) {
      this.imageInfo = data.image;
      this.annotations.sync(data.annotations, this.classes);
      this.pruneSelection();
    }
    if (previous && previous.selected_id !== data.selected_id && data.selected_id !== this.selectedId && !this.selectEcho.stale(data.selected_id)) {
      this.select(data.selected_id, false);
    }
    this.prefetch(data);
    this.invalidate("scene", "overlay", "ui");
  }

  private openImage(info: ImageInfo | null, data: CanvasData): void {
    this.imageInfo = info;
    this.image = null;
    this.imageError = null;
    this.fitted = false;
    this.session = new PromptSession(info?.id ?? 0);
    this.pendingSteps = [];
    this.pendingAnnotations = [];
    this.chain = Promise.resolve();
    this.classChosen = false;
    this.lookahead.reset();
    this.hoverId = null;
    this.selectedId = data.selected_id ?? null;
    this.annotations.sync(info ? data.annotations : [], this.classes);
    this.pruneSelection();
    this.ui.loading.hidden = false;
    this.ui.loading.textContent = info ? "Loading image…" : "No image open.";
    if (!info) return;
    if (data.segmenter.decoder && data.segmenter.decoder.embedding_url) {
      void this.hub.embedding(data.segmenter.decoder.embedding_url); // warm the first click
    }
    const id = info.id;
    getImage(id, info.url).then(
      (img) => {
        if (this.destroyed || this.imageInfo?.id !== id) return;
        this.image = img;
        this.ui.loading.hidden = true;
        this.fitView();
        this.invalidate("scene", "overlay", "ui");
      },
      (err: unknown) => {
        if (this.imageInfo?.id !== id) return;
        this.imageError = `${info.file_name}: ${err instanceof Error ? err.message : String(err)}`;
        this.ui.loading.textContent = this.imageError;
        this.flash(this.imageError, "error", 0);
      },
    );
  }

  private prefetch(data: CanvasData): void {
    const current = data.image ? getImage(data.image.id, data.image.url) : Promise.resolve(null);
    const items = (data.prefetch ?? []).slice(0, 3);
    // after the open image, so the prefetch does not slow it down
    current
      .catch(() => null)
      .then(() => {
        for (const item of items) {
          getImage(item.image_id, item.url).catch(() => undefined);
          if (item.embedding_url && this.hub.status !== "failed" && this.hub.status !== "none") {
            getEmbedding(item.embedding_url).catch(() => undefined);
          }
        }
      });
  }

  private pruneSelection(): void {
    if (this.selectedId !== null && !this.annotations.get(this.selectedId)) {
      this.selectedId = null;
      if (this.session.seed && !this.session.hasSteps) this.session = new PromptSession(this.session.imageId);
    }
  }

  // ---- helpers -------------------------------------------------------------------------

  get imageSize(): { width: number; height: number } {
    return this.image ?? { width: this.imageInfo?.width ?? 1, height: this.imageInfo?.height ?? 1 };
  }

  get view(): View {
    return this.renderer.view;
  }

  private set view(v: View) {
    this.renderer.view = v;
    this.invalidate("scene", "overlay", "ui");
  }

  private get viewport(): { width: number; height: number } {
    return this.renderer.size;
  }

  get visibility(): { hiddenClasses: Set<number>; showRejected: boolean; showAnnotations: boolean } {
    return { hiddenClasses: this.hiddenClasses, showRejected: this.showRejected, showAnnotations: this.showAnnotations };
  }

  classColor(id: number | null): string {
    return this.classes.find((c) => c.id === id)?.color ?? UNKNOWN_COLOR;
  }

  /** The class an Accept would store: the refined annotation's own class unless a class was
   * picked during this session, else the current class. */
  acceptClassId(): number | null {
    const seedId = this.session.editingAnnotationId;
    if (seedId !== null && !this.classChosen) return this.annotations.get(seedId)?.data.class_id ?? this.classId;
    return this.classId;
  }

  private trigger(event: CanvasEvent): void {
    if (event.kind === "class") this.classEcho.sent(event.class_id);
    if (event.kind === "select") this.selectEcho.sent(event.annotation_id);
    this.sent.push(event);
    if (this.sent.length > 50) this.sent.shift();
    try {
      this.setTrigger("event", event);
    } catch {
      /* outside Streamlit (tests) */
    }
  }

  flash(text: string, kind: "error" | "info" = "info", ms = 4000): void {
    this.message = { text, kind };
    clearTimeout(this.messageTimer);
    if (ms > 0) {
      this.messageTimer = window.setTimeout(() => {
        this.message = null;
        this.invalidate("ui");
      }, ms);
    }
    this.invalidate("ui");
  }

  private failure(err: unknown, what: string): void {
    const text = err instanceof ApiError || err instanceof Error ? err.message : String(err);
    this.flash(`${what}: ${text}`, "error", 8000);
    // someone else changed it (a stale edit) or holds the image: the page re-reads the state
    if (err instanceof ApiError && err.status === 409) this.trigger({ kind: "changed", revision: this.revision });
  }

  /** The version of a stored annotation as this canvas last saw it (undefined: not stored). */
  private versionOf(id: number | null): number | undefined {
    return id === null || id < 0 ? undefined : this.annotations.get(id)?.data.version;
  }

  // ---- rendering -----------------------------------------------------------------------

  invalidate(...layers: ("scene" | "overlay" | "ui")[]): void {
    for (const l of layers) this.dirty[l] = true;
    if (!this.frame && !this.destroyed) this.frame = requestAnimationFrame(() => this.draw());
  }

  /** Resolves after the next frame is drawn. */
  nextFrame(): Promise<void> {
    return new Promise((resolve) => {
      this.frameWaiters.push(resolve);
      this.invalidate();
    });
  }

  /** Main-thread time of the last frames, ms (scene + overlay + controls); for benchmarks. */
  readonly frameTimes: { at: number; ms: number; scene: boolean }[] = [];

  private draw(): void {
    this.frame = 0;
    if (this.destroyed) return;
    const t0 = performance.now();
    const { scene, overlay, ui } = this.dirty;
    this.dirty = { scene: false, overlay: false, ui: false };
    if (scene) this.renderer.drawScene(this.sceneState());
    if (overlay) this.renderer.drawOverlay(this.overlayState());
    if (ui) this.ui.update(this.model());
    const now = performance.now();
    this.frameTimes.push({ at: t0, ms: now - t0, scene });
    if (this.frameTimes.length > 240) this.frameTimes.shift();
    for (const m of this.marks.splice(0)) this.timings.record(m.kind, now - m.t0, m.path, m.t0, now, m.answered);
    for (const w of this.frameWaiters.splice(0)) w();
  }

  /** A timing mark ending with the next frame; `answered`: when the segmenter's answer arrived. */
  private mark(kind: TimingKind, t0: number, path: string, answered?: number): void {
    this.marks.push({ kind, t0, path, answered });
  }

  private sceneState() {
    const replaced = new Set(this.pendingAnnotations.map((p) => p.replaces));
    const shown = this.annotations
      .visible(this.visibility)
      .filter((s) => !replaced.has(s.data.id))
      .map((s) => ({ id: s.data.id, sprite: s.sprite, status: s.data.status }));
    const pending = this.pendingAnnotations.map((p) => ({ id: p.key, sprite: p.sprite, status: "accepted" as const, pending: true }));
    return {
      image: this.image,
      annotations: [...shown, ...(this.showAnnotations ? pending : [])],
      opacity: this.opacity,
      selectedId: this.selectedId,
      hoverId: this.hoverId,
    };
  }

  private workingSprite: MaskSprite | null = null;

  private overlayState() {
    const g = this.gesture;
    let working: MaskSprite | null = null;
    if (g.kind === "stroke") {
      working = g.stroke.sprite;
    } else {
      const mask = this.session.mask;
      const color = this.classColor(this.acceptClassId());
      if (mask && (this.workingSprite?.mask !== mask || this.workingSprite.color !== color)) {
        this.workingSprite = new MaskSprite(mask, color);
      }
      working = mask ? this.workingSprite : null;
    }
    let brush: { x: number; y: number; radius: number; erase: boolean } | null = null;
    if ((this.tool === "brush" || this.tool === "eraser") && this.pointer && this.pointerInside && !this.space) {
      const [x, y] = toImage(this.view, this.pointer.sx, this.pointer.sy);
      brush = { x, y, radius: this.brushSize / 2 / this.view.scale, erase: this.tool === "eraser" };
    }
    return {
      working,
      stroking: g.kind === "stroke",
      preview: this.lookahead.preview && this.previewAllowed() ? this.lookahead.preview.sprite : null,
      steps: this.session.steps,
      pending: this.pendingSteps,
      drag: g.kind === "box" ? ([g.x0, g.y0, g.x1, g.y1] as [number, number, number, number]) : null,
      brush,
      opacity: this.opacity,
    };
  }

  model(): UiModel {
    const cur = this.session.current;
    const objects = [
      ...this.annotations
        .all()
        .filter((s) => s.data.status !== "rejected" || this.showRejected || s.data.id === this.selectedId)
        .map((s) => ({
          id: s.data.id,
          classId: s.data.class_id,
          className: this.classes.find((c) => c.id === s.data.class_id)?.name ?? "(no class)",
          color: this.classColor(s.data.class_id),
          status: s.data.status,
          score: s.data.score,
          area: s.area,
          pending: false,
        })),
      ...this.pendingAnnotations
        .filter((p) => p.replaces === null)
        .map((p) => ({
          id: p.key,
          classId: p.classId,
          className: this.classes.find((c) => c.id === p.classId)?.name ?? "",
          color: this.classColor(p.classId),
          status: "accepted" as AnnotationStatus,
          score: null,
          area: 0,
          pending: true,
        })),
    ].sort((a, b) => (a.pending ? 1e12 : a.id) - (b.pending ? 1e12 : b.id));
    const info = this.imageInfo;
    const threads = this.hub.decoder?.threads ?? 1;
    let decoder =
      this.hub.status === "ready"
        ? `SAM in the browser (WASM, ${threads} thread${threads > 1 ? "s" : ""})`
        : this.hub.status === "loading"
          ? "loading the SAM decoder…"
          : `${this.data.segmenter?.name ?? "segmenter"} (server)`;
    if (this.hub.waitingFor && this.hub.waitingFor === this.embeddingUrl()) decoder += " · waiting for this image's embedding…";
    const selected = this.selectedId !== null ? this.annotations.get(this.selectedId) : undefined;
    return {
      tool: this.tool,
      positive: this.positive,
      brushSize: this.brushSize,
      zoom: this.view.scale,
      opacity: this.opacity,
      classes: this.classes,
      classId: this.classId,
      hiddenClasses: this.hiddenClasses,
      showRejected: this.showRejected,
      showAnnotations: this.showAnnotations,
      objects,
      selectedId: this.selectedId,
      hoverId: this.hoverId,
      canUndo: this.session.history.length > 0,
      canRedo: this.session.redoStack.length > 0,
      hasPrompt: this.session.hasSteps || this.pendingSteps.length > 0,
      canAccept: this.session.mask !== null || this.pendingSteps.length > 0 || (selected !== undefined && selected.data.status !== "accepted"),
      candidate: cur ? { index: this.session.candidate, count: this.session.candidates, score: cur.score } : null,
      editingId: this.session.editingAnnotationId,
      image: info ? `${info.file_name} · ${info.width}×${info.height}` : "no image",
      decoder,
      note: this.hub.note,
      message: this.message,
      busy: this.busy > 0 || this.pendingSteps.length > 0,
    };
  }

  // ---- view ----------------------------------------------------------------------------

  fitView(): void {
    if (!this.image) return;
    this.view = fitView(this.imageSize, this.viewport);
    // a fit while the stage has no real size yet (mounting, a hidden column) is redone on the
    // first real resize: else its tiny scale (e.g. 0.0004) would stay, and a brush be huge
    this.fitted = !degenerate(this.viewport);
  }

  zoom(factor: number, sx?: number, sy?: number): void {
    const cx = sx ?? this.viewport.width / 2;
    const cy = sy ?? this.viewport.height / 2;
    this.view = zoomAt(this.view, factor, cx, cy, this.imageSize, this.viewport);
  }

  /** Bring an annotation into view when it is off screen. */
  private reveal(id: number): void {
    const s = this.annotations.get(id);
    if (!s || !this.image) return;
    const [x, y, w, h] = s.data.bbox;
    const [ax, ay] = toScreen(this.view, x, y);
    const [bx, by] = toScreen(this.view, x + w, y + h);
    const vw = this.viewport.width;
    const vh = this.viewport.height;
    if (ax >= 0 && ay >= 0 && bx <= vw && by <= vh) return;
    const cx = (x + w / 2) * this.view.scale + this.view.tx;
    const cy = (y + h / 2) * this.view.scale + this.view.ty;
    this.view = panBy(this.view, vw / 2 - cx, vh / 2 - cy, this.imageSize, this.viewport);
  }

  // ---- pointer -------------------------------------------------------------------------

  private listen(): void {
    const el = this.ui.overlay;
    const local = (e: MouseEvent): [number, number] => {
      const r = el.getBoundingClientRect();
      return [e.clientX - r.left, e.clientY - r.top];
    };
    el.addEventListener("pointerdown", (e) => this.onDown(e, ...local(e)));
    el.addEventListener("pointermove", (e) => this.onMove(e, ...local(e)));
    el.addEventListener("pointerup", (e) => this.onUp(e));
    el.addEventListener("pointercancel", () => {
      this.gesture = { kind: "none" };
      this.lookahead.endPress();
      if (this.heightStale) this.fitHeight();
      this.invalidate("overlay");
    });
    el.addEventListener("pointerenter", () => {
      this.pointerInside = true;
    });
    el.addEventListener("pointerleave", () => {
      this.pointerInside = false;
      this.lookahead.leave();
      if (this.hoverId !== null) {
        this.hoverId = null;
        this.invalidate("scene", "ui");
      }
      this.invalidate("overlay");
    });
    el.addEventListener(
      "wheel",
      (e) => {
        e.preventDefault();
        const [sx, sy] = local(e);
        const delta = e.deltaMode === 1 ? e.deltaY * 16 : e.deltaMode === 2 ? e.deltaY * 400 : e.deltaY;
        this.zoom(Math.exp(-delta * 0.0015), sx, sy);
        this.pointer = { sx, sy };
      },
      { passive: false },
    );
    el.addEventListener("contextmenu", (e) => e.preventDefault());
    el.addEventListener("auxclick", (e) => e.preventDefault());
    const resize = new ResizeObserver(() => this.onResize());
    resize.observe(this.ui.stage);
    // the page around us changes (content above grows, the window resizes): refit the height
    const page = new ResizeObserver(() => this.fitHeight());
    page.observe(document.documentElement);
    const onWindow = (): void => this.fitHeight();
    window.addEventListener("resize", onWindow);
    this.cleanups.push(() => {
      resize.disconnect();
      page.disconnect();
      window.removeEventListener("resize", onWindow);
    });
    this.cleanups.push(
      captureKeys({
        action: (a, e) => this.onAction(a, e.timeStamp),
        space: (down) => {
          if (down && !this.pointerInside && !this.space) return false;
          this.space = down;
          this.ui.stage.dataset.mode = down ? "pan" : this.cursorMode();
          this.invalidate("overlay");
          return true;
        },
      }),
    );
  }

  /** The stage's height: data.settings.height, else what fits the window below the stage's
   * top (in page coordinates, so scrolling does not change it), at least 360 CSS px. */
  fitHeight(): void {
    if (this.gesture.kind !== "none") {
      // never resize under a drag: the image would move under the pointer (an eraser stroke
      // landed ~100 image px off when a rerun arrived mid-drag); done when the gesture ends
      this.heightStale = true;
      return;
    }
    this.heightStale = false;
    let height = this.fixedHeight;
    if (!height) {
      const top = this.ui.stage.getBoundingClientRect().top + window.scrollY;
      height = Math.max(Math.round(window.innerHeight - top - 40), 360);
    }
    const value = `${height}px`;
    if (this.ui.root.style.getPropertyValue("--sc-height") !== value) this.ui.root.style.setProperty("--sc-height", value);
  }

  private onResize(): void {
    const r = this.ui.stage.getBoundingClientRect();
    const size = { width: Math.max(r.width, 1), height: Math.max(r.height, 1) };
    const old = this.renderer.size;
    this.renderer.resize(size, window.devicePixelRatio || 1);
    if (!this.fitted || degenerate(old)) this.fitView();
    else if (this.pointerInside) {
      // the annotator is pointing at the image: it stays put on the page (the stage's top-left
      // does not move when the page around it changes the stage's height)
    } else {
      // keep the image centre where it was
      const v = this.view;
      this.view = { scale: v.scale, tx: v.tx + (size.width - old.width) / 2, ty: v.ty + (size.height - old.height) / 2 };
    }
    this.invalidate("scene", "overlay", "ui");
  }

  private cursorMode(): string {
    if (this.tool === "brush" || this.tool === "eraser") return "brush";
    return this.hoverId !== null && !this.session.hasSteps ? "select" : "draw";
  }

  private onDown(e: PointerEvent, sx: number, sy: number): void {
    if (!this.image) return;
    this.ui.overlay.setPointerCapture(e.pointerId);
    this.pointer = { sx, sy };
    if (e.button === 1 || (e.button === 0 && this.space)) {
      e.preventDefault();
      this.gesture = { kind: "pan", sx, sy, view: this.view };
      this.ui.stage.dataset.mode = "panning";
      return;
    }
    const [x, y] = toImage(this.view, sx, sy);
    if (e.button === 0 && (this.tool === "brush" || this.tool === "eraser")) {
      this.startStroke(x, y);
      return;
    }
    if (e.button === 0 && this.tool === "box") {
      const [cx, cy] = this.clampToImage(x, y);
      this.gesture = { kind: "box", x0: cx, y0: cy, x1: cx, y1: cy, t0: e.timeStamp };
      return;
    }
    if (e.button === 0 || e.button === 2) {
      this.gesture = { kind: "press", sx, sy, button: e.button, shift: e.shiftKey, alt: e.altKey, t0: e.timeStamp };
      if (e.button === 0 && !e.altKey) this.decodeOnPress(x, y, e.shiftKey);
    }
  }

  /** Start decoding the point under a press now: a click is released ~100 ms after its press, so
   * the click's mask is (nearly) ready at pointer up. Only where the release would add the first
   * positive point of a new object. */
  private decodeOnPress(x: number, y: number, shift: boolean): void {
    this.lookahead.endPress();
    if (!this.positive || this.hub.status !== "ready" || this.tool !== "point") return;
    if (!this.startsNewObject() || this.selectedId !== null) return;
    if (!this.inside(x, y) || (!shift && this.annotations.hit(x, y, this.visibility))) return; // a press on a mask selects it
    this.lookahead.press(Math.floor(x), Math.floor(y));
  }

  /** The browser decode of image pixel (x, y) as the first positive point of a new object. */
  private decodeFirstPoint(x: number, y: number): Promise<Prediction> | null {
    const decoder = this.hub.decoder;
    const url = this.embeddingUrl();
    const info = this.imageInfo;
    if (!decoder || !url || !info) return null;
    const spec = this.session.promptWith({ kind: "point", x, y, positive: true });
    return this.hub.embedding(url, [info.height, info.width]).then((emb) => {
      if (!emb) throw new Error("no embedding for the browser decoder");
      if (url !== this.embeddingUrl()) throw new Error("another image or segmenter meanwhile"); // the click decodes itself
      return decoder.decode(emb, spec);
    });
  }

  private onMove(e: PointerEvent, sx: number, sy: number): void {
    this.pointer = { sx, sy };
    const g = this.gesture;
    if (g.kind === "pan") {
      this.view = panBy(g.view, sx - g.sx, sy - g.sy, this.imageSize, this.viewport);
      return;
    }
    const [x, y] = toImage(this.view, sx, sy);
    if (g.kind === "stroke") {
      const points = (e.getCoalescedEvents?.() ?? [e]).map((c) => {
        const r = this.ui.overlay.getBoundingClientRect();
        return toImage(this.view, c.clientX - r.left, c.clientY - r.top);
      });
      for (const p of points) g.stroke.to(p);
      this.invalidate("overlay");
      return;
    }
    if (g.kind === "press" && g.button === 0 && Math.hypot(sx - g.sx, sy - g.sy) >= DRAG_MIN_PX) {
      const [ax, ay] = this.clampToImage(...toImage(this.view, g.sx, g.sy));
      this.gesture = { kind: "box", x0: ax, y0: ay, x1: ax, y1: ay, t0: g.t0 };
    }
    const g2 = this.gesture;
    if (g2.kind === "box") {
      const [cx, cy] = this.clampToImage(x, y);
      g2.x1 = cx;
      g2.y1 = cy;
      this.invalidate("overlay");
      return;
    }
    if (g.kind === "none") this.hover(x, y, e.shiftKey, e.timeStamp);
    if (this.tool === "brush" || this.tool === "eraser") this.invalidate("overlay");
  }

  private onUp(e: PointerEvent): void {
    const g = this.gesture;
    this.gesture = { kind: "none" };
    if (g.kind !== "press") this.lookahead.endPress(); // the press became a drag
    if (this.heightStale) this.fitHeight();
    if (this.ui.overlay.hasPointerCapture(e.pointerId)) this.ui.overlay.releasePointerCapture(e.pointerId);
    this.ui.stage.dataset.mode = this.space ? "pan" : this.cursorMode();
    if (g.kind === "pan") return;
    if (g.kind === "stroke") {
      this.endStroke(g.stroke);
      return;
    }
    if (g.kind === "box") {
      const box: [number, number, number, number] = [
        Math.min(g.x0, g.x1),
        Math.min(g.y0, g.y1),
        Math.max(g.x0, g.x1),
        Math.max(g.y0, g.y1),
      ];
      this.invalidate("overlay");
      if (box[2] - box[0] < 1 || box[3] - box[1] < 1) {
        this.flash("that box is too small: drag a box at least 2 pixels wide and high", "error");
        return;
      }
      this.addStep({ kind: "box", box }, e.timeStamp);
      return;
    }
    if (g.kind === "press") {
      // a click lands where it was pressed (it moved less than DRAG_MIN_PX): the press's decode fits it
      const [x, y] = toImage(this.view, g.sx, g.sy);
      this.click(x, y, { shift: g.shift || e.shiftKey, negative: g.alt || e.altKey || g.button === 2 }, e.timeStamp);
    }
    this.lookahead.endPress();
  }

  private clampToImage(x: number, y: number): [number, number] {
    const { width, height } = this.imageSize;
    return [Math.min(Math.max(Math.floor(x), 0), width - 1), Math.min(Math.max(Math.floor(y), 0), height - 1)];
  }

  private inside(x: number, y: number): boolean {
    const { width, height } = this.imageSize;
    return x >= 0 && y >= 0 && x < width && y < height;
  }

  /** A click at image point (x, y): select an annotation, or add a point. */
  click(x: number, y: number, mods: { shift: boolean; negative: boolean }, t0: number): void {
    if (!this.image) return;
    if (!this.inside(x, y)) {
      this.flash(`click at (${Math.round(x)}, ${Math.round(y)}) is outside the ${this.imageSize.width}×${this.imageSize.height} image`, "error");
      return;
    }
    const prompting = this.session.hasSteps || this.pendingSteps.length > 0;
    if (!prompting && !mods.shift) {
      const hit = this.annotations.hit(x, y, this.visibility);
      if (hit && hit.data.id !== this.selectedId) {
        this.select(hit.data.id, true);
        return;
      }
    }
    if (this.tool === "box") return;
    const positive = this.positive !== mods.negative;
    this.addStep({ kind: "point", x: Math.floor(x), y: Math.floor(y), positive }, t0);
  }

  // ---- prompt steps --------------------------------------------------------------------

  /** Start a session on the selected annotation when there is no prompt yet. */
  private ensureSession(): void {
    if (this.session.hasSteps || this.pendingSteps.length) return;
    const sel = this.selectedId !== null ? this.annotations.get(this.selectedId) : undefined;
    const seedId = this.session.editingAnnotationId;
    if (sel && seedId !== sel.data.id) {
      const source = sel.data.source === "sam" || sel.data.source === "fallback" ? sel.data.source : "manual";
      this.session = new PromptSession(this.session.imageId, { annotationId: sel.data.id, mask: sel.mask, source });
      this.classChosen = false;
    } else if (!sel && seedId !== null) {
      this.session = new PromptSession(this.session.imageId);
      this.classChosen = false;
    }
  }

  addStep(step: Step, t0: number): void {
    if (!this.imageInfo) return;
    this.ensureSession();
    const session = this.session;
    const reuse = this.reusablePrediction(step);
    this.pendingSteps.push(step);
    this.lookahead.dropPreview();
    this.invalidate("overlay", "ui");
    this.chain = this.chain.then(() => this.runStep(session, step, t0, reuse));
  }

  /** A click on the pixel the hover preview shows (or is decoding) reuses that answer: the
   * same prompt (one positive point, a new object) gives the same 3 candidates. */
  private reusablePrediction(step: Step): Promise<Prediction> | null {
    if (step.kind !== "point" || !step.positive || !this.startsNewObject()) return null;
    return this.lookahead.decodeOf(step.x, step.y);
  }

  /** Whether the next point starts a new object (no prompt yet, none pending, no seed mask). */
  private startsNewObject(): boolean {
    return !this.session.hasSteps && !this.session.seed && this.pendingSteps.length === 0;
  }

  private async runStep(session: PromptSession, step: Step, t0: number, reuse: Promise<Prediction> | null): Promise<void> {
    try {
      if (session !== this.session || !this.imageInfo) return;
      const spec = session.promptWith(step);
      let prediction: Prediction | null = null;
      let path = "browser";
      if (reuse && spec.multimask && spec.points.length === 1) prediction = await reuse.catch(() => null);
      if (!prediction) {
        const size: [number, number] | undefined = this.imageInfo ? [this.imageInfo.height, this.imageInfo.width] : undefined;
        const out = await this.hub.decode(this.api, session.imageId, this.embeddingUrl(), spec, size);
        prediction = out.prediction;
        path = out.path;
      }
      if (session !== this.session) return;
      const answered = performance.now();
      session.push(step, prediction);
      session.mask; // upscale now: "mask visible" includes it
      this.mark("click", t0, path, answered);
    } catch (err) {
      this.failure(err, "the segmenter could not answer");
    } finally {
      const i = this.pendingSteps.indexOf(step);
      if (i >= 0) this.pendingSteps.splice(i, 1);
      this.invalidate("overlay", "ui");
    }
  }

  private embeddingUrl(): string | null {
    return this.data.segmenter?.decoder?.embedding_url ?? null;
  }

  undo(): boolean {
    if (!this.session.undo()) return false;
    this.invalidate("overlay", "ui");
    return true;
  }

  redo(): boolean {
    if (!this.session.redo()) return false;
    this.invalidate("overlay", "ui");
    return true;
  }

  clearPrompts(): boolean {
    if (!this.session.hasSteps) return false;
    this.session.clear();
    this.invalidate("overlay", "ui");
    return true;
  }

  cycle(delta: 1 | -1): boolean {
    if (this.session.candidates < 2) return false;
    this.session.cycle(delta);
    this.invalidate("overlay", "ui");
    return true;
  }

  // ---- brush ---------------------------------------------------------------------------

  private startStroke(x: number, y: number): void {
    this.ensureSession();
    const erase = this.tool === "eraser";
    const base: BinMask | null = this.session.baseMask;
    if (!base && erase) {
      this.flash("nothing to erase: select an object or make a mask first", "error");
      return;
    }
    const { width, height } = this.imageSize;
    const radius = this.brushSize / 2 / this.view.scale;
    const stroke = new Stroke(base ?? emptyMask(width, height), [x, y], radius, erase, this.classColor(this.acceptClassId()));
    this.lookahead.dropPreview();
    this.gesture = { kind: "stroke", stroke };
    this.invalidate("overlay");
  }

  private endStroke(stroke: Stroke): void {
    const { step, mask } = stroke.finish();
    this.session.push(step, { candidates: [fixedCandidate(mask, null)], source: "manual" });
    this.invalidate("overlay", "ui");
  }

  // ---- hover ---------------------------------------------------------------------------

  private previewAllowed(): boolean {
    return (
      this.hub.status === "ready" &&
      this.tool === "point" &&
      !this.space &&
      !this.session.hasSteps &&
      this.pendingSteps.length === 0 &&
      this.selectedId === null &&
      this.gesture.kind === "none" &&
      this.pointerInside
    );
  }

  private hover(x: number, y: number, shift: boolean, t0: number): void {
    if (!this.image) return;
    const prompting = this.session.hasSteps || this.pendingSteps.length > 0;
    const hit = !prompting && !shift && this.inside(x, y) ? this.annotations.hit(x, y, this.visibility) : null;
    const id = hit?.data.id ?? null;
    if (id !== this.hoverId) {
      this.hoverId = id;
      this.ui.stage.dataset.mode = this.space ? "pan" : this.cursorMode();
      this.invalidate("scene", "ui");
    }
    if (!this.previewAllowed() || id !== null || !this.inside(x, y)) {
      if (this.lookahead.stop()) this.invalidate("overlay");
      return;
    }
    this.lookahead.hover(Math.floor(x), Math.floor(y), t0, this.pointer ?? undefined);
  }

  // ---- selection and annotation actions ------------------------------------------------

  select(id: number | null, notify: boolean): void {
    if (id !== null && !this.annotations.get(id)) id = null;
    if (id === this.selectedId) return;
    this.selectedId = id;
    this.lookahead.dropPreview();
    // prompts in progress are kept (Accept stores them as before); an empty session starts
    // over, so the next click refines the newly selected object
    if (!this.session.hasSteps && this.pendingSteps.length === 0) {
      this.session = new PromptSession(this.session.imageId);
      this.classChosen = false;
    }
    if (id !== null) this.reveal(id);
    this.invalidate("scene", "overlay", "ui");
    if (notify) this.trigger({ kind: "select", annotation_id: id });
  }

  /** 1-9 or a chip: re-class the selected object (no prompt in progress) or pick the class. */
  pickClass(id: number): void {
    const prompting = this.session.hasSteps || this.pendingSteps.length > 0;
    if (this.selectedId !== null && !prompting) {
      void this.updateAnnotation(this.selectedId, { class_id: id });
      return;
    }
    this.classId = id;
    this.classChosen = true;
    this.invalidate("overlay", "ui");
    this.trigger({ kind: "class", class_id: id });
  }

  async accept(t0 = performance.now()): Promise<boolean> {
    if (this.pendingSteps.length) await this.chain;
    const mask = this.session.mask;
    if (!mask) {
      const sel = this.selectedId !== null ? this.annotations.get(this.selectedId) : undefined;
      if (sel && sel.data.status !== "accepted") return this.updateAnnotation(sel.data.id, { status: "accepted" });
      this.flash(sel ? `#${sel.data.id} is already accepted: click, brush or erase to change it, Esc for a new object`
                     : "nothing to accept yet: click inside an object first", "error");
      return false;
    }
    const classId = this.acceptClassId();
    if (classId === null) {
      this.flash("this dataset has no classes yet: add your first class (the field above the image)", "error", 8000);
      return false;
    }
    if (isEmpty(mask)) {
      this.flash("the mask is empty: paint or click before accepting", "error");
      return false;
    }
    const session = this.session;
    const imageId = this.imageInfo?.id;
    if (imageId === undefined) return false;
    const color = this.classColor(classId);
    const working = this.workingSprite;
    const pending: Pending = {
      key: this.nextPendingKey--,
      replaces: session.editingAnnotationId,
      // the working mask's sprite (fill and outline already built) when it has the colour
      sprite: working && working.mask === mask && working.color === color ? working : new MaskSprite(mask, color),
      classId,
    };
    // ready for the next object now; the POST finishes in the background
    this.pendingAnnotations.push(pending);
    this.session = new PromptSession(session.imageId);
    this.classChosen = false;
    // the page hears of it too: a rerun still carrying the old selection (sent when the
    // object was clicked) must not select it again after this Accept
    this.select(null, true);
    this.lookahead.dropPreview();
    this.mark("accept", t0, "local");
    this.invalidate("scene", "overlay", "ui");
    this.busy++;
    try {
      await this.nextFrame(); // ready on screen before the mask is encoded and sent
      const reply = await this.api.createAnnotation({
        image_id: imageId,
        class_id: classId,
        rle: encodeRle(mask),
        source: session.source,
        seconds: Math.round(session.seconds() * 100) / 100,
        score: session.score,
        annotation_id: session.editingAnnotationId,
        version: this.versionOf(session.editingAnnotationId),
      });
      if (this.imageInfo?.id === imageId) this.applyAnnotation(reply.annotation, reply.revision);
      this.timings.record("acceptSaved", performance.now() - t0, "server", t0, performance.now());
      this.trigger({ kind: "changed", revision: reply.revision });
      return true;
    } catch (err) {
      this.failure(err, "accept failed");
      if (this.session.imageId === session.imageId && !this.session.hasSteps && this.pendingSteps.length === 0) {
        this.session = session; // give the object back
        if (this.selectedId !== session.editingAnnotationId) {
          this.selectedId = session.editingAnnotationId;
          this.trigger({ kind: "select", annotation_id: this.selectedId });
        }
      }
      return false;
    } finally {
      this.pendingAnnotations = this.pendingAnnotations.filter((p) => p !== pending);
      this.busy--;
      this.invalidate("scene", "overlay", "ui");
    }
  }

  private applyAnnotation(a: AnnotationData, revision: number): void {
    this.annotations.put(a, this.classColor(a.class_id));
    this.revision = Math.max(this.revision, revision);
  }

  async updateAnnotation(id: number, change: { class_id?: number; status?: AnnotationStatus }): Promise<boolean> {
    if (id < 0) return false;
    this.busy++;
    this.invalidate("ui");
    try {
      const reply = await this.api.updateAnnotation(id, { ...change, version: this.versionOf(id) });
      this.applyAnnotation(reply.annotation, reply.revision);
      this.trigger({ kind: "changed", revision: reply.revision });
      if (change.status === "rejected" && !this.showRejected && this.selectedId === id) this.select(null, true);
      return true;
    } catch (err) {
      this.failure(err, `annotation #${id} was not changed`);
      return false;
    } finally {
      this.busy--;
      this.invalidate("scene", "overlay", "ui");
    }
  }

  async remove(id: number): Promise<boolean> {
    if (id < 0) return false;
    this.busy++;
    try {
      const reply = await this.api.deleteAnnotation(id, this.versionOf(id));
      this.annotations.delete(reply.deleted);
      this.revision = Math.max(this.revision, reply.revision);
      if (this.selectedId === id) this.select(null, true);
      if (this.session.editingAnnotationId === id) this.session = new PromptSession(this.session.imageId);
      this.trigger({ kind: "changed", revision: reply.revision });
      this.flash(`deleted #${id}`);
      return true;
    } catch (err) {
      this.failure(err, `annotation #${id} was not deleted`);
      return false;
    } finally {
      this.busy--;
      this.invalidate("scene", "overlay", "ui");
    }
  }

  async addClass(name: string): Promise<boolean> {
    this.busy++;
    try {
      const reply = await this.api.createClass(name);
      this.classes = [...reply.classes].sort((a, b) => a.index - b.index);
      this.revision = Math.max(this.revision, reply.revision);
      if (this.classId === null || !this.classes.some((c) => c.id === this.classId)) this.classId = reply.class.id;
      this.annotations.recolor(this.classes);
      this.trigger({ kind: "changed", revision: reply.revision });
      this.flash(`class "${reply.class.name}" added`);
      return true;
    } catch (err) {
      this.failure(err, "class not added");
      return false;
    } finally {
      this.busy--;
      this.invalidate("scene", "overlay", "ui");
    }
  }

  async acceptDrafts(): Promise<void> {
    const drafts = this.annotations.all().filter((s) => s.data.status === "draft");
    for (const d of drafts) if (!(await this.updateAnnotation(d.data.id, { status: "accepted" }))) break;
  }

  // ---- keyboard ------------------------------------------------------------------------

  onAction(a: Action, t0: number): boolean {
    switch (a.kind) {
      case "class": {
        const c = this.classes[a.number - 1];
        if (!c) return false;
        this.pickClass(c.id);
        return true;
      }
      case "accept":
        void this.accept(t0);
        return true;
      case "undo":
        return this.undo() || true;
      case "redo":
        return this.redo() || true;
      case "escape":
        if (this.clearPrompts()) return true;
        if (this.ui.root.querySelector(".sc-help:not([hidden])")) {
          this.ui.toggleHelp();
          return true;
        }
        if (this.selectedId !== null) {
          this.select(null, true);
          return true;
        }
        return false;
      case "cycle":
        return this.cycle(a.delta) || true;
      case "positive":
        this.positive = true;
        this.invalidate("ui");
        return true;
      case "negative":
        this.positive = !this.positive;
        this.invalidate("ui");
        return true;
      case "tool":
        this.setTool(a.tool);
        return true;
      case "brushSize":
        this.brushSize = Math.min(Math.max(this.brushSize * a.factor, 4), 200);
        this.invalidate("overlay", "ui");
        return true;
      case "zoom":
        if (this.pointer && this.pointerInside) this.zoom(a.factor, this.pointer.sx, this.pointer.sy);
        else this.zoom(a.factor);
        return true;
      case "fit":
        this.fitView();
        return true;
      case "actual":
        this.view = zoomTo(this.view, 1 / (window.devicePixelRatio || 1), this.imageSize, this.viewport);
        return true;
      case "delete":
        if (this.selectedId === null) return false;
        void this.remove(this.selectedId);
        return true;
      case "toggleAnnotations":
        this.showAnnotations = !this.showAnnotations;
        this.invalidate("scene", "ui");
        return true;
      case "pan":
        this.view = panBy(this.view, a.dx * this.viewport.width, a.dy * this.viewport.height, this.imageSize, this.viewport);
        return true;
    }
  }

  setTool(t: Tool): void {
    this.tool = t;
    this.lookahead.dropPreview();
    this.ui.stage.dataset.mode = this.cursorMode();
    this.invalidate("overlay", "ui");
  }

  private uiActions() {
    return {
      tool: (t: Tool) => this.setTool(t),
      positive: (p: boolean) => {
        this.positive = p;
        this.invalidate("ui");
      },
      brushSize: (px: number) => {
        this.brushSize = px;
        this.invalidate("overlay", "ui");
      },
      zoom: (f: number) => this.zoom(f),
      fit: () => this.fitView(),
      opacity: (v: number) => {
        this.opacity = v;
        this.invalidate("scene", "overlay", "ui");
      },
      undo: () => void this.undo(),
      redo: () => void this.redo(),
      clear: () => void this.clearPrompts(),
      accept: () => void this.accept(),
      pickClass: (id: number) => this.pickClass(id),
      toggleClass: (id: number) => {
        if (this.hiddenClasses.has(id)) this.hiddenClasses.delete(id);
        else this.hiddenClasses.add(id);
        this.invalidate("scene", "ui");
      },
      addClass: (name: string) => this.addClass(name),
      toggleRejected: () => {
        this.showRejected = !this.showRejected;
        this.invalidate("scene", "ui");
      },
      toggleAnnotations: () => {
        this.showAnnotations = !this.showAnnotations;
        this.invalidate("scene", "ui");
      },
      select: (id: number | null) => this.select(id, true),
      hover: (id: number | null) => {
        this.hoverId = id;
        this.invalidate("scene", "ui");
      },
      setObjectClass: (id: number, classId: number) => void this.updateAnnotation(id, { class_id: classId }),
      setStatus: (id: number, status: AnnotationStatus) => void this.updateAnnotation(id, { status }),
      remove: (id: number) => void this.remove(id),
      acceptDrafts: () => void this.acceptDrafts(),
    };
  }

  // ---- test / benchmark hook helpers ----------------------------------------------------

  workingMaskRle(): Rle | null {
    const m = this.session.mask;
    return m ? encodeRle(m) : null;
  }

  /** Resolves when no decode, POST or preview is in flight and the frame is drawn. */
  async idle(): Promise<void> {
    for (let i = 0; i < 100; i++) {
      await this.chain;
      if (this.busy === 0 && this.pendingSteps.length === 0 && !this.lookahead.busy) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await this.nextFrame();
  }

  destroy(): void {
    this.destroyed = true;
    if (this.frame) cancelAnimationFrame(this.frame);
    for (const c of this.cleanups.splice(0)) c();
    this.ui.root.remove();
  }
}

/** A stage too small to fit an image into (not laid out yet, or hidden). */
function degenerate(size: { width: number; height: number }): boolean {
  return size.width < 32 || size.height < 32;
}
