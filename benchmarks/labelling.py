"""Labelling figures: what an annotator waits for (prints them; not a test).

    python benchmarks/labelling.py [--quick] [--clicks 30] [--encoder-runs 2] [--no-browser]

1. decoder latency per click (p50 / p95) with the image's embedding already computed, on
   a 640x480 demo shelf scene, one click at the interior of each product: SAM vit_b (the
   official checkpoint when ``<models_dir>/sam`` has it, else random weights: same cost) in
   torch and as the exported ONNX decoder in onnxruntime (what the browser runs, natively
   here), and the OpenCV fallback;
2. SAM vit_b image-encoder time per image (the wait when an image is opened uncached): on
   the CPU, and on CUDA when there is a GPU (bfloat16 autocast + SDPA attention);
3. embedding cache: a miss (compute + store) against a disk hit and a memory hit;
4. in headless Chromium on a running studio, side by side (:func:`measure_browser`):
   click -> mask visible and hover -> preview visible with SAM vit_b decoded in the browser,
   the same click through the server path, the fallback, and Accept -> ready for the next
   object. Every process the benchmark starts ends when it ends.

``--quick``: fewer clicks and one encoder run per device.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from studio.demo import render_scene, scene_rng  # noqa: E402
from studio.segment.base import Embedding, Prompt, Segmenter  # noqa: E402

Row = tuple[str, str, str]  # what, figure, note


def scene(seed: int = 0) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """A 640x480 demo scene and one interior click (x, y) per product."""
    import cv2

    image, instances = render_scene(scene_rng(seed, 0), 640, 480)
    clicks = []
    for _, mask in instances:
        dist = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
        y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
        clicks.append((int(x), int(y)))
    return image, clicks


def timings(fn: Callable[[], Any], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def ms(values: list[float]) -> str:
    return f"p50 {1000 * np.percentile(values, 50):7.1f} ms  p95 {1000 * np.percentile(values, 95):7.1f} ms"


def sam_vit_b(device: str) -> tuple[Segmenter, str]:
    """SAM vit_b with the official weights when present, else random ones (same speed)."""
    from studio.config import get_settings
    from studio.segment.registry import find_checkpoint
    from studio.segment.sam import SamSegmenter

    checkpoint = find_checkpoint(get_settings().sam_dir, "vit_b")
    weights = f"checkpoint {checkpoint.name}" if checkpoint else "random weights (no checkpoint)"
    return SamSegmenter("vit_b", checkpoint, device=device), weights


def measure_clicks(segmenter: Segmenter, embedding: Embedding, clicks: list[tuple[int, int]]) -> list[float]:
    """Seconds per single-click prediction (3 candidates), after one warm-up click."""
    segmenter.predict(embedding, Prompt.from_clicks([clicks[0]], [1]))
    return [t for click in clicks for t in timings(lambda c=click: segmenter.predict(
        embedding, Prompt.from_clicks([c], [1])), 1)]


def measure_onnx_clicks(segmenter: Segmenter, embedding: Embedding, clicks: list[tuple[int, int]]) -> list[float]:
    """Seconds per single-click decode through the exported ONNX decoder (onnxruntime, CPU)."""
    import onnxruntime as ort

    from studio.segment.onnx_decoder import ensure_decoder, run_decoder

    with tempfile.TemporaryDirectory() as folder:
        session = ort.InferenceSession(str(ensure_decoder(segmenter, Path(folder))), providers=["CPUExecutionProvider"])
    run_decoder(session, embedding, Prompt.from_clicks([clicks[0]], [1]))
    return [t for click in clicks for t in timings(lambda c=click: run_decoder(
        session, embedding, Prompt.from_clicks([c], [1])), 1)]


def measure_encoder(segmenter: Segmenter, image: np.ndarray, runs: int) -> tuple[list[float], Embedding]:
    """Seconds per ``set_image`` (the model is built before timing); the last embedding."""
    import torch

    _ = segmenter.model  # type: ignore[attr-defined]  # build / load outside the timing
    holder: list[Embedding] = []

    def once() -> None:
        holder.append(segmenter.set_image(image))
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    return timings(once, runs), holder[-1]


def measure_cache(segmenter: Segmenter, embedding: Embedding, miss_seconds: float) -> list[Row]:
    """A miss (compute time given + store) against disk and memory hits, in a temp folder."""
    from studio.segment.cache import EmbeddingCache

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        cache = EmbeddingCache(Path(folder), 10**10, memory_items=4)
        content_hash = "ab" * 32
        store = timings(lambda: cache.put(content_hash, embedding), 3)
        size = cache.path_for(segmenter.id, content_hash).stat().st_size
        disk = timings(lambda: EmbeddingCache(Path(folder), 10**10, memory_items=0).get(segmenter.id, content_hash), 5)
        memory = timings(lambda: cache.get(segmenter.id, content_hash), 20)
        rows.append((f"cache miss, {segmenter.id}", f"{1000 * (miss_seconds + min(store)):9.1f} ms",
                     f"compute {1000 * miss_seconds:.1f} ms + store {1000 * min(store):.1f} ms ({size / 2**20:.1f} MB fp16)"))
        rows.append((f"cache disk hit, {segmenter.id}", f"{1000 * float(np.median(disk)):9.1f} ms", "median of 5"))
        rows.append((f"cache memory hit, {segmenter.id}", f"{1e6 * float(np.median(memory)):9.1f} us", "median of 20"))
    return rows


# ----------------------------------------------------------------------------- browser

BROWSER_SIZE = (2560, 1920)  # (H, W) of the shelf photo the browser rows label, like the photos
HOOK = "window.__studioCanvas"  # the canvas's test hook (frontend/canvas/README.md)
PRESS_MS = 80  # how long a person holds a mouse button down in a click (about 80-120 ms)
TRAVEL_MS = 160  # a person's pointer travel onto the object before a click
REST_MS = 150  # the pause between the pointer's arrival and the press (aiming, deciding)


def browser_scene(seed: int = 0) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """A 1920x2560 (W x H) demo shelf scene and one interior click (x, y) per product."""
    import cv2

    h, w = BROWSER_SIZE
    image, instances = render_scene(scene_rng(seed, 1), w, h)
    clicks = []
    for _, mask in instances:
        dist = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
        y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
        clicks.append((int(x), int(y)))
    return image, clicks


@contextmanager
def chromium() -> Iterator[Any]:
    """Headless Debian Chromium (tests.e2e.conftest.launch_chromium), closed on exit."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import launch_chromium

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


