"""Labelling figures: what an annotator waits for (prints them; not a test).

    python benchmarks/labelling.py [--quick] [--clicks 30] [--encoder-runs 2]

1. decoder latency per click (p50 / p95) with the image's embedding already computed, on
   a 640x480 demo shelf scene, one click at the interior of each product: SAM vit_b (the
   official checkpoint when ``<models_dir>/sam`` has it, else random weights: same cost)
   and the OpenCV fallback;
2. SAM vit_b image-encoder time per image (the wait when an image is opened uncached): on
   the CPU, and on CUDA when there is a GPU (bfloat16 autocast + SDPA attention);
3. embedding cache: a miss (compute + store) against a disk hit and a memory hit;
4. the browser round trip of a click (:func:`measure_browser`, filled in later).

``--quick``: fewer clicks and one encoder run per device.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
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


def measure_browser(n_clicks: int = 20) -> list[Row] | None:
    """Click -> updated mask visible, in headless Debian Chromium on a running studio (demo
    dataset, fallback segmenter as on a fresh machine): p50 / p95 over ``n_clicks`` clicks.
    Timed from the click to the moment the canvas <img> shows a new picture. None (skipped)
    when chromium or playwright is missing."""
    import shutil

    if not shutil.which("chromium"):
        return None
    import cv2
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import launch_chromium, running_studio

    root = Path(tempfile.mkdtemp(prefix="studio-bench-browser-"))
    times: list[float] = []
    with running_studio(root) as studio, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(f"{studio.url}/label")
        img = page.frame_locator("iframe[title*='image_coordinates']").locator("img")
        img.wait_for()
        box = img.bounding_box()
        natural = img.evaluate("i => [i.naturalWidth, i.naturalHeight]")
        scale = box["width"] / natural[0]
        points = [(int(x), int(y)) for x, y in _interior_points(cv2, natural)]
        for i in range(n_clicks):
            if i % 4 == 0:  # start a new object now and then (Esc = clear)
                page.keyboard.press("Escape")
                time.sleep(0.5)
            src = img.get_attribute("src")
            x, y = points[i % len(points)]
            start = time.perf_counter()
            img.click(position={"x": x * scale, "y": y * scale})
            while img.get_attribute("src") == src:
                time.sleep(0.002)
            times.append((time.perf_counter() - start) * 1000)
        browser.close()
    t = np.array(times)
    return [("click -> mask visible, browser (fallback)",
             f"p50 {np.percentile(t, 50):6.1f} ms  p95 {np.percentile(t, 95):6.1f} ms",
             f"{len(t)} clicks, headless Chromium, Streamlit round trip")]


def _interior_points(cv2: Any, natural: list[int]) -> list[tuple[int, int]]:
    """Product centres of the first demo scene (the Label page opens it first)."""
    _, instances = render_scene(scene_rng(0, 0), 640, 480)
    points = []
    for _, mask in instances:
        distance = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
        y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
        points.append((int(x) * natural[0] // 640, int(y) * natural[1] // 480))
    return points


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer clicks, one encoder run per device")
    parser.add_argument("--clicks", type=int, default=30, help="clicks per segmenter (default 30; --quick 10)")
    parser.add_argument("--encoder-runs", type=int, default=2, help="encoder runs per device (default 2; --quick 1)")
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
    rows.append(("SAM vit_b decoder per click, cpu", ms(sam_clicks), f"3 candidates; {weights}"))
    fallback = FallbackSegmenter()
    fallback_encoder = timings(lambda: fallback.set_image(image), 3)
    fallback_embedding = fallback.set_image(image)
    fallback_clicks = measure_clicks(fallback, fallback_embedding, clicks)
    rows.append(("fallback per click", ms(fallback_clicks), "3 candidates; flood + GrabCut, OpenCV"))
    rows.append(("fallback 'encoder' (smoothing, Lab)", f"{1000 * min(fallback_encoder):9.1f} ms", "best of 3"))

    rows += measure_cache(sam, sam_embedding, float(np.mean(encoder_cpu)))
    rows += measure_cache(fallback, fallback_embedding, min(fallback_encoder))

    browser = measure_browser(10 if args.quick else 20)
    rows += browser if browser is not None else [("click round trip, browser", "        -", "skipped: not implemented")]

    width = max(len(r[0]) for r in rows)
    print(f"{'what':{width}}  {'figure':>31}  note")
    for what, figure, note in rows:
        print(f"{what:{width}}  {figure:>31}  {note}")


if __name__ == "__main__":
    main()
