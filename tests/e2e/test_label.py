"""Real browser on the Label page: click inside a product, accept, and find the annotation in
the database with a non-empty mask that overlaps the product (fallback segmenter: no SAM
checkpoint here, as on a fresh machine)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from tests.conftest import reset_studio_caches, studio_env_vars
from tests.e2e.conftest import LiveStudio

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def studio_db(live_studio: LiveStudio, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This test process reads the live studio's database."""
    for key, value in studio_env_vars(live_studio.root).items():
        monkeypatch.setenv(key, value)
    reset_studio_caches()
    yield
    reset_studio_caches()


def interior_point(mask: np.ndarray) -> tuple[int, int]:
    """The pixel of ``mask`` farthest from its outline (x, y)."""
    distance = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return int(x), int(y)


def canvas(page):  # noqa: ANN001, ANN201
    """The click canvas: the <img> inside streamlit_image_coordinates' iframe."""
    return page.frame_locator("iframe[title*='image_coordinates']").locator("img")


def test_click_accept_stores_an_overlapping_mask(live_studio: LiveStudio, page, studio_db: None) -> None:  # noqa: ANN001
    from studio import annotations as ann
    from studio import masks

    first = ann.image_queue("shelves")[0]
    truth = max(ann.list_annotations(first.id), key=lambda a: a.area)
    product = masks.decode(truth.rle)
    x, y = interior_point(product)
    before = {a.id for a in ann.list_annotations(first.id)}

    page.goto(f"{live_studio.url}/label")
    try:
        page.get_by_role("heading", name="Label").wait_for()
        page.get_by_text("Segmenter: Fallback").wait_for()
        img = canvas(page)
        img.wait_for()
        box = img.bounding_box()
        natural = img.evaluate("i => [i.naturalWidth, i.naturalHeight]")
        scale = box["width"] / natural[0]
        src = img.get_attribute("src")
        img.click(position={"x": x * scale, "y": y * scale})
        deadline = time.monotonic() + 60
        while canvas(page).get_attribute("src") == src:  # the picture redraws with the mask
            assert time.monotonic() < deadline, "the mask never appeared"
            time.sleep(0.05)
        page.get_by_text("candidate 1/3").wait_for()
        page.get_by_role("button", name="Accept").click()
        page.get_by_text("accepted box #").wait_for()
        deadline = time.monotonic() + 30
        while not (new := [a for a in ann.list_annotations(first.id) if a.id not in before]):
            assert time.monotonic() < deadline, "no new annotation in the database"
            time.sleep(0.2)
    finally:
        page.screenshot(path=str(live_studio.root / "label.png"), full_page=True)

    (created,) = new
    mask = masks.decode(created.rle)
    assert created.source == "fallback" and created.status == "accepted" and created.area > 0
    assert mask[y, x]  # the clicked pixel is in the mask
    iou = (mask & product).sum() / (mask | product).sum()
    assert iou > 0.5, f"stored mask overlaps the product with IoU {iou:.2f}"
    assert created.seconds_spent > 0 and created.author
