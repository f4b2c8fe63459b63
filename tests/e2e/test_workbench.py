"""The annotator's workbench in real Chromium, on photos imported from a folder with no
classes (the fallback segmenter, as on a fresh machine):

create the classes from the UI (the page's first-class prompt, then the canvas's own input),
label three objects (a click, a box, a click touched up with the brush), touch up a stored
mask with the eraser, zoom in and label a small object, click an existing mask to select and
re-class it, use 1-9 / A / Z / Esc right after clicking the image, move on with N to a real
grocery photo, and find every mask in the database.

The folder holds a generated 1920x2560 shelf photo (exact product masks, one small label
stuck on the wall) and, when ../shared is present, real grocery photos (else a second
generated photo)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import SHARED_FIXTURES, reset_studio_caches, studio_env_vars
from tests.e2e.conftest import LiveStudio, running_studio

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
HOOK = "window.__studioCanvas"
H, W = 2560, 1920
SMALL = (1500, 300, 36)  # x, y, side of the small label on the wall (image pixels)
GROCERY = SHARED_FIXTURES / "retail_grocery_store_dataset_mit" / "dataset" / "test" / "Packages"


def shelf_photo(folder: Path) -> list[np.ndarray]:
    """Write ``a_shelf.jpg`` (1920x2560) into ``folder``; its product masks, largest first,
    and last the small label's."""
    from studio.demo import render_scene, scene_rng, write_jpeg

    image, instances = render_scene(scene_rng(7, 0), W, H)
    x, y, side = SMALL
    image[y:y + side, x:x + side] = (250, 250, 250)  # a white price label on the wall
    image[y + 4:y + side - 4, x + 4:x + side - 4] = (230, 30, 140)
    write_jpeg(folder / "a_shelf.jpg", image, quality=95)
    small = np.zeros((H, W), bool)
    small[y:y + side, x:x + side] = True
    products = sorted((m.astype(bool) for _, m in instances), key=lambda m: -m.sum())
    return [*products, small]


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[np.ndarray]]:
    folder = tmp_path_factory.mktemp("photos")
    truth = shelf_photo(folder)
    groceries = sorted(GROCERY.rglob("*.jpg")) if GROCERY.is_dir() else []
    for path in groceries[:3]:
        shutil.copy(path, folder / f"b_{path.name}")
    if not groceries:  # no ../shared: a second generated photo stands in
        from studio.demo import render_scene, scene_rng, write_jpeg

        write_jpeg(folder / "b_shelf.jpg", render_scene(scene_rng(8, 0), 640, 480)[0])
    return folder, truth


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory, photos: tuple[Path, list[np.ndarray]]) -> Iterator[LiveStudio]:
    folder, _ = photos
    with running_studio(tmp_path_factory.mktemp("workbench"),
                        ["import", "images", str(folder), "--dataset", "photos", "--here"],
                        worker=False, demo_images=0, env={"STUDIO_SAM_MODEL": "fallback"}) as live:
        yield live