def open_label(page: Any, url: str) -> None:
    page.goto(f"{url}/label")
    page.wait_for_function(f"() => {HOOK} && {HOOK}.ready()", timeout=120_000)


def _timed(page: Any, kind: str, action: Callable[[], None], timeout_ms: float = 120_000) -> dict:
    """Run ``action`` and return the canvas's next timing mark of ``kind`` (ms, path)."""
    before = page.evaluate(f"() => {HOOK}.timings('{kind}').map(t => t.end)")
    action()
    try:
        page.wait_for_function(f"(before) => {HOOK}.timings('{kind}').some(t => !before.includes(t.end))",
                               arg=before, timeout=timeout_ms)
    except Exception:
        stages = page.get_by_test_id("studio-canvas-stage")
        print(f"no '{kind}' mark; canvas state: {page.evaluate(f'() => {HOOK}.state()')}; stages at "
              f"{[stages.nth(i).bounding_box() for i in range(stages.count())]}, window {page.viewport_size}",
              file=sys.stderr)
        raise
    return page.evaluate(f"(before) => {HOOK}.timings('{kind}').filter(t => !before.includes(t.end)).pop()",
                         before)


def client_point(page: Any, x: float, y: float) -> tuple[float, float]:
    cx, cy = page.evaluate(f"([x, y]) => {HOOK}.toClient(x, y)", [x, y])
    return float(cx), float(cy)


