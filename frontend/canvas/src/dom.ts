// A tiny DOM builder and the few inline SVG icons of the canvas (no icon font: nothing is
// fetched at run time, and the page's fonts have no emoji).

type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

/** h("button", {class: "x", onclick: fn, title: "..."}, "text", child, ...) */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v as EventListener);
    else if (k === "value" && "value" in el) (el as HTMLInputElement).value = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** A 16x16 stroked icon from path data (24x24 viewBox). */
export function icon(paths: string, filled = false): SVGSVGElement {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "16");
  svg.setAttribute("height", "16");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "sc-icon");
  for (const d of paths.split("|")) {
    const p = document.createElementNS(SVG_NS, "path");
    p.setAttribute("d", d);
    p.setAttribute("fill", filled ? "currentColor" : "none");
    p.setAttribute("stroke", filled ? "none" : "currentColor");
    p.setAttribute("stroke-width", "2");
    p.setAttribute("stroke-linecap", "round");
    p.setAttribute("stroke-linejoin", "round");
    svg.append(p);
  }
  return svg;
}

export const ICONS = {
  point: "M12 3v4|M12 17v4|M3 12h4|M17 12h4|M12 10a2 2 0 1 0 0.01 0",
  box: "M4 8V4h4|M16 4h4v4|M20 16v4h-4|M8 20H4v-4",
  brush: "M18 3l3 3-9 9-3-3z|M9 12c-3 0-5 2-5 5 0 2-1 3-2 3 3 1 8 1 9-3l1-2",
  eraser: "M16 3l5 5-10 10H6l-3-3z|M9 8l7 7|M11 21h10",
  plus: "M12 5v14|M5 12h14",
  minus: "M5 12h14",
  fit: "M4 9V4h5|M15 4h5v5|M20 15v5h-5|M9 20H4v-5",
  undo: "M9 14L4 9l5-5|M4 9h11a5 5 0 0 1 0 10h-4",
  redo: "M15 14l5-5-5-5|M20 9H9a5 5 0 0 0 0 10h4",
  clear: "M6 6l12 12|M18 6L6 18",
  check: "M4 12l5 5L20 6",
  reject: "M12 3a9 9 0 1 0 0.01 0|M6 6l12 12",
  trash: "M4 7h16|M10 11v6|M14 11v6|M6 7l1 13h10l1-13|M9 7V4h6v3",
  eye: "M2 12s4-7 10-7 10 7 10 7-4 7-10 7S2 12 2 12z|M12 9a3 3 0 1 0 0.01 0",
  eyeOff: "M3 3l18 18|M10.6 5.1A10 10 0 0 1 12 5c6 0 10 7 10 7a17 17 0 0 1-3 3.7|M6.6 6.6C3.9 8.4 2 12 2 12s4 7 10 7a9.6 9.6 0 0 0 5.4-1.6",
  help: "M12 3a9 9 0 1 0 0.01 0|M9.5 9a2.5 2.5 0 1 1 3.5 2.3c-.6.3-1 .9-1 1.7v.5|M12 17.5v.5",
};
