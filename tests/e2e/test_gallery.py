"""The gallery widget in Chromium: thumbnails come from the studio's own route and load, each
shows its status badge, a click opens the image (outlined at once), paging swaps the grid."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from sqlalchemy import update

from studio.offline import STREAMLIT_OFFLINE_FLAGS
from tests.conftest import REPO, isolated_studio, studio_env_vars
from tests.e2e.conftest import _free_port, _wait_http

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

APP = """
import streamlit as st
from studio.annotations import image_queue
from studio_ui.gallery import gallery

def remember(image_id):
    st.session_state["current"] = image_id

gallery(image_queue("shelves"), st.session_state.get("current"), key="gal", on_open=remember, page_size=4)
st.markdown(f"current: {st.session_state.get('current')}")
"""
SERVER = """
import streamlit as st
from studio_ui.web import routes

app = st.App("gallery_app.py", routes=routes())
"""


@pytest.fixture(scope="module")
def gallery_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[int]]]:
    """A studio of 6 demo images (unlabelled, draft, review, done, done, done) and a Streamlit
    server whose whole app is the gallery; yields (url, image ids)."""
    from studio import annotations as ann
    from studio.datasets import ingest_doc
    from studio.db import session_scope
    from studio.demo import generate_demo
    from studio.tables import Annotation

    root = tmp_path_factory.mktemp("gallery")
    with isolated_studio(root):
        ingest_doc(generate_demo(root / "demo", n_images=6, seed=2), dataset="shelves")
        ids = [i.id for i in ann.image_queue("shelves")]
        with session_scope() as session:
            session.exec(update(Annotation).where(Annotation.image_id == ids[0]).values(status="rejected"))
            session.exec(update(Annotation).where(Annotation.id == ann.list_annotations(ids[1])[0].id)
                         .values(status="draft"))
        ann.set_review([ids[2]], True)
    (root / "gallery_app.py").write_text(APP)
    (root / "gallery_server.py").write_text(SERVER)
    env = {**os.environ, **studio_env_vars(root), "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "gallery_server.py", "--server.address",
                               "127.0.0.1", "--server.port", str(port), "--server.fileWatcherType", "none",
                               *STREAMLIT_OFFLINE_FLAGS], cwd=root, env=env,
                              stdout=(root / "app.log").open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url, server)
        yield url, ids
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()


def _loaded(page) -> list[bool]:  # noqa: ANN001
    """Whether each thumbnail of the grid has been decoded (naturalWidth > 0) once loading ended."""
    images = page.locator(".studio-gallery img")
    return [images.nth(n).evaluate("img => img.decode().then(() => img.naturalWidth > 0, () => false)")
            for n in range(images.count())]


def test_thumbnails_load_show_badges_and_a_click_opens(gallery_url: tuple[str, list[int]], page,  # noqa: ANN001
                                                       tmp_path: Path) -> None:
    url, ids = gallery_url
    thumbs: list[tuple[str, int, str]] = []
    page.on("response", lambda r: thumbs.append((r.url, r.status, r.headers.get("content-type", "")))
            if "/studio-api/thumbs/" in r.url else None)
    page.goto(url)
    tiles = page.locator(".studio-gallery .tile")  # Playwright's CSS pierces the component's shadow root
    try:
        tiles.nth(3).wait_for(timeout=60_000)
        assert tiles.count() == 4  # one page of 4 rendered, not all 6
        assert _loaded(page) == [True] * 4
        assert page.locator(".studio-gallery .badge").all_inner_texts() == ["unlabelled", "draft", "review", "done"]
        assert sorted(urlparse(u).path for u, _, _ in thumbs) == sorted(f"/studio-api/thumbs/{i}.jpg" for i in ids[:4])
        assert all(status == 200 and kind == "image/jpeg" for _, status, kind in thumbs)

        tiles.nth(1).click()
        page.get_by_text(f"current: {ids[1]}").wait_for()
        current = page.locator(".studio-gallery .tile.current")
        current.wait_for()
        assert current.count() == 1 and current.get_attribute("data-image-id") == str(ids[1])

        page.get_by_role("button").filter(has=page.locator("[data-testid=stIconMaterial]", has_text="chevron_right")) \
            .first.click()
        page.get_by_text("5–6 of 6 · page 2/2").wait_for()
        page.locator(f".studio-gallery .tile[data-image-id='{ids[5]}']").wait_for()
        assert tiles.count() == 2 and _loaded(page) == [True, True]
        tiles.nth(0).click()
        page.get_by_text(f"current: {ids[4]}").wait_for()
    finally:
        page.screenshot(path=str(tmp_path / "gallery.png"), full_page=True)