@pytest.fixture
def db(studio: LiveStudio, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process reads the live studio's database."""
    for key, value in studio_env_vars(studio.root).items():
        monkeypatch.setenv(key, value)
    reset_studio_caches()
    yield
    reset_studio_caches()


# ---------------------------------------------------------------------------- helpers


def centre(mask: np.ndarray) -> tuple[int, int]:
    distance = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return int(x), int(y)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def client(page, x: float, y: float) -> tuple[float, float]:  # noqa: ANN001
    cx, cy = page.evaluate(f"([x, y]) => {HOOK}.toClient(x, y)", [float(x), float(y)])
    return float(cx), float(cy)


def settle(page) -> None:  # noqa: ANN001
    page.evaluate(f"() => {HOOK}.idle()")


def state(page) -> dict:  # noqa: ANN001
    return page.evaluate(f"() => {HOOK}.state()")


def click(page, x: float, y: float, shift: bool = False) -> None:  # noqa: ANN001
    """A click on image pixel (x, y); waits until its mask is drawn."""
    before = page.evaluate(f"() => {HOOK}.timings('click').length")
    cx, cy = client(page, x, y)
    if shift:
        page.keyboard.down("Shift")
    page.mouse.click(cx, cy)
    if shift:
        page.keyboard.up("Shift")
    page.wait_for_function(f"(n) => {HOOK}.timings('click').length > n", arg=before)


def drag(page, x0: float, y0: float, x1: float, y1: float) -> None:  # noqa: ANN001
    page.mouse.move(*client(page, x0, y0))
    page.mouse.down()
    page.mouse.move(*client(page, x1, y1), steps=8)
    page.mouse.up()
    settle(page)


def accept(page) -> None:  # noqa: ANN001
    """A, then wait until the server stored it."""
    before = page.evaluate(f"() => {HOOK}.timings('acceptSaved').length")
    page.keyboard.press("a")
    page.wait_for_function(f"(n) => {HOOK}.timings('acceptSaved').length > n", arg=before)
    settle(page)


def annotations(image_id: int) -> dict[int, object]:
    from studio import annotations as ann

    return {a.id: a for a in ann.list_annotations(image_id)}


def wait_until(condition, what: str, timeout: float = 30) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


# ------------------------------------------------------------------------------- flow


def test_label_a_folder_of_photos_from_scratch(browser, studio: LiveStudio, photos, db: None) -> None:  # noqa: ANN001
    from studio import annotations as ann
    from studio import classes as class_ops
    from studio import masks

    _, truth = photos
    products, small = truth[:-1], truth[-1]
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.set_default_timeout(60_000)
    try:
        page.goto(f"{studio.url}/label")  # the first visit after a start is a deep link
        page.get_by_role("heading", name="Label").wait_for()
        page.wait_for_function(f"() => {HOOK} && {HOOK}.ready()", timeout=120_000)
        image_id = page.evaluate(f"() => {HOOK}.imageId()")
        assert ann.image_queue("photos")[0].id == image_id and class_ops.list_classes(dataset="photos") == []

        # classes from the UI: the page's first-class prompt, then the canvas's own input
        page.get_by_text("add your first class", exact=False).first.wait_for()
        first_input = page.get_by_role("textbox").filter(has_not=page.locator(".sc-class-input")).first
        first_input.fill("box")
        page.get_by_role("button", name="Add").first.click()
        page.wait_for_function(f"() => {HOOK}.state().classes.length === 1")
        for name in ("jar", "bottle"):
            page.locator(".sc-class-input").fill(name)
            page.locator(".sc-class-input").press("Enter")
            page.wait_for_function(f"(n) => {HOOK}.state().classes.length === n", arg=1 + ("jar", "bottle").index(name) + 1)
        classes = {c.name: c.id for c in class_ops.list_classes(dataset="photos")}
        assert list(classes) == ["box", "jar", "bottle"]

        # 1. a click (class 1, right after the click)
        a, b, c, d = products[:4]
        click(page, *centre(a))
        page.keyboard.press("1")
        accept(page)
        stored = list(annotations(image_id).values())
        assert len(stored) == 1 and stored[0].class_id == classes["box"] and stored[0].source == "fallback"
        first_id = stored[0].id
        assert iou(masks.decode(stored[0].rle).astype(bool), a) >= 0.8

        # 2. a box (box tool R), class 2
        ys, xs = np.nonzero(b)
        page.keyboard.press("r")
        drag(page, xs.min() - 12, ys.min() - 12, xs.max() + 12, ys.max() + 12)
        page.wait_for_function(f"() => {HOOK}.workingMask() !== null")
        page.keyboard.press("2")
        accept(page)
        (boxed,) = [x for x in annotations(image_id).values() if x.id != first_id]
        assert boxed.class_id == classes["jar"] and iou(masks.decode(boxed.rle).astype(bool), b) >= 0.8

        # 3. a click touched up with the brush before Accept: the stroke joins the mask
        page.keyboard.press("s")
        cx, cy = centre(c)
        click(page, cx, cy)
        ys, xs = np.nonzero(c)
        out_x = int(xs.max()) + 40  # beside the object, on the wall / shelf
        page.keyboard.press("b")
        drag(page, xs.max() - 5, cy, out_x, cy)
        brushed_mask = masks.decode(page.evaluate(f"() => {HOOK}.workingMask()")).astype(bool)
        assert brushed_mask[cy, out_x - 10] and brushed_mask[cy, cx]
        accept(page)
        page.keyboard.press("s")
        brushed = max(annotations(image_id).values(), key=lambda x: x.id)
        assert masks.decode(brushed.rle).astype(bool)[cy, out_x - 10]  # the stroke is stored

        # the eraser on a stored mask: select it (click on it), erase a band, accept = same annotation
        ax, ay = centre(a)
        stored_a = masks.decode(annotations(image_id)[first_id].rle).astype(bool)
        cxa, cya = client(page, ax, ay)
        page.mouse.click(cxa, cya)
        page.wait_for_function(f"(id) => {HOOK}.state().selectedId === id", arg=first_id)
        page.keyboard.press("e")
        ys, xs = np.nonzero(a)
        drag(page, xs.min() - 10, ay, xs.max() + 10, ay)
        accept(page)
        page.keyboard.press("s")
        erased = masks.decode(annotations(image_id)[first_id].rle).astype(bool)
        # the band lands on the aimed row (a rerun arriving mid-drag once moved the image under
        # the pointer), cuts across the object, and the rest stays
        rows = np.nonzero(erased.any(axis=1))[0]
        band = [y for y in range(rows.min(), rows.max() + 1) if not erased[y].any()]
        assert not erased[ay, ax] and ay in band and len(band) >= 10
        outside = ~np.isin(np.arange(H), band)[:, None] & stored_a  # the stored mask away from the band
        assert not (erased & ~stored_a).any() and (outside & ~erased).sum() <= 0.02 * outside.sum()

        # 4. zoom in at the small label (wheel at the cursor), label it
        page.keyboard.press("Escape")
        sx, sy, side = SMALL
        zoom = page.evaluate(f"() => {HOOK}.view()")
        page.mouse.move(*client(page, sx + side / 2, sy + side / 2))
        for _ in range(6):
            page.mouse.wheel(0, -240)
        settle(page)
        zoomed = page.evaluate(f"() => {HOOK}.view()")
        assert zoomed != zoom
        assert page.get_by_test_id("studio-canvas-zoom").inner_text() != "100%"
        click(page, sx + side / 2, sy + side / 2)
        page.keyboard.press("3")
        accept(page)
        tiny = max(annotations(image_id).values(), key=lambda x: x.id)
        assert tiny.class_id == classes["bottle"] and iou(masks.decode(tiny.rle).astype(bool), small) >= 0.7
        page.keyboard.press("f")
        settle(page)

        # 5. click an existing mask: it is selected (no new object), 3 re-classes it
        count = len(annotations(image_id))
        bx, by = centre(b)
        page.mouse.click(*client(page, bx, by))
        page.wait_for_function(f"(id) => {HOOK}.state().selectedId === id", arg=boxed.id)
        page.keyboard.press("3")
        wait_until(lambda: annotations(image_id)[boxed.id].class_id == classes["bottle"], "re-class not stored")
        assert len(annotations(image_id)) == count  # no duplicate
        page.keyboard.press("Escape")

        # 6. Z / Esc / 2 / A right after clicking the image
        dx, dy = centre(d)
        click(page, dx, dy)
        page.keyboard.press("z")
        page.wait_for_function(f"() => {HOOK}.state().steps === 0")
        click(page, dx, dy)
        page.keyboard.press("Escape")
        page.wait_for_function(f"() => {HOOK}.state().steps === 0")
        click(page, dx, dy)
        page.keyboard.press("2")
        page.wait_for_function(f"(id) => {HOOK}.state().classId === id", arg=classes["jar"])
        accept(page)
        last = max(annotations(image_id).values(), key=lambda x: x.id)
        assert last.class_id == classes["jar"] and iou(masks.decode(last.rle).astype(bool), d) >= 0.8

        # 7. N: the next photo (a real grocery photo when ../shared is there), one click, A
        page.keyboard.press("n")
        page.wait_for_function(f"(id) => {HOOK}.ready() && {HOOK}.imageId() !== id", arg=image_id)
        other = page.evaluate(f"() => {HOOK}.imageId()")
        item = next(i for i in ann.image_queue("photos") if i.id == other)
        click(page, item.width / 2, item.height / 2)
        accept(page)
        (on_other,) = annotations(other).values()
        assert masks.decode(on_other.rle)[item.height // 2, item.width // 2]

        # everything is in the database, every mask an RLE of its image's size
        stored = annotations(image_id)
        assert len(stored) == 5 and all(s.status == "accepted" and s.author for s in stored.values())
        assert all(s.rle["size"] == [H, W] for s in stored.values())
        assert ann.image_queue("photos")[0].status == "done"
    finally:
        page.screenshot(path=str(studio.root / "workbench.png"), full_page=True)
        print("canvas state:", page.evaluate(f"() => {HOOK} && {HOOK}.state()"))  # shown on failure
        print("last requests:", page.evaluate(f"() => {HOOK} && {HOOK}.requests().slice(-5)"))
        page.close()
