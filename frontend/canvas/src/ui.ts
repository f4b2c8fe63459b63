// The canvas's controls, built from a read-only model and calling back into the app:
// toolbar (tools, positive / negative, brush size, zoom, opacity, undo / redo / clear, accept,
// show rejected, help), class bar (chips 1-9 with show / hide, inline "+ class" input; an
// empty list says "add your first class"), object list beside the canvas (class, accept,
// reject, delete per object, synced with the selection), status line. Each section is rebuilt
// only when its part of the model changed; the class input is never rebuilt (typing is kept).

import { ICONS, h, icon } from "./dom";
import { SHORTCUTS, type Tool } from "./keyboard";
import type { AnnotationStatus, ClassInfo } from "./types";

export interface ObjectRow {
  id: number;
  classId: number | null;
  className: string;
  color: string;
  status: AnnotationStatus;
  score: number | null;
  area: number;
  pending: boolean;
}

export interface UiModel {
  tool: Tool;
  positive: boolean;
  brushSize: number; // CSS pixels (diameter)
  zoom: number; // CSS pixels per image pixel
  opacity: number;
  classes: ClassInfo[];
  classId: number | null;
  hiddenClasses: Set<number>;
  showRejected: boolean;
  showAnnotations: boolean;
  objects: ObjectRow[];
  selectedId: number | null;
  hoverId: number | null;
  canUndo: boolean;
  canRedo: boolean;
  hasPrompt: boolean;
  canAccept: boolean;
  candidate: { index: number; count: number; score: number | null } | null;
  editingId: number | null;
  image: string; // "a.jpg · 1920x2560"
  decoder: string; // "SAM in the browser (WASM, 1 thread)"
  note: string | null; // e.g. why the server path is used
  message: { text: string; kind: "error" | "info" } | null;
  busy: boolean;
}

export interface UiActions {
  tool(t: Tool): void;
  positive(p: boolean): void;
  brushSize(px: number): void;
  zoom(factor: number): void;
  fit(): void;
  opacity(v: number): void;
  undo(): void;
  redo(): void;
  clear(): void;
  accept(): void;
  pickClass(id: number): void;
  toggleClass(id: number): void;
  addClass(name: string): Promise<boolean>;
  toggleRejected(): void;
  toggleAnnotations(): void;
  select(id: number | null): void;
  hover(id: number | null): void;
  setObjectClass(id: number, classId: number): void;
  setStatus(id: number, status: AnnotationStatus): void;
  remove(id: number): void;
  acceptDrafts(): void;
}

/** A button that never takes the keyboard focus (Space / Enter stay with the canvas). */
function button(attrs: Record<string, string | boolean | EventListener | undefined>, ...children: (Node | string | null)[]): HTMLButtonElement {
  const b = h("button", { type: "button", tabindex: -1, ...attrs }, ...children);
  b.addEventListener("mousedown", (e) => e.preventDefault());
  return b;
}

export class Ui {
  readonly root: HTMLElement;
  readonly stage: HTMLElement;
  readonly scene: HTMLCanvasElement;
  readonly overlay: HTMLCanvasElement;
  readonly loading: HTMLElement;
  private readonly toolbar: HTMLElement;
  private readonly chips: HTMLElement;
  private readonly classInput: HTMLInputElement;
  private readonly classHint: HTMLElement;
  private readonly objects: HTMLElement;
  private readonly status: HTMLElement;
  private readonly help: HTMLElement;
  private readonly actions: UiActions;
  private keys: Record<string, string> = {};

