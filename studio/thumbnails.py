"""Small JPEG thumbnails of stored images, for the image gallery.

One file per image content: ``<data>/thumbs/<hash[:2]>/<hash>.jpg``, the image scaled so its
longest side is :data:`THUMB_SIZE` pixels (never enlarged), RGB, JPEG quality
:data:`JPEG_QUALITY`. Stored images are already upright (EXIF orientation is baked in at
import), so a thumbnail shows the same pixels the masks are drawn on. The content hash is the
key, so a thumbnail never goes stale; files are written to a temp name and renamed.

Speed: JPEGs are decoded at a reduced DCT scale (``Image.draft``: 1/2 .. 1/8, the decoder
skips the work), the rest is shrunk by ``Image.thumbnail`` with a box ``reduce`` first
(``reducing_gap``), 16-bit and float images are scaled to 8 bits with one numpy expression.
PIL releases the GIL while it decodes and resizes, so a batch is built by a thread pool.

A missing or unreadable image gets a grey placeholder (never cached: the file may come back)
and is reported (``ThumbnailReport.failed``, ``Thumbnail.reason``, one log line per image),
never an exception that stops a batch.
"""

from __future__ import annotations

import io
import logging
import os
import re
import threading
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from studio.config import get_settings
from studio.datasets import resolve_stored_path
from studio.db import get_row, session_scope
from studio.errors import InvalidInput, NotFound
from studio.images import atomic_write
from studio.progress import ProgressFn
from studio.tables import Image as ImageRow

THUMB_SIZE = 256  # longest side of a thumbnail, pixels
JPEG_QUALITY = 80
BATCH_SIZE = 64  # images handed to the pool at a time (progress is reported per batch)
PLACEHOLDER_GREY = 200  # background of the placeholder (a darker cross marks it)

_HASH = re.compile(r"[0-9a-f]{64}")
_LOG = logging.getLogger(__name__)
_logged: set[str] = set()  # content hashes whose failure was already logged (one line each)


@dataclass(frozen=True)
class ThumbSource:
    """An image to thumbnail: its content hash (sha256 hex, the cache key) and stored file."""

    content_hash: str
    path: Path


@dataclass(frozen=True)
class Thumbnail:
    """JPEG bytes of one thumbnail. ``placeholder``: the image could not be read (``reason``)."""

    data: bytes
    content_hash: str
    placeholder: bool = False
    reason: str = ""


@dataclass
class ThumbnailReport:
    """What :func:`ensure_thumbnails` did: counts, and the images that got no thumbnail."""

    built: int = 0
    cached: int = 0  # already on disk
    failed: dict[str, str] = field(default_factory=dict)  # content hash -> reason


def thumbs_dir() -> Path:
    """``<data>/thumbs``."""
    return get_settings().data_dir / "thumbs"


def thumbnail_path(content_hash: str, root: Path | None = None) -> Path:
    """Where the thumbnail of ``content_hash`` lives (``<root>/<h[:2]>/<h>.jpg``; root default
    :func:`thumbs_dir`). InvalidInput for anything but 64 lowercase hex digits."""
    if not _HASH.fullmatch(content_hash):
        raise InvalidInput(f"content hash {content_hash[:80]!r}: expected 64 lowercase hex digits (sha256)")
    return (root or thumbs_dir()) / content_hash[:2] / f"{content_hash}.jpg"


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB for any PIL mode: transparency on white, 16-bit / float stretched to 0..255."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        values = np.asarray(image, dtype=np.float32)
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
        return Image.fromarray(scaled.astype(np.uint8)).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def render_thumbnail(path: Path, size: int = THUMB_SIZE, max_pixels: int | None = None) -> bytes:
    """JPEG bytes of ``path`` scaled to fit ``size`` x ``size`` (aspect kept, never enlarged).

    Raises NotFound when the file is missing, InvalidInput when it is not a readable image,
    is truncated, or has more than ``max_pixels`` (default STUDIO_MAX_IMAGE_PIXELS) pixels.
    """
    limit = max_pixels or get_settings().max_image_pixels
    if not path.is_file():
        raise NotFound(f"image file {path} is missing from the store")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit below
            with Image.open(path) as image:
                width, height = image.size
                if width * height > limit:
                    raise InvalidInput(f"{path}: {width}x{height} pixels is over the limit {limit:,} "
                                       "(STUDIO_MAX_IMAGE_PIXELS)")
                scale = size / max(width, height)
                if image.format in ("JPEG", "MPO") and scale < 1:
                    image.draft("RGB", (max(1, round(width * scale)), max(1, round(height * scale))))
                image.load()
                upright = ImageOps.exif_transpose(image)  # a no-op for stored images (upright at import)
                small = _to_rgb(upright)
                small.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=2.0)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, ImportError, Image.DecompressionBombError) as exc:
        # ImportError: ultralytics, once imported, patches Image.open to retry unknown files with
        # pi-heif (not installed): the same "not an image" answer (as studio.images says)
        raise InvalidInput(f"{path}: not a readable image ({exc.__class__.__name__}: {exc})") from None
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


