"""The labelling canvas: a Streamlit components-v2 component (rendered in the page, no
iframe, so the page's keyboard shortcuts keep working after a click on the image).

Front end: ``frontend/canvas`` (TypeScript), built by ``make install`` into
``studio_ui/canvas/dist/`` and served by ``studio_ui.web.assets`` at ``/studio-api/assets``.
The component registered here is only a small inline loader: it ``import()``s
``<data.assets>/canvas.js?v=<build>`` from that route and hands it the component (the bundle's
default export keeps one canvas per mounted element and updates it on each rerun). So the
registration needs no asset_dir and works the same under AppTest (where the component is an
element without a browser) and in the real server.

Usage (in an ``st.fragment``)::

    event = label_canvas(protocol.canvas_data(...), key="label_canvas", on_event=handle)
    # event: {"kind": "changed", "revision": n} | {"kind": "select", "annotation_id": id | None}
    #        | {"kind": "class", "class_id": id} | None (no trigger in this run)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

DIST = Path(__file__).resolve().parent / "canvas" / "dist"
COMPONENT_NAME = "studio_label_canvas"

# The component's JavaScript: load the bundle from the studio's asset route (same origin),
# show a readable message in place of the canvas when it cannot load.
LOADER_JS = """
export default function (component) {
  const data = component.data || {};
  const base = String(data.assets || "/studio-api/assets").replace(/\\/+$/, "");
  const url = new URL(base + "/canvas.js?v=" + encodeURIComponent(data.build || "dev"), window.location.href).href;
  const loading = import(url).then(
    (bundle) => bundle.default(component),
    (err) => {
      const host = component.parentElement;
      if (!host.querySelector("[data-studio-canvas-error]")) {
        const box = document.createElement("div");
        box.setAttribute("data-studio-canvas-error", "");
        box.setAttribute("role", "alert");
        box.style.cssText = "padding:12px;border:1px solid #c62828;border-radius:8px;color:#c62828;font:14px sans-serif";
        box.textContent = "The labelling canvas could not load from " + url + " (" + err + "). " +
          "Build it with `make install` (npm ci && npm run build in frontend/canvas), then reload the page.";
        host.append(box);
      }
      return null;
    });
  return () => { loading.then((cleanup) => { if (typeof cleanup === "function") cleanup(); }); };
}
"""

_mount = st.components.v2.component(COMPONENT_NAME, js=LOADER_JS, isolate_styles=True)

_build_cache: tuple[float, str] | None = None


def build_id(dist: Path = DIST) -> str:
    """The bundle's build id (``dist/manifest.json``, written by frontend/canvas/build.mjs) for
    cache busting; "missing" when the canvas is not built."""
    global _build_cache
    manifest = dist / "manifest.json"
    try:
        mtime = manifest.stat().st_mtime
    except OSError:
        return "missing"
    if _build_cache is not None and _build_cache[0] == mtime:
        return _build_cache[1]
    try:
        build = str(json.loads(manifest.read_text())["build"])
    except (OSError, ValueError, KeyError, TypeError):
        build = "unknown"
    _build_cache = (mtime, build)
    return build


def is_built(dist: Path = DIST) -> bool:
    return (dist / "canvas.js").is_file()


def label_canvas(data: dict[str, Any], *, key: str,
                 on_event: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any] | None:
    """Mount the canvas with ``data`` (studio.labelling.protocol.canvas_data's dict, message
    format v1) under ``key``. ``on_event(event)`` runs as the trigger's callback (before the
    rerun of the enclosing fragment); the return value is this run's trigger event or None.
    """

    def callback() -> None:
        if on_event is None:
            return
        value = st.session_state.get(key)
        event = value.get("event") if isinstance(value, dict) else getattr(value, "event", None)
        if isinstance(event, dict):
            on_event(event)

    result = _mount(key=key, data={**data, "build": build_id()}, on_event_change=callback)
    event = getattr(result, "event", None)
    return event if isinstance(event, dict) else None


__all__ = ["COMPONENT_NAME", "LOADER_JS", "build_id", "is_built", "label_canvas"]
