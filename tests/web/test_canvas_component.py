"""The canvas component's Python side (studio_ui/canvas.py): it registers and mounts under
AppTest (no browser: the component is an element AppTest does not know), with the bundle's
build id added to the data for cache busting."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from studio_ui import canvas


def page() -> None:
    import streamlit as st

    from studio_ui.canvas import label_canvas

    data = {"v": 1, "api": "/studio-api/label/t", "assets": "/studio-api/assets", "image": None, "classes": [],
            "class_id": None, "annotations": [], "revision": 0,
            "segmenter": {"kind": "fallback", "id": "fallback", "name": "Fallback", "decoder": None},
            "prefetch": [], "selected_id": None, "settings": {"opacity": 0.45}}
    event = label_canvas(data, key="canvas", on_event=lambda e: st.session_state.setdefault("events", []).append(e))
    st.write(f"event: {event}")


def test_mounts_under_apptest_without_a_browser() -> None:
    at = AppTest.from_function(page).run(timeout=30)
    assert not at.exception
    assert at.markdown[0].value == "event: None"


def test_build_id_reads_the_manifest(tmp_path: Path) -> None:
    assert canvas.build_id(tmp_path) == "missing"
    (tmp_path / "manifest.json").write_text(json.dumps({"build": "0123abcd", "files": []}))
    assert canvas.build_id(tmp_path) == "0123abcd"
    assert not canvas.is_built(tmp_path)


def test_loader_imports_the_bundle_from_the_asset_route() -> None:
    assert "export default function" in canvas.LOADER_JS
    assert '"/canvas.js?v="' in canvas.LOADER_JS and "import(url)" in canvas.LOADER_JS