@lru_cache(maxsize=4)
def placeholder_jpeg(size: int = THUMB_SIZE) -> bytes:
    """A grey square with a darker cross: what the gallery shows for an unreadable image."""
    ramp = np.arange(size)
    cross = (np.abs(ramp[:, None] - ramp[None, :]) < 3) | (np.abs(ramp[:, None] + ramp[None, :] - size + 1) < 3)
    pixels = np.where(cross, PLACEHOLDER_GREY - 60, PLACEHOLDER_GREY).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def _report_failure(content_hash: str, reason: str) -> None:
    if content_hash not in _logged:
        _logged.add(content_hash)
        _LOG.warning("no thumbnail for image %s: %s", content_hash[:12], reason)


def build_thumbnail(source: ThumbSource, *, root: Path | None = None, size: int = THUMB_SIZE) -> Path:
    """Write the thumbnail of ``source`` (temp file + rename) and return its path; raises like
    :func:`render_thumbnail`."""
    target = thumbnail_path(source.content_hash, root)
    atomic_write(render_thumbnail(source.path, size), target)
    return target


def thumbnail(source: ThumbSource, *, root: Path | None = None, size: int = THUMB_SIZE) -> Thumbnail:
    """The cached thumbnail of ``source``, built now when missing; a placeholder (with the
    reason, logged once) when the image cannot be read. InvalidInput only for a malformed hash."""
    target = thumbnail_path(source.content_hash, root)
    try:
        return Thumbnail(target.read_bytes(), source.content_hash)
    except FileNotFoundError:
        pass
    try:
        data = render_thumbnail(source.path, size)
    except (InvalidInput, NotFound) as exc:
        _report_failure(source.content_hash, str(exc))
        return Thumbnail(placeholder_jpeg(size), source.content_hash, placeholder=True, reason=str(exc))
    atomic_write(data, target)
    return Thumbnail(data, source.content_hash)


def ensure_thumbnails(sources: Iterable[ThumbSource], *, root: Path | None = None, size: int = THUMB_SIZE,
                      workers: int | None = None, batch_size: int = BATCH_SIZE,
                      progress: ProgressFn | None = None) -> ThumbnailReport:
    """Build every missing thumbnail of ``sources`` in a thread pool, ``batch_size`` images at
    a time (``progress(fraction, message)`` after each batch). Images already cached are
    skipped; unreadable ones are listed in ``failed`` and do not stop the others. Duplicates
    (same content hash) are built once."""
    unique = list({s.content_hash: s for s in sources}.values())
    for source in unique:
        thumbnail_path(source.content_hash, root)  # malformed hashes fail before any work
    report = ThumbnailReport()
    todo = []
    for source in unique:
        if thumbnail_path(source.content_hash, root).is_file():
            report.cached += 1
        else:
            todo.append(source)

    def build(source: ThumbSource) -> tuple[str, str | None]:
        try:
            build_thumbnail(source, root=root, size=size)
            return source.content_hash, None
        except (InvalidInput, NotFound) as exc:
            _report_failure(source.content_hash, str(exc))
            return source.content_hash, str(exc)

    if todo:
        with ThreadPoolExecutor(max_workers=workers or min(4, os.cpu_count() or 1),
                                thread_name_prefix="thumbs") as pool:
            for start in range(0, len(todo), max(1, batch_size)):
                for content_hash, error in pool.map(build, todo[start:start + max(1, batch_size)]):
                    if error is None:
                        report.built += 1
                    else:
                        report.failed[content_hash] = error
                if progress is not None:
                    done = min(start + batch_size, len(todo))
                    progress(done / len(todo), f"{done}/{len(todo)} thumbnails")
    elif progress is not None:
        progress(1.0, f"{report.cached} thumbnails already there")
    return report


# ---- in the background (the gallery asks for the next pages while the user looks) ---------

_background: ThreadPoolExecutor | None = None
_pending: set[str] = set()
_lock = threading.Lock()


def prefetch_thumbnails(sources: Sequence[ThumbSource], *, root: Path | None = None) -> Future | None:
    """Build the missing thumbnails of ``sources`` on one background thread (which uses
    :func:`ensure_thumbnails`' pool) and return at once; None when there is nothing to do.
    Images already queued are not queued twice."""
    global _background
    with _lock:
        todo = [s for s in sources if s.content_hash not in _pending
                and not thumbnail_path(s.content_hash, root).is_file()]
        if not todo:
            return None
        _pending.update(s.content_hash for s in todo)
        if _background is None:
            _background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="thumbs-prefetch")

    def run() -> ThumbnailReport:
        try:
            return ensure_thumbnails(todo, root=root)
        finally:
            with _lock:
                _pending.difference_update(s.content_hash for s in todo)

    return _background.submit(run)


# ---- by image id (the web route) ----------------------------------------------------------

def image_source(image_id: int) -> ThumbSource:
    """The content hash and stored file of image ``image_id``; NotFound for an unknown id."""
    with session_scope() as session:
        row = get_row(session, ImageRow, image_id, f"no image with id {image_id}")
        return ThumbSource(row.content_hash, resolve_stored_path(row.stored_path))


def thumbnail_for_image(image_id: int) -> Thumbnail:
    """The thumbnail of image ``image_id`` (built on first use); NotFound for an unknown id."""
    return thumbnail(image_source(image_id))