  constructor(actions: UiActions) {
    this.actions = actions;
    this.scene = h("canvas", { class: "sc-layer" });
    this.overlay = h("canvas", { class: "sc-layer sc-overlay", "data-testid": "studio-canvas-stage" });
    this.loading = h("div", { class: "sc-loading" }, "Loading image…");
    this.help = h(
      "div",
      { class: "sc-help", hidden: true },
      h("table", {}, ...SHORTCUTS.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, v)))),
    );
    this.stage = h("div", { class: "sc-stage" }, this.scene, this.overlay, this.loading, this.help);
    this.toolbar = h("div", { class: "sc-toolbar" });
    this.chips = h("div", { class: "sc-chips" });
    this.classHint = h("span", { class: "sc-class-hint" });
    this.classInput = h("input", {
      class: "sc-class-input",
      type: "text",
      maxlength: 64,
      placeholder: "+ class",
      "aria-label": "new class name",
    });
    this.classInput.addEventListener("keydown", (e) => {
      e.stopPropagation(); // the page's shortcuts must not see typing
      if (e.key === "Enter") void this.submitClass();
      if (e.key === "Escape") {
        this.classInput.value = "";
        this.classInput.blur();
      }
    });
    const addButton = button({ class: "sc-btn sc-add", title: "add this class", onclick: () => void this.submitClass() }, icon(ICONS.plus));
    const classBar = h("div", { class: "sc-classes" }, this.chips, h("div", { class: "sc-class-add" }, this.classHint, this.classInput, addButton));
    this.objects = h("aside", { class: "sc-objects", "data-testid": "studio-canvas-objects" });
    this.status = h("div", { class: "sc-status", "data-testid": "studio-canvas-status" });
    this.root = h(
      "div",
      { class: "sc-root" },
      this.toolbar,
      classBar,
      h("div", { class: "sc-main" }, this.stage, this.objects),
      this.status,
    );
  }

  private async submitClass(): Promise<void> {
    const name = this.classInput.value.trim();
    if (!name) {
      this.classInput.focus();
      return;
    }
    this.classInput.disabled = true;
    const ok = await this.actions.addClass(name);
    this.classInput.disabled = false;
    if (ok) {
      this.classInput.value = "";
      this.classInput.blur();
    } else {
      this.classInput.focus();
    }
  }

  update(m: UiModel): void {
    this.section("toolbar", m, () => this.renderToolbar(m), [
      m.tool, m.positive, m.brushSize, Math.round(m.zoom * 1000), m.opacity, m.canUndo, m.canRedo, m.hasPrompt,
      m.canAccept, m.showRejected, m.showAnnotations,
    ]);
    this.section("classes", m, () => this.renderClasses(m), [
      m.classes.map((c) => [c.id, c.name, c.color]), m.classId, [...m.hiddenClasses], m.selectedId, m.hasPrompt,
    ]);
    this.section("objects", m, () => this.renderObjects(m), [m.objects, m.selectedId, m.classes.map((c) => [c.id, c.name])]);
    this.section("status", m, () => this.renderStatus(m), [m.image, m.decoder, m.note, m.message, m.candidate, m.editingId, m.busy, Math.round(m.zoom * 1000)]);
    // hover highlight without rebuilding the list
    for (const row of this.objects.querySelectorAll<HTMLElement>(".sc-row")) {
      row.classList.toggle("sc-hover", Number(row.dataset.id) === m.hoverId);
    }
  }

  private section(name: string, _m: UiModel, render: () => void, key: unknown[]): void {
    const k = JSON.stringify(key);
    if (this.keys[name] === k) return;
    this.keys[name] = k;
    render();
  }

  private renderToolbar(m: UiModel): void {
    const a = this.actions;
    const tool = (t: Tool, label: string, key: string, path: string): HTMLButtonElement =>
      button(
        { class: `sc-btn${m.tool === t ? " sc-on" : ""}`, title: `${label} (${key})`, "data-tool": t, onclick: () => a.tool(t) },
        icon(path),
        h("span", { class: "sc-label" }, label),
      );
    const sign = button(
      {
        class: `sc-btn sc-sign ${m.positive ? "sc-pos" : "sc-neg"}`,
        title: "positive / negative clicks (Q / W; Alt+click or right-click: negative)",
        onclick: () => a.positive(!m.positive),
      },
      m.positive ? "+ positive" : "− negative",
    );
    const size = h("input", {
      type: "range",
      min: 4,
      max: 200,
      step: 1,
      value: Math.round(m.brushSize),
      title: "brush size ([ ])",
      class: "sc-range",
      tabindex: -1,
    });
    size.addEventListener("input", () => a.brushSize(Number(size.value)));
    size.addEventListener("change", () => size.blur());
    const opacity = h("input", {
      type: "range",
      min: 0,
      max: 100,
      step: 1,
      value: Math.round(m.opacity * 100),
      title: "fill opacity",
      class: "sc-range",
      "aria-label": "opacity",
      tabindex: -1,
    });
    opacity.addEventListener("input", () => a.opacity(Number(opacity.value) / 100));
    opacity.addEventListener("change", () => opacity.blur()); // the page's own keys (N / P / U) too
    const helpButton = button({ class: "sc-btn", title: "keyboard shortcuts", onclick: () => this.toggleHelp() }, icon(ICONS.help));
    const parts: (Node | null)[] = [
      h(
        "div",
        { class: "sc-group" },
        tool("point", "Point", "S", ICONS.point),
        tool("box", "Box", "R", ICONS.box),
        tool("brush", "Brush", "B", ICONS.brush),
        tool("eraser", "Eraser", "E", ICONS.eraser),
      ),
      h("div", { class: "sc-group" }, sign),
      m.tool === "brush" || m.tool === "eraser"
        ? h("label", { class: "sc-group sc-field" }, "size", size, h("span", { class: "sc-num" }, `${Math.round(m.brushSize)}px`))
        : null,
      h(
        "div",
        { class: "sc-group" },
        button({ class: "sc-btn", title: "zoom out (-)", onclick: () => a.zoom(1 / 1.25) }, icon(ICONS.minus)),
        h("span", { class: "sc-num", "data-testid": "studio-canvas-zoom" }, `${Math.round(m.zoom * 100)}%`),
        button({ class: "sc-btn", title: "zoom in (+)", onclick: () => a.zoom(1.25) }, icon(ICONS.plus)),
        button({ class: "sc-btn", title: "fit (F)", onclick: () => a.fit() }, icon(ICONS.fit)),
      ),
      h("label", { class: "sc-group sc-field" }, "opacity", opacity),
      h(
        "div",
        { class: "sc-group" },
        button({ class: "sc-btn", title: "undo (Z)", disabled: !m.canUndo, onclick: () => a.undo() }, icon(ICONS.undo)),
        button({ class: "sc-btn", title: "redo (Y)", disabled: !m.canRedo, onclick: () => a.redo() }, icon(ICONS.redo)),
        button({ class: "sc-btn", title: "clear the prompts (Esc)", disabled: !m.hasPrompt, onclick: () => a.clear() }, icon(ICONS.clear)),
      ),
      button(
        { class: "sc-btn sc-primary", title: "accept (A)", disabled: !m.canAccept, "data-testid": "studio-canvas-accept", onclick: () => a.accept() },
        icon(ICONS.check),
        h("span", { class: "sc-label" }, "Accept"),
      ),
      h(
        "div",
        { class: "sc-group sc-right" },
        button(
          { class: `sc-btn${m.showAnnotations ? "" : " sc-on"}`, title: "hide / show annotations (H)", onclick: () => a.toggleAnnotations() },
          icon(m.showAnnotations ? ICONS.eye : ICONS.eyeOff),
        ),
        button(
          { class: `sc-btn${m.showRejected ? " sc-on" : ""}`, title: "show rejected objects", onclick: () => a.toggleRejected() },
          icon(ICONS.reject),
          h("span", { class: "sc-label" }, "rejected"),
        ),
        helpButton,
      ),
    ];
    this.toolbar.replaceChildren(...parts.filter((p): p is Node => p !== null));
  }

  toggleHelp(): void {
    this.help.hidden = !this.help.hidden;
  }

  private renderClasses(m: UiModel): void {
    const a = this.actions;
    const reclass = m.selectedId !== null && !m.hasPrompt;
    this.chips.replaceChildren(
      ...m.classes.map((c, i) => {
        const hidden = m.hiddenClasses.has(c.id);
        const chip = h(
          "div",
          { class: `sc-chip${c.id === m.classId ? " sc-on" : ""}${hidden ? " sc-hidden" : ""}`, "data-class-id": c.id },
          button(
            {
              class: "sc-chip-main",
              title: reclass ? `re-class the selected object as ${c.name}` : `class ${c.name}${i < 9 ? ` (${i + 1})` : ""}`,
              onclick: () => a.pickClass(c.id),
            },
            h("span", { class: "sc-swatch", style: `background:${c.color}` }),
            i < 9 ? h("kbd", {}, String(i + 1)) : null,
            c.name,
          ),
          button(
            { class: "sc-chip-eye", title: hidden ? `show ${c.name}` : `hide ${c.name}`, onclick: () => a.toggleClass(c.id) },
            icon(hidden ? ICONS.eyeOff : ICONS.eye),
          ),
        );
        return chip;
      }),
    );
    const empty = m.classes.length === 0;
    this.classHint.textContent = empty ? "No classes yet: add your first class" : "";
    this.classInput.placeholder = empty ? "first class name, then Enter" : "+ class";
    this.classInput.classList.toggle("sc-attention", empty);
  }

  private renderObjects(m: UiModel): void {
    const a = this.actions;
    const drafts = m.objects.filter((o) => o.status === "draft" && !o.pending).length;
    const rows = m.objects.map((o) => {
      const select = h("select", { class: "sc-row-class", title: "class", tabindex: -1 });
      for (const c of m.classes) {
        const opt = h("option", { value: c.id }, c.name);
        if (c.id === o.classId) opt.selected = true;
        select.append(opt);
      }
      if (o.classId === null || !m.classes.some((c) => c.id === o.classId)) {
        select.prepend(h("option", { value: "", selected: true }, o.className));
      }
      select.addEventListener("click", (e) => e.stopPropagation());
      select.addEventListener("change", () => {
        if (select.value) a.setObjectClass(o.id, Number(select.value));
        select.blur(); // the shortcuts work again at once
      });
      const row = h(
        "div",
        {
          class: `sc-row sc-${o.status}${o.id === m.selectedId ? " sc-selected" : ""}${o.pending ? " sc-pending" : ""}`,
          "data-id": o.id,
          onclick: () => a.select(o.id === m.selectedId ? null : o.id),
          onmouseenter: () => a.hover(o.id),
          onmouseleave: () => a.hover(null),
        },
        h("span", { class: "sc-swatch", style: `background:${o.color}` }),
        h("span", { class: "sc-row-id" }, o.pending ? "saving…" : `#${o.id}`),
        select,
        h("span", { class: `sc-badge sc-${o.status}` }, o.status),
        h("span", { class: "sc-row-score" }, o.score === null ? "" : o.score.toFixed(2)),
        h(
          "span",
          { class: "sc-row-actions" },
          button({ class: "sc-btn sc-mini", title: "accept", disabled: o.status === "accepted" || o.pending, onclick: (e: Event) => { e.stopPropagation(); a.setStatus(o.id, "accepted"); } }, icon(ICONS.check)),
          button({ class: "sc-btn sc-mini", title: "reject", disabled: o.status === "rejected" || o.pending, onclick: (e: Event) => { e.stopPropagation(); a.setStatus(o.id, "rejected"); } }, icon(ICONS.reject)),
          button({ class: "sc-btn sc-mini", title: "delete (Delete)", disabled: o.pending, onclick: (e: Event) => { e.stopPropagation(); a.remove(o.id); } }, icon(ICONS.trash)),
        ),
      );
      return row;
    });
    const parts: (Node | null)[] = [
      h(
        "div",
        { class: "sc-objects-head" },
        h("strong", {}, `Objects (${m.objects.length})`),
        drafts ? button({ class: "sc-btn sc-mini-text", onclick: () => a.acceptDrafts() }, `accept ${drafts} drafts`) : null,
      ),
      m.objects.length ? h("div", { class: "sc-rows" }, ...rows) : h("p", { class: "sc-empty" }, "No objects on this image yet: click inside one."),
    ];
    this.objects.replaceChildren(...parts.filter((p): p is Node => p !== null));
    const selected = this.objects.querySelector<HTMLElement>(".sc-selected");
    selected?.scrollIntoView({ block: "nearest" });
  }

  private renderStatus(m: UiModel): void {
    const parts: (string | Node)[] = [m.image, `${Math.round(m.zoom * 100)}%`, m.decoder];
    if (m.candidate) {
      const score = m.candidate.score === null ? "" : `, score ${m.candidate.score.toFixed(2)}`;
      parts.push(`candidate ${m.candidate.index + 1}/${m.candidate.count}${score}${m.candidate.count > 1 ? " (V)" : ""}`);
    }
    if (m.editingId !== null) parts.push(`editing #${m.editingId} (Esc: new object)`);
    if (m.busy) parts.push("working…");
    const children: (string | Node)[] = [h("span", {}, parts.filter(Boolean).join(" · "))];
    if (m.note) children.push(h("span", { class: "sc-note", "data-testid": "studio-canvas-note" }, m.note));
    if (m.message) children.push(h("span", { class: `sc-msg sc-${m.message.kind}`, "data-testid": "studio-canvas-message" }, m.message.text));
    this.status.replaceChildren(...children);
  }
}
