// Keyboard shortcuts, captured on the window (capture phase) while the canvas is mounted, so
// they work right after a click on the image. Keys typed into an input, textarea, select or
// editable element (also inside shadow roots) are left alone. N / P / U are not taken: they
// belong to the page's Prev / Next / Next-to-do buttons.

export type Action =
  | { kind: "class"; number: number } // 1-9
  | { kind: "accept" }
  | { kind: "undo" }
  | { kind: "redo" }
  | { kind: "escape" }
  | { kind: "cycle"; delta: 1 | -1 }
  | { kind: "positive" }
  | { kind: "negative" } // W: toggles negative clicks
  | { kind: "tool"; tool: Tool }
  | { kind: "brushSize"; factor: number }
  | { kind: "zoom"; factor: number }
  | { kind: "fit" }
  | { kind: "actual" } // 1:1 pixels
  | { kind: "delete" }
  | { kind: "toggleAnnotations" }
  | { kind: "pan"; dx: number; dy: number }; // fractions of the viewport

export type Tool = "point" | "box" | "brush" | "eraser";

/** One line per shortcut, for the help popover (key, what it does). */
export const SHORTCUTS: [string, string][] = [
  ["click", "positive point (Alt+click or W: negative); on an object: select it"],
  ["Shift+click", "a point even on an existing object"],
  ["drag", "box (box tool R, or drag with the point tool)"],
  ["space+drag / middle-drag", "pan"],
  ["wheel, + / -", "zoom at the cursor / centre"],
  ["F or 0", "fit the image; 1:1 with Shift+0"],
  ["1-9", "class (re-classes the selected object when no prompt is in progress)"],
  ["A", "accept the mask (or the selected draft)"],
  ["Z / Y", "undo / redo (also Ctrl+Z / Ctrl+Y)"],
  ["Esc", "clear the prompts, then deselect"],
  ["V / Shift+V", "next / previous candidate"],
  ["Q / W", "positive / negative clicks"],
  ["S R B E", "point, box, brush, eraser tool"],
  ["[ ]", "brush size"],
  ["Delete", "delete the selected object"],
  ["H", "hide / show the annotations"],
  ["arrows", "pan"],
  ["N / P / U", "next / previous / next-to-do image (page buttons)"],
];

// <input> types that take no text: a focused slider or checkbox must not swallow shortcuts
const NON_TEXT_INPUTS = new Set(["range", "checkbox", "radio", "button", "submit", "reset", "color", "file", "image"]);

/** True when the event comes from a place where people type (a text input, textarea,
 * select or editable element, also inside shadow roots). */
export function isTyping(e: Event): boolean {
  const path = typeof e.composedPath === "function" ? e.composedPath() : [];
  const targets = path.length ? path : [e.target];
  for (const t of targets) {
    const el = t as HTMLElement | null;
    if (!el || !el.tagName) continue;
    if (el.tagName === "INPUT" && !NON_TEXT_INPUTS.has((el as HTMLInputElement).type)) return true;
    if (el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable) return true;
  }
  return false;
}

/** The action of a keydown, or null when the canvas does not take that key. */
export function keyAction(e: Pick<KeyboardEvent, "key" | "ctrlKey" | "metaKey" | "altKey" | "shiftKey">): Action | null {
  const key = e.key;
  const lower = key.length === 1 ? key.toLowerCase() : key;
  if (e.ctrlKey || e.metaKey) {
    if (lower === "z") return e.shiftKey ? { kind: "redo" } : { kind: "undo" };
    if (lower === "y") return { kind: "redo" };
    return null;
  }
  if (e.altKey) return null;
  if (/^[1-9]$/.test(key)) return { kind: "class", number: Number(key) };
  switch (lower) {
    case "a":
      return { kind: "accept" };
    case "z":
      return { kind: "undo" };
    case "y":
      return { kind: "redo" };
    case "Escape":
      return { kind: "escape" };
    case "v":
      return { kind: "cycle", delta: e.shiftKey ? -1 : 1 };
    case "q":
      return { kind: "positive" };
    case "w":
      return { kind: "negative" };
    case "s":
      return { kind: "tool", tool: "point" };
    case "r":
      return { kind: "tool", tool: "box" };
    case "b":
      return { kind: "tool", tool: "brush" };
    case "e":
      return { kind: "tool", tool: "eraser" };
    case "[":
      return { kind: "brushSize", factor: 1 / 1.25 };
    case "]":
      return { kind: "brushSize", factor: 1.25 };
    case "+":
    case "=":
      return { kind: "zoom", factor: 1.25 };
    case "-":
    case "_":
      return { kind: "zoom", factor: 1 / 1.25 };
    case "f":
      return { kind: "fit" };
    case "0":
      return e.shiftKey ? { kind: "actual" } : { kind: "fit" };
    case ")":
      return { kind: "actual" };
    case "Delete":
    case "Backspace":
      return { kind: "delete" };
    case "h":
      return { kind: "toggleAnnotations" };
    case "ArrowLeft":
      return { kind: "pan", dx: 0.15, dy: 0 };
    case "ArrowRight":
      return { kind: "pan", dx: -0.15, dy: 0 };
    case "ArrowUp":
      return { kind: "pan", dx: 0, dy: 0.15 };
    case "ArrowDown":
      return { kind: "pan", dx: 0, dy: -0.15 };
    default:
      return null;
  }
}

export interface KeyHandlers {
  action(a: Action, e: KeyboardEvent): boolean; // true when handled
  space(down: boolean): boolean; // true when taken (the pointer is over the canvas)
}

/** Listen on the window while mounted; returns the function that stops listening. */
export function captureKeys(handlers: KeyHandlers): () => void {
  const down = (e: KeyboardEvent): void => {
    if (e.isComposing || isTyping(e)) return;
    if (e.key === " " && !e.ctrlKey && !e.metaKey && !e.altKey) {
      if (handlers.space(true)) {
        e.preventDefault(); // no page scroll, no button press
        e.stopImmediatePropagation();
      }
      return;
    }
    const a = keyAction(e);
    if (a && handlers.action(a, e)) {
      e.preventDefault();
      e.stopImmediatePropagation();
    }
  };
  const up = (e: KeyboardEvent): void => {
    if (e.key === " ") handlers.space(false);
  };
  const blur = (): void => {
    handlers.space(false);
  };
  window.addEventListener("keydown", down, true);
  window.addEventListener("keyup", up, true);
  window.addEventListener("blur", blur);
  return () => {
    window.removeEventListener("keydown", down, true);
    window.removeEventListener("keyup", up, true);
    window.removeEventListener("blur", blur);
  };
}