def _click(page: Any, x: float, y: float, press_ms: float = 0) -> dict:
    """A click at image pixel (x, y) (the pointer jumps there), held down ``press_ms``; its mark."""
    cx, cy = client_point(page, x, y)
    return _timed(page, "click", lambda: page.mouse.click(cx, cy, delay=press_ms))


def _clear(page: Any) -> None:
    page.keyboard.press("Escape")
    page.evaluate(f"() => {HOOK}.idle()")


def _clicks(page: Any, points: list[tuple[int, int]], n: int, press_ms: float = 0) -> list[dict]:
    """``n`` clicks: on each product a first click (3 candidates) then a refining one beside
    it, then Esc; the timing marks (ms, path). ``press_ms``: how long each is held down."""
    marks: list[dict] = []
    i = 0
    while len(marks) < n:
        x, y = points[i % len(points)]
        marks.append(_click(page, x, y, press_ms))
        if len(marks) < n:
            marks.append(_click(page, x + 6, y + 4, press_ms))
        _clear(page)
        i += 1
    return marks


def _hover(page: Any, x: float, y: float, steps: int = 1) -> tuple[dict, tuple[float, float]]:
    """Leave the object, wait until the canvas is idle, move onto image pixel (x, y) in ``steps``
    moves: the preview's mark and the client point the pointer rests on."""
    page.mouse.move(*client_point(page, 5, 5))
    page.evaluate(f"() => {HOOK}.idle()")
    cx, cy = client_point(page, x, y)
    return _timed(page, "hover", lambda: page.mouse.move(cx, cy, steps=steps), 30_000), (cx, cy)


def _previewed_clicks(page: Any, points: list[tuple[int, int]], n: int) -> list[dict]:
    """Clicks as an annotator makes them: the pointer comes to rest on a product, its hover preview
    shows, then the click (on the same pixel: it reuses the preview's answer), then Esc."""
    marks = []
    for i in range(n):
        _, (cx, cy) = _hover(page, *points[i % len(points)])
        marks.append(_timed(page, "click", lambda cx=cx, cy=cy: page.mouse.click(cx, cy)))
        _clear(page)
    page.mouse.move(*client_point(page, 5, 5))
    return marks


def _person_clicks(page: Any, points: list[tuple[int, int]], n: int, rest_ms: float) -> list[dict]:
    """Clicks paced as a person makes them: the pointer travels from the image's corner to a
    product in TRAVEL_MS (a move per frame), rests ``rest_ms``, holds the button PRESS_MS; the
    click marks (from pointer up), then Esc."""
    marks = []
    for i in range(n):
        page.mouse.move(*client_point(page, 5, 5))
        page.evaluate(f"() => {HOOK}.idle()")
        (x0, y0), (x1, y1) = client_point(page, 5, 5), client_point(page, *points[i % len(points)])
        moves = max(int(TRAVEL_MS / 16), 1)

        def person(x0: float = x0, y0: float = y0, x1: float = x1, y1: float = y1) -> None:
            for k in range(1, moves + 1):
                page.mouse.move(x0 + (x1 - x0) * k / moves, y0 + (y1 - y0) * k / moves)
                page.wait_for_timeout(16)
            if rest_ms:
                page.wait_for_timeout(rest_ms)
            page.mouse.down()
            page.wait_for_timeout(PRESS_MS)
            page.mouse.up()

        marks.append(_timed(page, "click", person))
        _clear(page)
    page.mouse.move(*client_point(page, 5, 5))
    return marks


def _hovers(page: Any, points: list[tuple[int, int]], n: int) -> list[dict]:
    """Pointer moves onto products (no click, two steps each): the preview marks."""
    marks = [_hover(page, *points[i % len(points)], steps=2)[0] for i in range(n)]
    page.mouse.move(*client_point(page, 5, 5))
    return marks


