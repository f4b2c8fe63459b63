"""Live page (AppTest): each version under its full name (two versions of one lineage share a
long prefix) with its class legend in the overlay's colours."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.pages.conftest import APP
from tests.test_inference import make_dataset, unet_version

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def test_live_page_names_both_versions_in_full_with_a_class_legend(studio_env: dict[str, str], tmp_path: Path) -> None:
    dv = make_dataset(tmp_path, n_images=2)
    a, b = unet_version(tmp_path, dv, seed=0), unet_version(tmp_path, dv, seed=1)
    assert a.name[:25] == b.name[:25]  # the page used to cut "A: <name>" to 28 characters: "...shelves_v1."
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("app_pages/live.py")
    at.run()
    at.selectbox(key="live_a").set_value(a.name)
    at.selectbox(key="live_b").set_value(b.name)
    at.run()
    # streamlit-webrtc needs a real server session (tests/e2e/test_live.py drives it in Chromium): under AppTest
    # the camera widget fails, after the names and legends above it are drawn
    assert all("_session_mgr" in str(e.value) or "_session_mgr" in str(e.stack_trace) for e in at.exception)
    legends = [m.value for m in at.markdown if m.value.startswith("**A: ") or m.value.startswith("**B: ")]
    assert [v.split("**")[1] for v in legends] == [f"A: {a.name}", f"B: {b.name}"]
    assert all("background:rgb(255, 225, 25)" in v and "> box</span>" in v and "> tape</span>" in v for v in legends)
    from studio.live.session import build_pipeline

    pipeline = build_pipeline([a.name, b.name], warm_size=None)
    try:
        assert [s.name for s in pipeline.slots] == [f"A: {a.name}", f"B: {b.name}"]
    finally:
        pipeline.stop()
