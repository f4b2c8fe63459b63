"""Canvas smoothness: frame times while an annotator zooms, pans and hovers (prints them; not a test).

    python benchmarks/canvas.py [--steps 30]

A running studio (fallback segmenter, no worker) with two shelf photos already labelled, as a
reviewer opens them: 1920x2560 with 30 products and 6000x4000 with 69, every product stored
as an accepted mask (COCO import). In headless Debian Chromium on the Label page, for each
photo: wheel zoom at the cursor (in, then out), arrow-key pans at 4x the fit zoom, space-drag
pans, and a pointer sweep across the shelf at fit (hit test + highlight of the object under
the pointer). Each row is the canvas's own main-thread time per drawn frame (scene +
overlay + controls, ``window.__studioCanvas.frames()``) beside a 60 fps frame's budget
(16.7 ms), and the share of frames over it. The peer is that budget: the old canvas
(streamlit-image-coordinates) had no zoom or pan and drew no annotations to compare with.
Then SAM's postprocess in the browser (a mask's 256 x 256 low-res logits upscaled to the photo,
what every click and preview pays), for a large smooth object and for noise (random weights).
Every process the benchmark starts ends when it ends.
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

from benchmarks.labelling import HOOK, chromium, client_point, open_label  # noqa: E402

PHOTOS = {"a_1920x2560.jpg": (1920, 2560), "b_6000x4000.jpg": (6000, 4000)}  # name: (W, H)
BUDGET_MS = 1000 / 60


def labelled_photos(folder: Path) -> Path:
    """A COCO folder (annotations.json + images/) with the two photos, every product an
    accepted mask of its class."""
    from studio.demo import DEMO_CLASSES, render_scene, scene_rng, write_jpeg
    from studio.formats.coco import save_coco
    from studio.formats.records import AnnotationRecord, DatasetDoc, ImageRecord
    from studio.masks import encode as encode_rle

    source = folder / "source"
    source.mkdir(parents=True)
    doc = DatasetDoc(classes=list(DEMO_CLASSES))
    for i, (name, (w, h)) in enumerate(PHOTOS.items()):
        image, instances = render_scene(scene_rng(i, 1), w, h)
        path = write_jpeg(source / name, image)
        doc.images.append(ImageRecord(f"images/{name}", path, w, h))
        doc.annotations.extend(AnnotationRecord(f"images/{name}", cls, encode_rle(mask), source="manual")
                               for cls, mask in instances)
    out = folder / "coco"
    save_coco(doc, out)
    return out


def frames_during(page: Any, action: Callable[[], None]) -> list[float]:
    """Main-thread ms of each frame the canvas drew while ``action`` ran (and until idle)."""
    start = page.evaluate("() => performance.now()")
    action()
    page.evaluate(f"() => {HOOK}.idle()")
    return page.evaluate(f"(t) => {HOOK}.frames().filter(f => f.at >= t).map(f => f.ms)", start)


def figure(values: list[float]) -> str:
    if not values:
        return "no frames drawn"
    over = sum(v > BUDGET_MS for v in values) / len(values)
    return (f"p50 {np.percentile(values, 50):5.1f} ms  p95 {np.percentile(values, 95):5.1f} ms  "
            f"max {max(values):5.1f} ms  over 16.7 ms: {100 * over:4.1f} % of {len(values)}")


def gestures(page: Any, width: int, height: int, steps: int) -> list[tuple[str, list[float]]]:
    """The timed gestures on the open photo (W x H): (what, frame ms)."""
    mouse = page.mouse
    cx, cy = client_point(page, width / 2, height / 2)
    page.keyboard.press("f")
    page.evaluate(f"() => {HOOK}.idle()")
    rows = []

    def zoom() -> None:
        mouse.move(cx, cy)
        for delta in [-120] * (steps // 2) + [120] * (steps // 2):
            mouse.wheel(0, delta)
            page.wait_for_timeout(16)

    rows.append(("wheel zoom in and out at the cursor", frames_during(page, zoom)))
    for _ in range(4):
        page.keyboard.press("+")  # about 4x the fit zoom: the photo's pixels at ~1:1 or more

    def arrows() -> None:
        for key in ["ArrowRight", "ArrowDown", "ArrowLeft", "ArrowUp"] * (steps // 4):
            page.keyboard.press(key)

    rows.append(("arrow-key pans, zoomed in", frames_during(page, arrows)))

    def drag() -> None:
        page.keyboard.down(" ")
        mouse.move(cx, cy)
        mouse.down()
        mouse.move(cx - 400, cy - 300, steps=steps)
        mouse.move(cx, cy, steps=steps)
        mouse.up()
        page.keyboard.up(" ")

    rows.append(("space-drag pan, zoomed in", frames_during(page, drag)))
    page.keyboard.press("f")
    x0, y0 = client_point(page, width * 0.05, height * 0.1)
    x1, y1 = client_point(page, width * 0.95, height * 0.9)

    def sweep() -> None:
        mouse.move(x0, y0)
        mouse.move(x1, y1, steps=2 * steps)

    rows.append(("H twice: hide, then draw every mask again", frames_during(
        page, lambda: (page.keyboard.press("h"), page.keyboard.press("h")))))
    rows.append(("pointer sweep across the shelf at fit (hover highlight)", frames_during(page, sweep)))
    return rows


def upscale_rows(page: Any, runs: int = 7) -> list[tuple[str, str]]:
    """Median ms of the canvas's upscale of low-res logits to a photo: a smooth blob (one large
    object) and noise (a sign change at every low-res pixel)."""
    i, j = np.mgrid[0:256, 0:256]
    blob = (12 - ((i - 90) ** 2 + (j - 128) ** 2) / 200).astype(np.float32)
    noise = np.random.default_rng(0).uniform(-1, 1, (256, 256)).astype(np.float32)
    rows = []
    for what, logits in (("a large object (smooth logits)", blob), ("noise (random weights)", noise)):
        for h, w in ((2560, 1920), (4000, 6000)):
            out = page.evaluate(f"([l, size, runs]) => {HOOK}.upscale(l, size, runs)",
                                [logits.ravel().tolist(), [h, w], runs])
            rows.append((f"SAM mask upscale to {w}x{h}, {what}",
                         f"median {out['ms']:6.1f} ms of {runs}  ({out['pixels'] / 1e6:.1f} Mpx in the mask)"))
    return rows


def measure(steps: int) -> list[tuple[str, str]]:
    import shutil

    if not shutil.which("chromium"):
        return [("canvas frames", "skipped: no chromium (apt-get install chromium)")]
    from studio import annotations as ann
    from tests.conftest import reset_studio_caches, studio_env_vars
    from tests.e2e.conftest import running_studio

    rows = []
    with tempfile.TemporaryDirectory(prefix="studio-bench-canvas-") as tmp, chromium() as browser:
        started = time.perf_counter()
        coco = labelled_photos(Path(tmp))
        print(f"rendered and wrote the labelled photos in {time.perf_counter() - started:.1f} s", flush=True)
        setup = ["import", "coco", str(coco), "--dataset", "review", "--here"]
        with running_studio(Path(tmp) / "studio", setup, worker=False, demo_images=0,
                            env={"STUDIO_SAM_MODEL": "fallback"}) as studio:
            page = browser.new_page(viewport={"width": 1600, "height": 1100})
            open_label(page, studio.url)
            os.environ.update(studio_env_vars(studio.root))  # read the studio's database here
            reset_studio_caches()
            sizes = {i.id: (i.width, i.height) for i in ann.image_queue("review")}
            for n in range(len(PHOTOS)):
                image_id = page.evaluate(f"() => {HOOK}.imageId()")
                masks = len(page.evaluate(f"() => {HOOK}.state()")["annotations"])
                where = "{}x{}, {} masks".format(*sizes[image_id], masks)
                rows += [(f"{what} ({where})", figure(values))
                         for what, values in gestures(page, *sizes[image_id], steps)]
                if n == len(PHOTOS) - 1:
                    break

                def next_photo(before: int = image_id) -> None:
                    page.keyboard.press("n")  # the page's Next button
                    page.wait_for_function(f"(id) => {HOOK}.ready() && {HOOK}.imageId() !== id", arg=before,
                                           timeout=120_000)

                started = time.perf_counter()
                opened = frames_during(page, next_photo)
                rows.append((f"N: the next photo shown with its masks (from {where})",
                             f"{1000 * (time.perf_counter() - started):.0f} ms to idle; {figure(opened)}"))
            rows += upscale_rows(page)
            page.close()
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30, help="input events per gesture (default 30)")
    args = parser.parse_args(argv)
    rows = measure(args.steps)
    width = max(len(r[0]) for r in rows)
    print(f"canvas frames, main-thread ms per drawn frame (budget at 60 fps: {BUDGET_MS:.1f} ms)")
    for what, value in rows:
        print(f"{what:{width}}  {value}")


if __name__ == "__main__":
    main()