def _accepts(page: Any, points: list[tuple[int, int]], n: int) -> tuple[list[dict], list[dict]]:
    """Click a product, then A: (ready for the next object marks, stored marks)."""
    ready, saved = [], []
    for i in range(n):
        x, y = points[i % len(points)]
        _clear(page)
        cx, cy = client_point(page, x, y)
        page.keyboard.down("Shift")  # a point even where an earlier round left a mask
        _timed(page, "click", lambda cx=cx, cy=cy: page.mouse.click(cx, cy))
        page.keyboard.up("Shift")
        before = page.evaluate(f"() => {HOOK}.timings('acceptSaved').length")
        ready.append(_timed(page, "accept", lambda: page.keyboard.press("a")))
        page.wait_for_function(f"(n) => {HOOK}.timings('acceptSaved').length > n", arg=before, timeout=60_000)
        saved.append(page.evaluate(f"() => {HOOK}.timings('acceptSaved').slice(-1)[0]"))
    return ready, saved


def _figure(marks: list[dict], path: str | None = None) -> str:
    values = [m["ms"] for m in marks]
    paths = {m.get("path") for m in marks}
    if path is not None and paths != {path}:
        raise RuntimeError(f"expected every mark on the {path} path, got {sorted(paths)}")
    return f"p50 {np.percentile(values, 50):7.1f} ms  p95 {np.percentile(values, 95):7.1f} ms"


def _split(marks: list[dict]) -> str:
    """Where a click's or hover's time went: input -> the segmenter's answer, then drawing it."""
    answer = [m["answerMs"] for m in marks if m.get("answerMs") is not None]
    if not answer:
        return ""
    drawing = [m["ms"] - m["answerMs"] for m in marks if m.get("answerMs") is not None]
    return f"; answer p50 {np.percentile(answer, 50):.0f} ms + drawing it p50 {np.percentile(drawing, 50):.0f} ms"


def _wait_for_embeddings(root: Path, n: int, timeout: float = 600) -> None:
    """Until the studio at ``root`` has ``n`` SAM embeddings on disk (its background prefetch
    done), so the timed clicks do not share the CPU with SAM's encoder."""
    deadline = time.monotonic() + timeout
    while len(list((root / "data" / "embeddings").glob("sam-*/*.npz"))) < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the studio at {root} did not embed {n} images within {timeout} s")
        time.sleep(0.5)


def _bench_folder(root: Path) -> tuple[Path, list[tuple[int, int]]]:
    """A folder with the benchmark's shelf photo (and a second one); the product centres."""
    from studio.demo import write_jpeg

    folder = root / "photos"
    folder.mkdir(parents=True)
    image, points = browser_scene(0)
    write_jpeg(folder / "a_shelf.jpg", image)
    write_jpeg(folder / "b_shelf.jpg", browser_scene(1)[0])
    return folder, points


