"""Synthetic shelf scenes with exact instance masks: the dataset the studio opens with.

A scene is a textured wall with 2-4 wooden shelf boards and products standing on them.
Every product class has its own shape *and* colour family, so a segmentation net can learn
them from a few dozen images. The class colours (what masks are drawn in) are the first five
of ``studio.colors.PALETTE``, each far from every product colour, so a mask stays visible on
the product it covers:

=====  ======  ==============  ======================  =====================================================
index  name    product colour  class colour            shape
=====  ======  ==============  ======================  =====================================================
1      box     blue            yellow ``#ffe119``      rectangle with a light printed band and a text stripe
2      jar     orange          aqua ``#00ffff``        wide rounded body with a darker lid
3      bottle  green           deep pink ``#ff1493``   rounded body, shoulder, narrow neck, dark cap
4      can     red             sky blue ``#00bfff``    rounded rectangle with silver rims
5      tape    purple          chartreuse ``#7fff00``  a ring standing on its edge: the mask has a HOLE
=====  ======  ==============  ======================  =====================================================

Products never overlap; masks come from an instance-id map of the drawn geometry (no
anti-aliasing), so a mask is exactly the pixels painted for that instance. Shading, drop
shadows, lighting gradients and noise make the pixels non-flat; the JPEG files written by
``generate_demo`` are lossy, the masks stay exact to the rendered geometry.

Everything is a pure function of the seed: image ``i`` of seed ``s`` is drawn from
``numpy.random.default_rng([s, 0, i])``, so it is the same whatever ``n_images`` is.

``studio demo`` (:func:`load_demo`) imports the scenes with about half of them unlabelled
(``DEMO_LABELLED_FRACTION``), so a new user has something to label; the held-back ground
truth is not stored anywhere: ``generate_demo`` with the same seed and ``labelled_fraction=1``
gives it again. Tests and benchmarks that learn from the demo use all of it (the default).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from studio.colors import PALETTE
from studio.config import get_settings
from studio.datasets import IngestReport, ingest_doc
from studio.formats.records import RLE, AnnotationRecord, ClassRecord, DatasetDoc, ImageRecord
from studio.progress import ProgressFn, null_progress

DEMO_CLASSES: list[ClassRecord] = [
    ClassRecord(name, index, PALETTE[index - 1])
    for index, name in enumerate(("box", "jar", "bottle", "can", "tape"), start=1)
]
DEMO_LABELLED_FRACTION = 0.5  # of the images `studio demo` imports with their annotations
MIN_MASK_AREA = 150  # pixels; smaller products are not drawn at all
MIN_WIDTH, MIN_HEIGHT = 160, 120  # below this the shelves get too small for MIN_MASK_AREA
JPEG_QUALITY = 92

RGB = tuple[int, int, int]
Part = np.ndarray  # (h, w) uint8: 0 = not this product, 1.. = palette entry of the product


@dataclass(frozen=True)
class _Style:
    """How one class is drawn: its palette (part value 1, 2, 3 -> RGB) and its shading."""

    palette: tuple[RGB, ...]
    shading: str  # "cylinder" | "flat" | "ring"


_STYLES: dict[str, _Style] = {
    "box": _Style(((45, 95, 185), (175, 205, 240), (20, 40, 110)), "flat"),
    "jar": _Style(((240, 140, 30), (180, 90, 15)), "cylinder"),
    "bottle": _Style(((40, 150, 65), (20, 75, 35)), "cylinder"),
    "can": _Style(((200, 35, 40), (185, 185, 192)), "cylinder"),
    "tape": _Style(((145, 75, 175), (205, 165, 220)), "ring"),
}
_WALLS: tuple[RGB, ...] = ((208, 202, 190), (196, 198, 200), (222, 218, 208), (188, 184, 176))
_WOOD: RGB = (122, 84, 52)


# --------------------------------------------------------------------------- shapes


def _rounded_rect(canvas: np.ndarray, x0: int, y0: int, x1: int, y1: int, r: int, value: int) -> None:
    """Fill the rectangle [x0, x1] x [y0, y1] (inclusive) with corners of radius ``r``."""
    r = max(0, min(r, (x1 - x0) // 2, (y1 - y0) // 2))
    cv2.rectangle(canvas, (x0 + r, y0), (x1 - r, y1), value, -1)
    cv2.rectangle(canvas, (x0, y0 + r), (x1, y1 - r), value, -1)
    for cx, cy in ((x0 + r, y0 + r), (x1 - r, y0 + r), (x0 + r, y1 - r), (x1 - r, y1 - r)):
        cv2.circle(canvas, (cx, cy), r, value, -1)


def _draw_box(h: int, w: int) -> Part:
    part = np.ones((h, w), np.uint8)
    band0, band1 = round(0.38 * h), max(round(0.62 * h), round(0.38 * h) + 2)
    part[band0:band1] = 2
    mid, half = (band0 + band1) // 2, max(1, round(0.03 * h))
    part[mid - half:mid + half, round(0.2 * w):round(0.8 * w)] = 3
    return part


def _draw_jar(h: int, w: int) -> Part:
    part = np.zeros((h, w), np.uint8)
    lid_h = max(3, round(0.2 * h))
    _rounded_rect(part, 0, lid_h - 1, w - 1, h - 1, round(0.22 * w), 1)
    inset = round(0.08 * w)
    _rounded_rect(part, inset, 0, w - 1 - inset, lid_h, max(1, lid_h // 4), 2)
    return part


def _draw_bottle(h: int, w: int) -> Part:
    part = np.zeros((h, w), np.uint8)
    shoulder_y = round(0.42 * h)
    _rounded_rect(part, 0, shoulder_y, w - 1, h - 1, round(0.15 * w), 1)
    cv2.ellipse(part, (w // 2, shoulder_y), ((w - 1) // 2, max(2, round(0.16 * h))), 0, 180, 360, 1, -1)
    neck_w = max(3, round(0.36 * w))
    nx0 = (w - neck_w) // 2
    cap_h = max(2, round(0.09 * h))
    part[cap_h:shoulder_y, nx0:nx0 + neck_w] = 1
    lip = max(1, round(0.04 * w))
    part[:cap_h + 1, max(0, nx0 - lip):min(w, nx0 + neck_w + lip)] = 2
    return part


def _draw_can(h: int, w: int) -> Part:
    part = np.zeros((h, w), np.uint8)
    _rounded_rect(part, 0, 0, w - 1, h - 1, max(1, round(0.1 * w)), 1)
    rim = max(2, round(0.06 * h))
    for rows in (slice(0, rim), slice(h - rim, h)):
        band = part[rows]
        band[band > 0] = 2
    return part


def _draw_tape(h: int, w: int) -> Part:
    """A ring standing on its edge, ``h == w`` odd; the hole is left at 0 (background)."""
    part = np.zeros((h, w), np.uint8)
    c = (w - 1) // 2
    hole = max(3, round(0.48 * c))
    cv2.circle(part, (c, c), c, 1, -1)
    cv2.circle(part, (c, c), max(hole + 1, round(0.62 * c)), 2, -1)
    cv2.circle(part, (c, c), hole, 0, -1)
    return part


_DRAW: dict[str, Callable[[int, int], Part]] = {
    "box": _draw_box, "jar": _draw_jar, "bottle": _draw_bottle, "can": _draw_can, "tape": _draw_tape,
}


def _product_size(name: str, bay: int, rng: np.random.Generator) -> tuple[int, int]:
    """(height, width) in pixels of a new ``name`` standing in a bay ``bay`` pixels high."""
    if name == "tape":
        d = max(13, round(bay * rng.uniform(0.42, 0.62))) | 1
        return d, d
    rel_h, aspect = {
        "box": ((0.55, 0.92), (0.5, 0.9)),
        "jar": ((0.42, 0.62), (0.8, 1.05)),
        "bottle": ((0.72, 0.97), (0.28, 0.36)),
        "can": ((0.45, 0.66), (0.55, 0.7)),
    }[name]
    h = max(12, round(bay * rng.uniform(*rel_h)))
    return h, max(10, round(h * rng.uniform(*aspect)))


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class _Placed:
    name: str
    x: int  # top-left corner of ``part`` in the scene
    y: int
    part: Part


@dataclass(frozen=True)
class _Board:
    top: int  # first row of the board; products stand on it (their last row is top - 1)
    thickness: int
    bay: int  # free height above the board for products


def _boards(rng: np.random.Generator, width: int, height: int) -> list[_Board]:
    """2-4 full-width shelf boards spaced evenly, with the free bay height above each."""
    n = int(rng.integers(2, int(np.clip(height // 110, 2, 4)) + 1))
    top_pad = int(rng.integers(round(0.03 * height), round(0.1 * height) + 1))
    bottom_pad = int(rng.integers(2, max(3, round(0.04 * height))))
    thickness = max(6, round(height * rng.uniform(0.025, 0.04)))
    pitch = (height - top_pad - bottom_pad) / n
    boards, bay_top = [], top_pad
    for k in range(1, n + 1):
        top = round(top_pad + k * pitch) - thickness
        headroom = max(4, round(0.06 * (top - bay_top)))
        boards.append(_Board(top, thickness, top - bay_top - headroom))
        bay_top = top + thickness
    return boards


def _class_queue(rng: np.random.Generator) -> Iterator[str]:
    """Every class once in random order (so each scene shows all), then uniform choices."""
    names = [c.name for c in DEMO_CLASSES]
    yield from (names[i] for i in rng.permutation(len(names)))
    while True:
        yield names[int(rng.integers(len(names)))]


def _layout(rng: np.random.Generator, width: int, boards: list[_Board]) -> list[_Placed]:
    """Products left to right on each board, never overlapping, each >= MIN_MASK_AREA."""
    queue, placed = _class_queue(rng), []
    name = next(queue)
    margin = max(4, width // 80)
    for board in boards:
        x = margin + int(rng.integers(0, 3 * margin))
        while True:
            h, w = _product_size(name, board.bay, rng)
            if x + w > width - margin:
                break  # this class goes first on the next board
            part = _DRAW[name](h, w)
            if np.count_nonzero(part) >= MIN_MASK_AREA:
                placed.append(_Placed(name, x, board.top - h, part))
            name = next(queue)
            gap = int(rng.integers(25, 60)) if rng.random() < 0.12 else int(rng.integers(3, 18))
            x += w + gap
    return placed


# --------------------------------------------------------------------------- painting


def _wall(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """(H, W, 3) float32 wall: a base colour, low-frequency mottling, a vertical gradient."""
    base = np.array(_WALLS[int(rng.integers(len(_WALLS)))], np.float32) + rng.normal(0, 6, 3).astype(np.float32)
    coarse = rng.random((height // 40 + 2, width // 40 + 2)).astype(np.float32)
    mottle = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC) - 0.5
    fall = np.linspace(1.04, 0.94, height, dtype=np.float32)[:, None]
    return (base[None, None, :] * fall[..., None]) + 14.0 * mottle[..., None]


def _paint_boards(image: np.ndarray, boards: list[_Board], rng: np.random.Generator) -> None:
    """Wooden boards (grain, light front lip) and a soft shadow on the wall below each."""
    width = image.shape[1]
    wood = np.array(_WOOD, np.float32) * rng.uniform(0.85, 1.15)
    for b in boards:
        grain = rng.normal(0, 0.06, (b.thickness, 1)).astype(np.float32)
        along = cv2.resize(rng.random((1, width // 30 + 2)).astype(np.float32), (width, 1),
                           interpolation=cv2.INTER_LINEAR) - 0.5
        shade = 1.0 + grain + 0.12 * along
        lip = max(2, b.thickness // 5)
        shade[:lip] *= 1.25
        image[b.top:b.top + b.thickness] = wood[None, None, :] * shade[..., None]
        below = image[b.top + b.thickness:b.top + b.thickness + max(3, b.thickness // 2)]
        below *= np.linspace(0.72, 0.97, below.shape[0], dtype=np.float32)[:, None, None]


def _column_shading(style: str, w: int) -> np.ndarray:
    """(w,) float32 brightness factor across a product: cylinders get a highlight."""
    u = (np.arange(w, dtype=np.float32) + 0.5) / w
    if style == "cylinder":
        return 0.62 + 0.45 * np.sin(np.pi * u) + 0.22 * np.exp(-(((u - 0.3) / 0.07) ** 2))
    if style == "ring":
        return 0.78 + 0.32 * np.sin(np.pi * u)
    return 0.93 + 0.12 * u


def _product_colours(p: _Placed, rng: np.random.Generator) -> np.ndarray:
    """(h, w, 3) float32 colours of a product: its palette, jittered per instance, shaded."""
    style = _STYLES[p.name]
    palette = np.zeros((len(style.palette) + 1, 3), np.float32)
    palette[1:] = np.array(style.palette, np.float32) * rng.uniform(0.82, 1.12) + rng.normal(0, 8, 3)
    shade = _column_shading(style.shading, p.part.shape[1])
    return palette[p.part] * shade[None, :, None]


def _drop_shadows(image: np.ndarray, placed: list[_Placed], dx: int) -> None:
    """Darken the wall where the products' shadows fall (before products are painted)."""
    height, width = image.shape[:2]
    shadow = np.zeros((height, width), np.float32)
    for p in placed:
        h, w = p.part.shape
        x0, y0 = max(0, p.x + dx), max(0, p.y - 2)
        x1, y1 = min(width, p.x + dx + w), min(height, p.y - 2 + h)
        if x1 > x0 and y1 > y0:
            patch = p.part[y0 - (p.y - 2):y1 - (p.y - 2), x0 - (p.x + dx):x1 - (p.x + dx)] > 0
            np.maximum(shadow[y0:y1, x0:x1], patch, out=shadow[y0:y1, x0:x1])
    shadow = cv2.GaussianBlur(shadow, (0, 0), 3.0)
    image *= (1.0 - 0.3 * shadow)[..., None]


