// The components-v2 entry (Streamlit 1.67). Streamlit calls the default export on mount AND
// again on every change of `data` (same parentElement; the previous call's cleanup is not
// run, only the last one, on unmount). So one CanvasApp is kept per mounted element and
// updated in place: prompts in progress survive reruns, a new image id swaps the image.

import { CanvasApp } from "./app";
import { installHook, uninstallHook } from "./testHook";
import type { CanvasData, ComponentArgs } from "./types";
import css from "./styles.css";

const apps = new WeakMap<HTMLElement | ShadowRoot, { app: CanvasApp; data: CanvasData }>();

function check(data: unknown): CanvasData {
  const d = data as CanvasData | null;
  if (!d || typeof d !== "object" || d.v !== 1) {
    throw new Error(`studio canvas: expected data with "v": 1 (studio.labelling.protocol.canvas_data), got ${JSON.stringify(data)?.slice(0, 120)}`);
  }
  return d;
}

export default function mount(component: ComponentArgs): () => void {
  const host = component.parentElement;
  const data = check(component.data);
  const known = apps.get(host);
  if (known) {
    known.app.update(data, known.data, component.setTriggerValue);
    known.data = data;
    installHook(known.app);
    return () => destroy(host);
  }
  if (!host.querySelector("style[data-studio-canvas]")) {
    const style = document.createElement("style");
    style.dataset.studioCanvas = "1";
    style.textContent = css;
    host.append(style);
  }
  const app = new CanvasApp(host, data, component.setTriggerValue);
  apps.set(host, { app, data });
  installHook(app);
  return () => destroy(host);
}

function destroy(host: HTMLElement | ShadowRoot): void {
  const known = apps.get(host);
  if (!known) return;
  known.app.destroy();
  apps.delete(host);
  uninstallHook(known.app);
}
