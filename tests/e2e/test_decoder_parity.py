"""SAM decoded in the browser equals SAM on the server (random vit_b weights), and a decoder
file the browser cannot load falls back to the server path with a visible note.

A live studio runs ``STUDIO_SAM_MODEL=random-vit_b``. Headless Chromium opens the Label page;
the canvas loads the exported decoder into onnxruntime-web and the image's fp16 embedding
(the one SAM encoder run of this module, on the server). Its test hook
(``window.__studioCanvas.decode``) decodes a set of prompts exactly as a click does
(prompt encoding, decoder, SAM's postprocessing in TypeScript); this process runs
``SamSegmenter.predict`` on the same fp16 embedding, fetched over HTTP; every mask must agree
with IoU >= 0.99. A real click decodes its point once, from its press, and shows that answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import reset_studio_caches, studio_env_vars
from tests.e2e.conftest import LiveStudio, launch_chromium, running_studio

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
HOOK = "window.__studioCanvas"


@pytest.fixture(scope="module")
def sam_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStudio]:
    with running_studio(tmp_path_factory.mktemp("sam-live"), worker=False, demo_images=2,
                        env={"STUDIO_SAM_MODEL": "random-vit_b"}) as studio:
        yield studio


@pytest.fixture
def studio_db(sam_studio: LiveStudio, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in studio_env_vars(sam_studio.root).items():
        monkeypatch.setenv(key, value)
    reset_studio_caches()
    yield
    reset_studio_caches()


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = launch_chromium(playwright)
        yield instance
        instance.close()


def open_label(chromium, studio: LiveStudio, block_decoder: bool = False):  # noqa: ANN001, ANN201
    """A page on /label with the canvas ready; with ``block_decoder`` the decoder file arrives corrupt."""
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    embeddings: list[str] = []
    page.on("request", lambda r: embeddings.append(r.url) if "/embedding/" in r.url else None)
    if block_decoder:
        page.route("**/decoder.onnx", lambda route: route.fulfill(status=200, body=b"\x08\x07 not an onnx model"))
    page.goto(f"{studio.url}/label")
    page.wait_for_function(f"() => {HOOK} && {HOOK}.ready()", timeout=120_000)
    return page, embeddings


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return 1.0 if union == 0 else float((a & b).sum() / union)


def test_browser_decoder_masks_equal_sam_predict(chromium, sam_studio: LiveStudio) -> None:  # noqa: ANN001
    from studio import masks
    from studio.segment.base import Embedding, Prompt
    from studio.segment.sam import SamSegmenter

    page, embedding_urls = open_label(chromium, sam_studio)
    try:
        page.wait_for_function(f"() => {HOOK}.decoder().status === 'ready'", timeout=120_000)
        # the app's pages are cross-origin isolated (studio_ui.web.isolation): the decoder gets threads
        assert page.evaluate("() => crossOriginIsolated") and page.evaluate(f"() => {HOOK}.decoder().threads") >= 2
        first = page.evaluate(f"() => {HOOK}.decode({{points: [[320, 240]], labels: [1]}})")  # waits for the embedding
        assert embedding_urls, "the canvas never asked for the embedding"
        reply = page.request.get(embedding_urls[0], timeout=120_000)
        assert reply.status == 200
        h, w = (int(v) for v in reply.headers["x-studio-image-size"].split(","))
        input_size = np.array([int(v) for v in reply.headers["x-studio-input-size"].split(",")], np.int32)
        features = np.frombuffer(reply.body(), "<f2").reshape(1, 256, 64, 64).astype(np.float32)
        sam = SamSegmenter("vit_b", None, device="cpu")
        embedding = Embedding(sam.id, (h, w), {"features": features, "input_size": input_size})

        def server(prompt: Prompt, multimask: bool = True):  # noqa: ANN202
            return sam.predict(embedding, prompt, multimask=multimask)

        expected_first = server(Prompt.from_clicks([(320, 240)], [1]))
        best = int(np.argmax(expected_first.scores))
        cases = [  # (name, browser prompt, server prediction)
            ("one point", first, expected_first),
            ("positive + negative points", {"points": [[320, 240], [100, 400]], "labels": [1, 0], "multimask": False},
             server(Prompt.from_clicks([(320, 240), (100, 400)], [1, 0]), False)),
            ("box", {"box": [200, 120, 460, 380]}, server(Prompt.from_clicks([], [], box=(200, 120, 460, 380)))),
            ("box + point", {"points": [[330, 250]], "labels": [1], "box": [200, 120, 460, 380], "multimask": False},
             server(Prompt.from_clicks([(330, 250)], [1], box=(200, 120, 460, 380)), False)),
            ("refinement (mask_input of the best first candidate)",
             {"points": [[320, 240], [360, 260]], "labels": [1, 1], "multimask": False,
              "mask_input": {"decode": first["id"], "candidate": best}},
             server(Prompt.from_clicks([(320, 240), (360, 260)], [1, 1], mask_input=expected_first.logits[best][None]),
                    False)),
        ]
        nontrivial = 0
        for name, prompt, expected in cases:
            got = prompt if name == "one point" else page.evaluate(f"(p) => {HOOK}.decode(p)", prompt)
            assert len(got["masks"]) == len(expected.masks), name
            np.testing.assert_allclose(got["scores"], expected.scores, atol=2e-3, err_msg=name)
            for k, (rle, mask) in enumerate(zip(got["masks"], expected.masks)):
                browser = masks.decode(rle).astype(bool)
                assert browser.shape == (h, w)
                assert iou(browser, mask) >= 0.99, f"{name}, candidate {k}: IoU {iou(browser, mask):.4f}"
                nontrivial += 0 < mask.sum() < mask.size
        assert nontrivial >= 4, "random weights gave (almost) only empty or full masks: nothing was compared"
    finally:
        page.close()


def test_a_click_decodes_in_the_browser_from_its_press(chromium, sam_studio: LiveStudio) -> None:  # noqa: ANN001
    """A person's click (held down ~150 ms) decodes its point once, starting at pointer down, and the
    click shows that answer: the working mask is the top-scored candidate of the same point."""
    from studio import masks

    page, _ = open_label(chromium, sam_studio)
    try:
        page.wait_for_function(f"() => {HOOK}.decoder().status === 'ready'", timeout=120_000)
        page.evaluate(f"() => {HOOK}.decode({{points: [[5, 5]], labels: [1]}})")  # the embedding is loaded
        page.mouse.move(*page.evaluate(f"() => {HOOK}.toClient(2, 2)"))
        page.evaluate(f"() => {HOOK}.idle()")
        runs = page.evaluate(f"() => {HOOK}.decoder().runs")
        x, y = page.evaluate(f"() => {HOOK}.toClient(210.5, 300.5)")
        page.keyboard.down("Shift")  # a point even where a stored mask is
        page.mouse.move(x, y)
        page.mouse.down()
        page.wait_for_timeout(150)  # a person's press; the decode runs meanwhile
        page.mouse.up()
        page.keyboard.up("Shift")
        page.wait_for_function(f"() => {HOOK}.timings('click').length > 0")
        page.evaluate(f"() => {HOOK}.idle()")
        assert page.evaluate(f"() => {HOOK}.lastTiming.path") == "browser"
        assert page.evaluate(f"() => {HOOK}.decoder().runs") == runs + 1  # the press's run, reused by the click
        px, py = (int(v) for v in page.evaluate(f"([x, y]) => {HOOK}.toImage(x, y)", [x, y]))  # the clicked pixel
        expected = page.evaluate(f"(p) => {HOOK}.decode({{points: [p], labels: [1]}})", [px, py])
        best = expected["masks"][int(np.argmax(expected["scores"]))]
        working = masks.decode(page.evaluate(f"() => {HOOK}.workingMask()")).astype(bool)
        assert iou(working, masks.decode(best).astype(bool)) >= 0.99
    finally:
        page.close()


def test_a_decoder_that_fails_to_load_falls_back_to_the_server_with_a_note(chromium, sam_studio: LiveStudio,
                                                                           studio_db: None) -> None:  # noqa: ANN001
    from studio import annotations as ann

    page, _ = open_label(chromium, sam_studio, block_decoder=True)
    try:
        page.wait_for_function(f"() => {HOOK}.decoder().status === 'failed'")
        note = page.get_by_test_id("studio-canvas-note")
        note.wait_for()
        assert "could not load" in note.inner_text() and "server" in note.inner_text()
        image_id = page.evaluate(f"() => {HOOK}.imageId()")
        before = {a.id for a in ann.list_annotations(image_id)}
        x, y = page.evaluate(f"() => {HOOK}.toClient(300, 200)")
        page.keyboard.down("Shift")  # a point, even if a mask is there
        page.mouse.click(x, y)
        page.keyboard.up("Shift")
        page.wait_for_function(f"() => {HOOK}.timings('click').length > 0", timeout=120_000)
        assert page.evaluate(f"() => {HOOK}.lastTiming.path") == "server"
        assert any(r["path"] == "predict" and r.get("status") == 200 for r in page.evaluate(f"() => {HOOK}.requests()"))
        if page.evaluate(f"() => {HOOK}.workingMask()") is not None:  # random weights may give an empty mask
            page.keyboard.press("a")
            page.wait_for_function(f"() => {HOOK}.timings('acceptSaved').length > 0")
            (new,) = [a for a in ann.list_annotations(image_id) if a.id not in before]
            assert new.source == "sam" and new.status == "accepted"
    finally:
        page.screenshot(path=str(Path(sam_studio.root) / "decoder-fallback.png"))
        page.close()