def _paint_products(image: np.ndarray, ids: np.ndarray, placed: list[_Placed], rng: np.random.Generator) -> None:
    """Paint every product and write its 1-based instance id into ``ids`` (H, W) int32."""
    for k, p in enumerate(placed, start=1):
        h, w = p.part.shape
        inside = p.part > 0
        image[p.y:p.y + h, p.x:p.x + w][inside] = _product_colours(p, rng)[inside]
        ids[p.y:p.y + h, p.x:p.x + w][inside] = k


def _finish(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Scene lighting (left/right gradient) and sensor noise; float32 -> (H, W, 3) uint8."""
    height, width = image.shape[:2]
    tilt = rng.uniform(-0.15, 0.15)
    light = 1.0 + tilt * (np.arange(width, dtype=np.float32) / width - 0.5)
    image *= light[None, :, None]
    # sum of two uniform nibbles of random bytes: near-Gaussian, std 6.52, 4x faster than normal()
    raw = np.frombuffer(rng.bytes(image.size), np.uint8).reshape(image.shape)
    noise = (raw & 15).astype(np.float32)
    noise += raw >> 4
    noise -= 15.0
    image += noise * np.float32(rng.uniform(2.0, 4.0) / 6.52)
    image += 0.5
    np.clip(image, 0, 255, out=image)
    return image.astype(np.uint8)


def render_scene(rng: np.random.Generator, width: int = 640,
                 height: int = 480) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
    """Draw one shelf scene.

    Returns ``(image, instances)``: ``image`` is (height, width, 3) uint8 RGB; ``instances``
    is a list of ``(class_name, mask)`` with ``mask`` (height, width) bool, non-empty
    (>= ``MIN_MASK_AREA`` pixels), pairwise disjoint, exactly the pixels painted for that
    product (tape masks have a hole). Raises ``ValueError`` below 160 x 120 pixels.
    """
    if width < MIN_WIDTH or height < MIN_HEIGHT:
        raise ValueError(f"scene size {width}x{height}: expected at least {MIN_WIDTH}x{MIN_HEIGHT}")
    boards = _boards(rng, width, height)
    placed = _layout(rng, width, boards)
    image = _wall(rng, width, height)
    _paint_boards(image, boards, rng)
    _drop_shadows(image, placed, dx=int(rng.integers(3, 7)))
    ids = np.zeros((height, width), np.int32)
    _paint_products(image, ids, placed, rng)
    instances = []
    for k, p in enumerate(placed, start=1):
        h, w = p.part.shape
        mask = np.zeros((height, width), bool)
        mask[p.y:p.y + h, p.x:p.x + w] = ids[p.y:p.y + h, p.x:p.x + w] == k
        instances.append((p.name, mask))
    return _finish(image, rng), instances


# --------------------------------------------------------------------------- files


def scene_rng(seed: int, index: int) -> np.random.Generator:
    """The generator for scene ``index`` of ``seed`` (independent of how many are made)."""
    return np.random.default_rng([seed, 0, index])


def image_name(index: int, n_images: int) -> str:
    """``shelf_0000.jpg`` ...; more digits only when ``n_images`` needs them."""
    return f"shelf_{index:0{max(4, len(str(max(n_images - 1, 0))))}d}.jpg"


def write_jpeg(path: Path, image: np.ndarray, quality: int = JPEG_QUALITY) -> Path:
    """Write (H, W, 3) uint8 RGB as JPEG via a temp name + rename; same pixels, same bytes."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError(f"{path}: JPEG encoding failed")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data.tobytes())
    os.replace(tmp, path)
    return path


def encode_rle(mask: np.ndarray) -> RLE:
    """(H, W) bool mask -> COCO RLE ``{"size": [H, W], "counts": str}``."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def _val_indices(n_images: int, seed: int, val_fraction: float) -> set[int]:
    """Which images are "val": round(n * fraction), at least one of each split when n >= 2."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction {val_fraction}: expected 0 <= val_fraction < 1")
    n_val = round(n_images * val_fraction)
    if val_fraction > 0 and n_images >= 2:
        n_val = min(max(n_val, 1), n_images - 1)
    picks = np.random.default_rng([seed, 1]).permutation(n_images)[:n_val]
    return {int(i) for i in picks}


