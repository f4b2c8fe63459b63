"""Real browser, fake webcam: Chromium's camera plays a generated .y4m of a shelf scene; the
Live page runs two trained versions side by side and reports FPS."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import LiveStudio, fake_camera_page, running_studio

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TRAIN_YAML = "architecture: unet\nbackbone: resnet18\nepochs: 1\nimage_size: 64\nbatch_size: 2\nnum_workers: 0\n"


@pytest.fixture(scope="module")
def studio_with_models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStudio]:
    root = tmp_path_factory.mktemp("live-models")
    (root / "train.yaml").write_text(TRAIN_YAML)
    train = ["train", "train.yaml", "--dataset", "shelves", "--here"]
    with running_studio(root, train, [*train, "--lr", "0.002"]) as studio:
        yield studio


@pytest.fixture(scope="module")
def camera_page(studio_with_models: LiveStudio, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    with fake_camera_page(tmp_path_factory.mktemp("cam"), timeout_ms=60_000) as page:
        yield page


def test_live_page_shows_two_overlays_and_fps(studio_with_models: LiveStudio, camera_page) -> None:  # noqa: ANN001
    page = camera_page
    page.goto(f"{studio_with_models.url}/live")
    try:
        page.get_by_role("heading", name="Live").wait_for()
        webrtc = page.frame_locator("iframe[title*='webrtc']")
        webrtc.get_by_role("button", name=re.compile("start", re.I)).click()
        video = webrtc.locator("video")
        video.wait_for()
        try:
            page.wait_for_function(
                "() => { const f = [...document.querySelectorAll('iframe')].find(i => (i.title || '').includes('webrtc'));"
                " const v = f && f.contentDocument && f.contentDocument.querySelector('video');"
                " return v && v.videoHeight > 0 && v.currentTime > 0.5 && v.videoWidth / v.videoHeight > 2; }",
                timeout=90_000)  # until the page's pipeline is attached, the stream echoes the camera (one 4:3 frame)
        except Exception as exc:  # say what the page showed, so a timeout under load can be explained
            seen = video.evaluate("v => [v.videoWidth, v.videoHeight, v.currentTime, v.readyState]")
            text = page.locator("[data-testid=stMain]").inner_text()[-1500:]
            raise AssertionError(f"no side-by-side frame in 90 s: video (w, h, t, readyState) {seen}; page:\n{text}") from exc
        width, height = video.evaluate("v => [v.videoWidth, v.videoHeight]")
        assert width / height == pytest.approx(2 * 4 / 3, rel=0.05)  # two 4:3 frames side by side
        fps = page.get_by_test_id("stMetric").filter(has_text="Pipeline FPS")
        page.wait_for_function(
            "() => [...document.querySelectorAll('[data-testid=stMetric]')].some(m => m.innerText.includes("
            "'Frames shown') && parseInt(m.innerText.split('\\n').pop()) > 3)", timeout=60_000)
        assert float(fps.get_by_test_id("stMetricValue").inner_text()) > 0
        assert page.get_by_test_id("stMetric").filter(has_text="A latency").count() == 1  # per version
        assert page.get_by_test_id("stMetric").filter(has_text="B latency").count() == 1
    finally:
        page.screenshot(path=str(Path(studio_with_models.root) / "live.png"), full_page=True)
