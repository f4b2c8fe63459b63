"""Real browser: open the studio, visit every page, export the demo dataset and download it."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from pycocotools.coco import COCO

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _wait_for_app(page) -> None:  # noqa: ANN001
    page.wait_for_selector("[data-testid='stApp']")
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=30_000)


def test_pages_open_and_the_demo_dataset_exports(live_studio, page, tmp_path: Path) -> None:  # noqa: ANN001
    page.goto(live_studio.url)
    try:
        _walk_and_export(live_studio, page, tmp_path)
    finally:
        page.screenshot(path=str(live_studio.root / "last.png"), full_page=True)


def _walk_and_export(live_studio, page, tmp_path: Path) -> None:  # noqa: ANN001
    _wait_for_app(page)
    page.get_by_role("heading", name="Datasets").wait_for()
    page.locator("[data-testid=stDataFrame] td", has_text="shelves").first.wait_for(state="attached")  # listed

    page.get_by_role("link", name="Jobs").click()
    page.get_by_role("heading", name="Jobs").wait_for()

    page.get_by_role("link", name="Datasets").click()
    page.get_by_role("heading", name="Datasets").wait_for()
    page.get_by_role("tab", name="Export").click()
    page.get_by_test_id("stButton").filter(has_text="Export").locator("button").click()

    download_button = page.get_by_test_id("stDownloadButton").locator("button")
    download_button.wait_for(timeout=90_000)  # the worker ran the export job
    with page.expect_download() as info:
        download_button.click()
    archive = tmp_path / "export.zip"
    info.value.save_as(archive)

    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
        assert any(n.endswith("annotations.json") for n in names)
        assert sum(n.endswith(".jpg") for n in names) == 6
        zf.extractall(tmp_path / "out")
    coco = COCO(str(next((tmp_path / "out").rglob("annotations.json"))))
    assert len(coco.getImgIds()) == 6 and len(coco.getAnnIds()) > 6

    page.get_by_role("link", name="Jobs").click()
    page.get_by_text("succeeded").first.wait_for()  # the export job is listed as done
