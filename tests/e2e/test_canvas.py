"""The labelling canvas alone in real Chromium (the built bundle from studio_ui/canvas/dist,
served by the real asset route), mounted by a small Streamlit page and fed by a fake workspace
API (tests/e2e/canvas_app): classes from an empty list, zoom / pan / fit, a click -> mask ->
accept whose POST carries pycocotools' exact RLE, selection by click and re-class with a key
right after clicking the image, brush strokes clipped to the image, boxes, prompts kept over
a rerun, the page's own N key, and SAM decoded in the browser (onnxruntime-web, random vit_b
weights) equal to SamSegmenter.predict on the same features."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator

import numpy as np
import pytest

from studio import masks as rle_codec
from studio_ui.canvas import is_built
from tests.conftest import REPO
from tests.e2e.canvas_app import fake_api
from tests.e2e.conftest import _free_port, _wait_http, launch_chromium

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
HOOK = "window.__studioCanvas"


@pytest.fixture(scope="module")
def segmenter():  # noqa: ANN201
    from studio.segment.sam import SamSegmenter

    return SamSegmenter("vit_b", None, device="cpu")


@pytest.fixture(scope="module")
def canvas_server(tmp_path_factory: pytest.TempPathFactory, segmenter) -> Iterator[str]:  # noqa: ANN001
    """The test page on a free port; its decoder file exported from ``segmenter``."""
    if not is_built():
        pytest.skip("the canvas is not built: run `make install` (npm ci && npm run build in frontend/canvas)")
    from studio.segment.onnx_decoder import export_decoder

    root = tmp_path_factory.mktemp("canvas")
    decoder = export_decoder(segmenter, root / "decoder.onnx")
    port = _free_port()
    env = {**os.environ, "STUDIO_CANVAS_TEST_DECODER": str(decoder), "PYTHONUNBUFFERED": "1"}
    log = open(root / "server.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "tests/e2e/canvas_app/server.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url, server)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = launch_chromium(playwright)
        yield instance
        instance.close()


class Canvas:
    """A page with the canvas, and helpers over window.__studioCanvas."""

    def __init__(self, page, url: str) -> None:  # noqa: ANN001
        self.page = page
        self.url = url
        self.outside: list[str] = []
        page.on("request", lambda r: self.outside.append(r.url)
                if not r.url.startswith((url, "data:", "blob:")) else None)

    def open(self, mode: str, lag: float = 0) -> Canvas:
        self.page.goto(f"{self.url}/?mode={mode}&lag={lag}")
        self.page.wait_for_function(f"{HOOK} && {HOOK}.ready()")
        return self

    def js(self, expression: str, arg: object = None) -> object:
        return self.page.evaluate(expression, arg)

    def idle(self) -> None:
        self.js(f"() => {HOOK}.idle()")

    def state(self) -> dict:
        return self.js(f"() => {HOOK}.state()")

    def client(self, x: float, y: float) -> tuple[float, float]:
        return tuple(self.js(f"([x, y]) => {HOOK}.toClient(x, y)", [x, y]))

    def click(self, x: float, y: float, **kwargs: object) -> None:
        self.page.mouse.click(*self.client(x + 0.5, y + 0.5), **kwargs)
        self.idle()

    def drag(self, a: tuple[float, float], b: tuple[float, float], steps: int = 8) -> None:
        self.page.mouse.move(*self.client(*a))
        self.page.mouse.down()
        self.page.mouse.move(*self.client(*b), steps=steps)
        self.page.mouse.up()
        self.idle()

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)
        self.idle()

    def requests(self) -> list[dict]:
        return self.js(f"() => {HOOK}.requests()")

    def working(self) -> np.ndarray | None:
        rle = self.js(f"() => {HOOK}.workingMask()")
        return None if rle is None else rle_codec.decode(rle).astype(bool)


def fake_state(url: str) -> dict:
    with urllib.request.urlopen(f"{url}{fake_api.API}/_state", timeout=10) as reply:
        return json.loads(reply.read())


@pytest.fixture
def canvas(browser, canvas_server: str) -> Iterator[Canvas]:  # noqa: ANN001
    urllib.request.urlopen(urllib.request.Request(f"{canvas_server}{fake_api.API}/_reset", method="POST"), timeout=10)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    view = Canvas(page, canvas_server)
    try:
        yield view
        assert view.outside == [], f"requests left the machine: {view.outside}"
    finally:
        context.close()


def add_class(c: Canvas, name: str) -> None:
    field = c.page.locator(".sc-class-input")
    field.fill(name)
    field.press("Enter")
    c.page.locator(".sc-chip", has_text=name).wait_for()
    c.idle()


def test_classes_click_accept_select_reclass_with_keys(canvas: Canvas) -> None:
    c = canvas.open("fallback")
    can = fake_api.shapes(1)["can"]
    # an empty class list asks for the first class, with the field right there
    c.page.get_by_text("No classes yet: add your first class").wait_for()
    add_class(c, "can")
    add_class(c, "jar")  # typing "n" and "j" in the field neither opens the next image nor is a shortcut
    assert c.js(f"() => {HOOK}.imageId()") == 1
    assert c.state()["classes"] == [100, 101]

    c.click(160, 200)  # inside the can: the fake segmenter answers with it as the best of 3
    assert c.state()["candidates"] == 3
    assert np.array_equal(c.working(), can)
    c.press("v")  # keys work right after the click on the image
    assert c.state()["candidate"] == 1 and not np.array_equal(c.working(), can)
    c.press("Shift+V")
    assert np.array_equal(c.working(), can)
    c.press("a")
    post = [r for r in c.requests() if r["method"] == "POST" and r["path"] == "annotations"][-1]
    assert post["body"]["rle"] == rle_codec.encode(can)  # pycocotools' exact string
    assert post["body"]["class_id"] == 100 and post["body"]["source"] == "fallback"
    assert c.state()["steps"] == 0 and c.working() is None  # ready for the next object
    stored = fake_state(c.url)["annotations"]
    assert [a["id"] for a in stored] == [1]
    c.page.get_by_text("events 3").wait_for()  # two new classes + the accept reached Streamlit

    predicts = len([r for r in c.requests() if r["path"] == "predict"])
    c.click(150, 210)  # on the stored can: selects it, no new object
    assert c.state()["selectedId"] == 1
    assert len([r for r in c.requests() if r["path"] == "predict"]) == predicts
    c.page.locator(".sc-row.sc-selected").wait_for()
    c.press("2")  # re-classes the selection
    assert fake_state(c.url)["annotations"][0]["class_id"] == 101
    c.press("Escape")
    assert c.state()["selectedId"] is None
    c.click(150, 210)
    c.press("Delete")
    assert fake_state(c.url)["annotations"] == []
    assert {"kind": "select", "annotation_id": 1} in c.js(f"() => {HOOK}.events()")


def test_an_accepted_edit_stays_unselected_when_a_slow_rerun_arrives(canvas: Canvas) -> None:
    """Select a stored mask, brush it and Accept before the page's rerun for the selection
    arrives (a loaded server): that rerun must not select it again, or the next click would
    refine the stored object instead of starting a new one (a CI run stored a label that way)."""
    c = canvas.open("fallback", lag=2)
    add_class(c, "can")
    c.click(160, 200)
    c.press("a")
    c.page.get_by_text("events 2").wait_for()  # the class and the accept reached the page
    c.click(150, 210)  # on the stored can: selected; the page takes 2 s to hear of it
    assert c.state()["selectedId"] == 1
    c.press("b")
    c.drag((200, 200), (250, 200))
    c.press("a")
    edit = [r for r in c.requests() if r["path"] == "annotations"][-1]["body"]
    assert edit["annotation_id"] == 1 and c.state()["selectedId"] is None
    c.page.wait_for_timeout(3000)  # the slow rerun and the ones after it have arrived
    c.idle()
    assert c.state()["selectedId"] is None
    assert {"kind": "select", "annotation_id": None} in c.js(f"() => {HOOK}.events()")  # the page was told
    c.press("s")
    c.click(470, 210)  # the box: a new object, not a refinement of the can
    assert c.state()["editingId"] is None and np.array_equal(c.working(), fake_api.shapes(1)["box"])


def test_zoom_pan_and_fit(canvas: Canvas) -> None:
    c = canvas.open("fallback")
    fit = c.js(f"() => {HOOK}.view()")
    x, y = c.client(470, 210)
    c.page.mouse.move(x, y)
    c.page.mouse.wheel(0, -600)
    c.idle()
    zoomed = c.js(f"() => {HOOK}.view()")
    assert zoomed["scale"] > fit["scale"] * 2
    ix, iy = c.js(f"([x, y]) => {HOOK}.toImage(x, y)", [x, y])
    assert abs(ix - 470) < 1 and abs(iy - 210) < 1  # the point under the cursor stays put
    c.page.keyboard.down(" ")
    c.page.mouse.down()
    c.page.mouse.move(x - 120, y - 50, steps=4)
    c.page.mouse.up()
    c.page.keyboard.up(" ")
    c.idle()
    panned = c.js(f"() => {HOOK}.view()")
    assert abs(panned["tx"] - zoomed["tx"] + 120) < 1 and abs(panned["ty"] - zoomed["ty"] + 50) < 1
    assert c.state()["steps"] == 0  # the pan made no prompt
    c.press("f")
    assert c.js(f"() => {HOOK}.view()") == fit
    c.press("+")
    assert c.js(f"() => {HOOK}.view()")["scale"] > fit["scale"]


def test_brush_is_clipped_to_the_image_and_box_prompts(canvas: Canvas) -> None:
    c = canvas.open("fallback")
    add_class(c, "shelf")
    c.press("b")
    # from outside the image (its left margin) into it: the stroke is clipped at x = 0
    c.drag((-4, 440), (80, 440))
    mask = c.working()
    assert mask is not None and mask.shape == (480, 640)
    ys, xs = np.nonzero(mask)
    assert xs.min() == 0 and 60 < xs.max() < 100 and abs(ys.mean() - 440) < 2
    c.press("e")
    c.drag((40, 420), (40, 460))  # the eraser cuts it in two
    assert not c.working()[440, 40]
    c.press("a")
    post = [r for r in c.requests() if r["path"] == "annotations"][-1]["body"]
    assert post["source"] == "manual" and rle_codec.decode(post["rle"])[440, 10]
    c.press("r")
    c.drag((250, 330), (360, 450))
    predict = [r for r in c.requests() if r["path"] == "predict"][-1]["body"]
    assert predict["box"] == [250, 330, 360, 450] and predict["points"] == [] and predict["multimask"] is True
    assert np.array_equal(c.working(), fake_api.shapes(1)["jar"])
    c.press("z")
    assert c.state()["steps"] == 0


def test_prompts_survive_reruns_and_the_page_keeps_its_n_key(canvas: Canvas) -> None:
    c = canvas.open("fallback")
    c.click(470, 210)  # a prompt in progress on the box
    add_class(c, "box")  # a write: Streamlit reruns and sends new data for the same image
    c.page.get_by_text("events 1").wait_for()
    assert c.state()["steps"] == 1 and np.array_equal(c.working(), fake_api.shapes(1)["box"])
    c.page.keyboard.press("n")  # the page's Next button, not the canvas's
    c.page.wait_for_function(f"{HOOK}.imageId() === 2 && {HOOK}.ready()")
    assert c.state()["steps"] == 0
    c.click(170, 250)
    assert np.array_equal(c.working(), fake_api.shapes(2)["bottle"])


def test_browser_sam_decoder_equals_the_segmenter(canvas: Canvas, segmenter) -> None:  # noqa: ANN001
    from studio.segment.base import Embedding, Prompt

    c = canvas.open("sam")
    c.page.wait_for_function(f"{HOOK}.decoder().status !== 'loading'", timeout=120_000)
    assert c.js(f"() => {HOOK}.decoder()")["status"] == "ready"
    features, input_size = fake_api.embedding(1)
    embedding = Embedding(segmenter.id, fake_api.SIZES[1], {"features": features.astype(np.float32),
                                                             "input_size": np.array(input_size, np.int32)})

    def both(points: list, labels: list, box: list | None = None, refine: tuple[dict, object, int] | None = None):
        """Masks of the browser decoder and of SamSegmenter.predict for one prompt."""
        multimask = refine is None
        mask_input = None if refine is None else {"decode": refine[0]["id"], "candidate": refine[2]}
        browser = c.js(f"(p) => {HOOK}.decode(p)", {"points": points, "labels": labels, "box": box,
                                                     "multimask": multimask, "mask_input": mask_input})
        prompt = Prompt.from_clicks(points, labels, box=box,
                                    mask_input=None if refine is None else refine[1].logits[refine[2]][None])
        server = segmenter.predict(embedding, prompt, multimask=multimask)
        for k, (rle, expected) in enumerate(zip(browser["masks"], server.masks)):
            got = rle_codec.decode(rle).astype(bool)
            union = (got | expected).sum()
            iou = (got & expected).sum() / union if union else 1.0
            assert iou >= 0.99, f"{points} {box}: candidate {k} IoU {iou:.4f}"
        np.testing.assert_allclose(browser["scores"], server.scores, atol=1e-3)
        return browser, server

    one = both([[200, 150]], [1])
    both([[200, 150], [420, 300]], [1, 0])
    both([], [], [100, 80, 380, 300])
    both([[250, 200]], [1], [100, 80, 380, 300])
    both([[200, 150], [260, 170]], [1, 1], refine=(one[0], one[1], 2))

    # clicks and the hover preview run in the browser, with timing marks
    c.js(f"() => {HOOK}.clearTimings()")
    c.click(500, 60)
    assert c.js(f"() => {HOOK}.lastTiming")["path"] == "browser"
    assert not [r for r in c.requests() if r["path"] == "predict"]
    c.press("Escape")
    for i in range(4):
        c.page.mouse.move(*c.client(520 + 9 * i, 420 - 7 * i))
        c.page.wait_for_timeout(200)
    c.page.wait_for_function(f"{HOOK}.timings('hover').length > 0")


def test_a_decoder_that_cannot_load_falls_back_to_the_server(canvas: Canvas) -> None:
    c = canvas.open("badsam")
    c.page.wait_for_function(f"{HOOK}.decoder().status === 'failed'")
    c.page.locator("[data-testid=studio-canvas-note]", has_text="clicks go to the server").wait_for()
    c.click(160, 200)
    assert [r for r in c.requests() if r["path"] == "predict"]
    assert np.array_equal(c.working(), fake_api.shapes(1)["can"])