def measure_browser(n: int = 20) -> list[Row] | None:
    """Headless Debian Chromium on a running studio, one 1920x2560 shelf photo, timed by the
    canvas's own marks (input event -> the frame that shows the result): click -> mask and
    hover -> preview for SAM vit_b decoded in the browser (random weights: the same compute),
    the same clicks through the server path (the decoder file blocked), the fallback; Accept
    -> ready for the next object. Every server the benchmark starts is stopped when it ends.
    None (skipped) when chromium or playwright is missing."""
    import shutil

    if not shutil.which("chromium"):
        return None
    from tests.e2e.conftest import running_studio

    rows: list[Row] = []
    where = f"{n} per row, headless Chromium, 1920x2560 photo"
    with tempfile.TemporaryDirectory(prefix="studio-bench-browser-") as tmp, chromium() as browser:
        folder, points = _bench_folder(Path(tmp))
        setup = ["import", "images", str(folder), "--dataset", "bench", "--classes", "box,jar,bottle", "--here"]
        with running_studio(Path(tmp) / "sam", setup, worker=False, demo_images=0,
                            env={"STUDIO_SAM_MODEL": "random-vit_b"}) as studio:
            page = browser.new_page(viewport={"width": 1600, "height": 1100})
            open_label(page, studio.url)
            page.wait_for_function(f"() => {HOOK}.decoder().status === 'ready'", timeout=180_000)
            warm = _click(page, *points[0])  # waits for the image's embedding (SAM's encoder on the server)
            _clear(page)
            _wait_for_embeddings(studio.root, 2)  # the server prefetches the next photo: let it finish first
            decoder = page.evaluate(f"() => {HOOK}.decoder()")
            clicks = _clicks(page, points, n)
            rows.append(("click -> mask visible, SAM vit_b in the browser", _figure(clicks, "browser"),
                         f"{where}; onnxruntime-web WASM, {decoder['threads']} thread(s); first click "
                         f"{warm['ms'] / 1000:.1f} s (embedding computed on the server){_split(clicks)}"))
            pressed = [m for m in _clicks(page, points, 2 * n, PRESS_MS)][::2]  # first clicks of objects
            rows.append((f"click held {PRESS_MS} ms (a human press) -> mask visible, SAM vit_b in the browser",
                         _figure(pressed, "browser"),
                         f"{where}; first clicks on products, no preview yet: the decode starts at pointer down, "
                         f"the mark at pointer up{_split(pressed)}"))
            for rest in (0, REST_MS):
                paced = _person_clicks(page, points, n, rest)
                rows.append((f"a person's click (travel {TRAVEL_MS} ms, rest {rest} ms, press {PRESS_MS} ms) -> "
                             "mask visible, SAM vit_b in the browser", _figure(paced, "browser"),
                             f"{where}; first clicks on products, from pointer up: the hover decodes on the way "
                             f"and the press decodes its point unless the hover has it{_split(paced)}"))
            previewed = _previewed_clicks(page, points, n)
            rows.append(("click on a previewed object -> mask visible, SAM vit_b in the browser",
                         _figure(previewed, "browser"),
                         f"{where}; the pointer rests on the product until its hover preview shows, then clicks "
                         f"there: the click reuses the preview's decode{_split(previewed)}"))
            hovers = _hovers(page, points, n)
            rows.append(("hover -> preview visible, SAM vit_b in the browser", _figure(hovers, "browser"),
                         where + _split(hovers)))
            decodes = [page.evaluate(f"(p) => {HOOK}.decode({{points: [p], labels: [1]}})", list(points[i % len(points)]))
                       for i in range(n)]
            rows.append(("SAM decode alone in the browser (3 candidates)", _figure(decodes),
                         "window.__studioCanvas.decode: onnxruntime-web run + full-image upscaling + RLE "
                         "of each candidate"))
            rows.append(("SAM decoder run alone in the browser (session.run)",
                         _figure([{"ms": d["run_ms"]} for d in decodes]),
                         f"onnxruntime-web WASM in the canvas's worker, {decoder['threads']} thread(s): the part "
                         "no drawing change can remove"))

            blocked = browser.new_page(viewport={"width": 1600, "height": 1100})
            blocked.route("**/decoder.onnx", lambda route: route.fulfill(status=200, body=b"not an onnx file"))
            open_label(blocked, studio.url)
            blocked.wait_for_function(f"() => {HOOK}.decoder().status === 'failed'", timeout=60_000)
            served = _clicks(blocked, points, n)
            rows.append(("click -> mask visible, SAM vit_b through the server", _figure(served, "server"),
                         f"{where}; POST predict (decoder file refused in the browser){_split(served)}"))
            blocked.close()

            ready, saved = _accepts(page, points, n)
            rows.append(("Accept -> ready for the next object (SAM)", _figure(ready), where))
            rows.append(("Accept -> stored (SAM)", _figure(saved),
                         f"{where}; random weights give noise masks: ~260 KB of RLE each"))
            page.close()
        with running_studio(Path(tmp) / "fallback", setup, worker=False, demo_images=0,
                            env={"STUDIO_SAM_MODEL": "fallback"}) as studio:
            page = browser.new_page(viewport={"width": 1600, "height": 1100})
            open_label(page, studio.url)
            _click(page, *points[0])  # warm-up: the fallback's smoothing of the photo
            _clear(page)
            fallback = _clicks(page, points, n)
            rows.append(("click -> mask visible, fallback (server)", _figure(fallback, "server"),
                         f"{where}; POST predict{_split(fallback)}"))
            ready, saved = _accepts(page, points, n)
            rows.append(("Accept -> ready for the next object (fallback)", _figure(ready), where))
            rows.append(("Accept -> stored (fallback)", _figure(saved), f"{where}; the server's reply applied"))
            page.close()
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer clicks, one encoder run per device")
    parser.add_argument("--clicks", type=int, default=30, help="clicks per segmenter (default 30; --quick 10)")
    parser.add_argument("--encoder-runs", type=int, default=2, help="encoder runs per device (default 2; --quick 1)")
    parser.add_argument("--no-browser", action="store_true", help="only the CPU rows")
    args = parser.parse_args(argv)
    n_clicks = min(args.clicks, 10) if args.quick else args.clicks
    runs = 1 if args.quick else args.encoder_runs

    import torch

    from studio.device import describe_device
    from studio.segment.fallback import FallbackSegmenter

    image, clicks = scene()
    clicks = (clicks * (1 + n_clicks // max(len(clicks), 1)))[:n_clicks]
    rows: list[Row] = []
    print(f"labelling benchmark: 640x480 demo scene, {len(clicks)} clicks per segmenter, "
          f"torch {torch.__version__}, {describe_device(torch.device('cpu'))}, pid {os.getpid()}", flush=True)

    sam, weights = sam_vit_b("cpu")
    encoder_cpu, sam_embedding = measure_encoder(sam, image, runs)
    rows.append(("SAM vit_b encoder, cpu", f"{np.mean(encoder_cpu):9.2f} s",
                 f"{runs} run(s): {', '.join(f'{t:.1f}' for t in encoder_cpu)} s; {weights}"))
    if torch.cuda.is_available():
        gpu, _ = sam_vit_b("cuda")
        measure_encoder(gpu, image, 1)  # warm-up (kernels, autotuning)
        encoder_gpu, _ = measure_encoder(gpu, image, max(runs, 2))
        rows.append(("SAM vit_b encoder, cuda", f"{1000 * np.mean(encoder_gpu):9.1f} ms",
                     f"{describe_device(torch.device('cuda'))}, bf16 + SDPA"))
    else:
        rows.append(("SAM vit_b encoder, cuda", "        -", "not measured: no device"))

    sam_clicks = measure_clicks(sam, sam_embedding, clicks)
    rows.append(("SAM vit_b decoder per click, cpu", ms(sam_clicks), f"3 candidates, torch; {weights}"))
    rows.append(("SAM vit_b ONNX decoder per click, cpu", ms(measure_onnx_clicks(sam, sam_embedding, clicks)),
                 "3 candidates + postprocessing, onnxruntime on the exported file"))
    fallback = FallbackSegmenter()
    fallback_encoder = timings(lambda: fallback.set_image(image), 3)
    fallback_embedding = fallback.set_image(image)
    fallback_clicks = measure_clicks(fallback, fallback_embedding, clicks)
    rows.append(("fallback per click", ms(fallback_clicks), "3 candidates; flood + GrabCut, OpenCV"))
    rows.append(("fallback 'encoder' (smoothing, Lab)", f"{1000 * min(fallback_encoder):9.1f} ms", "best of 3"))

    rows += measure_cache(sam, sam_embedding, float(np.mean(encoder_cpu)))
    rows += measure_cache(fallback, fallback_embedding, min(fallback_encoder))

    browser = None if args.no_browser else measure_browser(10 if args.quick else 20)
    rows += browser if browser is not None else [("browser rows", "        -", "skipped (--no-browser, or no chromium)")]

    width = max(len(r[0]) for r in rows)
    print(f"{'what':{width}}  {'figure':>31}  note")
    for what, figure, note in rows:
        print(f"{what:{width}}  {figure:>31}  {note}")


if __name__ == "__main__":
    main()