def generate_images(out_dir: Path, n: int, seed: int = 0, width: int = 640, height: int = 480) -> list[Path]:
    """Write ``n`` scenes as ``out_dir/shelf_0000.jpg`` ... (no masks); for import benchmarks.

    Image ``i`` has the same pixels as image ``i`` of ``generate_demo`` with the same seed.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    return [write_jpeg(out_dir / image_name(i, n), render_scene(scene_rng(seed, i), width, height)[0])
            for i in range(n)]


def _unlabelled_indices(n_images: int, seed: int, labelled_fraction: float, val: set[int]) -> set[int]:
    """Which images lose their annotations: n - round(n * fraction) of the train images (val
    images stay labelled, so a model trained on the demo can be evaluated; at least one train
    image keeps its labels while the fraction is above 0)."""
    if not 0.0 <= labelled_fraction <= 1.0:
        raise ValueError(f"labelled_fraction {labelled_fraction}: expected 0 <= labelled_fraction <= 1")
    train = [i for i in range(n_images) if i not in val]
    n_unlabelled = n_images - round(n_images * labelled_fraction)
    if labelled_fraction > 0:
        n_unlabelled = min(n_unlabelled, len(train) - 1)
    order = np.random.default_rng([seed, 2]).permutation(len(train))
    return {train[int(k)] for k in order[:max(n_unlabelled, 0)]}


def generate_demo(out_dir: Path, n_images: int = 24, seed: int = 0, width: int = 640, height: int = 480,
                  val_fraction: float = 0.25, *, labelled_fraction: float = 1.0,
                  progress: ProgressFn = null_progress) -> DatasetDoc:
    """Render ``n_images`` scenes to ``out_dir/images/shelf_0000.jpg`` ... and describe them.

    Returns a ``DatasetDoc`` with ``DEMO_CLASSES``, one ``ImageRecord`` per file (key
    ``"images/shelf_0000.jpg"``, split "train"/"val"), and one ``AnnotationRecord`` per product
    (COCO RLE, source "manual") of the labelled images: all of them by default; with
    ``labelled_fraction`` < 1, about that fraction (val images always, then train images
    picked by the seed). Same arguments give identical files and records.
    """
    if n_images < 1:
        raise ValueError(f"n_images {n_images}: expected at least 1")
    val = _val_indices(n_images, seed, val_fraction)
    unlabelled = _unlabelled_indices(n_images, seed, labelled_fraction, val)
    images_dir = out_dir / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    doc = DatasetDoc(classes=list(DEMO_CLASSES))
    for i in range(n_images):
        image, instances = render_scene(scene_rng(seed, i), width, height)
        key = f"images/{image_name(i, n_images)}"
        path = write_jpeg(out_dir / key, image)
        doc.images.append(ImageRecord(key, path, width, height, "val" if i in val else "train"))
        if i not in unlabelled:
            doc.annotations.extend(AnnotationRecord(key, name, encode_rle(mask), source="manual")
                                   for name, mask in instances)
        progress((i + 1) / n_images, f"rendered {i + 1}/{n_images} scenes")
    return doc


def load_demo(*, dataset: str = "shelves", n_images: int = 24, seed: int = 0,
              labelled_fraction: float = DEMO_LABELLED_FRACTION,
              progress: ProgressFn = null_progress) -> IngestReport:
    """What ``studio demo`` does: render the scenes into ``<data_dir>/demo/<dataset>-seed<seed>-<n>/``
    and import them into ``dataset`` (created if needed), about half of them unlabelled."""
    folder = get_settings().data_dir / "demo" / f"{dataset}-seed{seed}-{n_images}"
    doc = generate_demo(folder, n_images=n_images, seed=seed, labelled_fraction=labelled_fraction,
                        progress=lambda f, m: progress(0.7 * f, m))
    return ingest_doc(doc, dataset=dataset, progress=lambda f, m: progress(0.7 + 0.3 * f, m))
