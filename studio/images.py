"""Reading images safely and keeping them in the content-addressed store.

Every image enters through ``store_image``: header checked against the pixel limit before
any decode (decompression bombs), fully decoded once (truncated files fail here, not in
training), EXIF orientation applied, bytes copied to ``store/<h[:2]>/<h>.<ext>`` via a
temp name + rename. ``content_hash`` is the sha256 of the original file bytes.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from studio.errors import InvalidInput, NotFound

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
_FORMAT_SUFFIX = {"JPEG": ".jpg", "PNG": ".png", "BMP": ".bmp", "TIFF": ".tif", "WEBP": ".webp", "MPO": ".jpg"}
_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class StoredImage:
    content_hash: str  # sha256 hex of the original bytes
    stored_path: Path  # where the (orientation-normalised) pixels now live
    width: int  # after EXIF orientation
    height: int
    reoriented: bool  # True when EXIF rotation was baked into a new file


def _open_checked(data: bytes, name: str, max_pixels: int) -> Image.Image:
    """Open image bytes, refusing non-images and images over ``max_pixels`` before decoding."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit below
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise InvalidInput(f"{name}: image is larger than the pixel limit {max_pixels:,} "
                           "(STUDIO_MAX_IMAGE_PIXELS); refused as a possible decompression bomb") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ImportError) as exc:
        # ImportError: once ultralytics is imported it patches Image.open to retry unknown files
        # with pi-heif, which is not installed; it is the same "not an image" answer.
        raise InvalidInput(f"{name}: not a readable image ({exc.__class__.__name__}); "
                           f"expected one of {', '.join(sorted(IMAGE_SUFFIXES))}") from None
    width, height = image.size
    if width <= 0 or height <= 0 or width * height > max_pixels:
        raise InvalidInput(f"{name}: image is {width}x{height} = {width * height:,} pixels; "
                           f"the limit is {max_pixels:,} (STUDIO_MAX_IMAGE_PIXELS)")
    if image.format not in _FORMAT_SUFFIX:
        raise InvalidInput(f"{name}: image format {image.format} is not supported; "
                           f"expected {', '.join(sorted(set(_FORMAT_SUFFIX) - {'MPO'}))}")
    return image


def _decode_fully(image: Image.Image, name: str, *, draft: bool = False) -> None:
    """Decode every byte so truncated files fail now.

    ``draft``: JPEGs decode at 1/8 scale (every entropy-coded byte is still read, so
    truncation is still caught) for a check that costs far less; ``image.size`` changes.
    """
    try:
        if draft and image.format in ("JPEG", "MPO"):
            image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidInput(f"{name}: image data is corrupt or truncated ({exc})") from None


def orientation_of(image: Image.Image) -> int:
    """The EXIF orientation tag (1 = upright; 5-8 swap width and height)."""
    try:
        return int(image.getexif().get(_EXIF_ORIENTATION, 1) or 1)
    except Exception:  # noqa: BLE001 - malformed EXIF is treated as upright
        return 1


def atomic_write(data: bytes, target: Path) -> None:
    """Write ``data`` to ``target`` through a temp file in the same folder + rename (readers
    never see a half-written file; parent folders are created)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def store_image(source: Path, store_dir: Path, *, link: bool = False,
                max_pixels: int = 200_000_000) -> StoredImage:
    """Check ``source`` and put it into the store (or, with ``link``, leave it in place).

    Raises ``InvalidInput`` for non-images, truncated data and images over ``max_pixels``.
    Images with an EXIF rotation are re-encoded upright (PNG) into the store even with
    ``link``, so every reader sees the same pixels as the masks.
    """
    name = str(source)
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"{name}: cannot be read ({exc.strerror})") from None
    if not data:
        raise InvalidInput(f"{name}: file is empty (0 bytes); expected an image")
    content_hash = hashlib.sha256(data).hexdigest()
    image = _open_checked(data, name, max_pixels)
    orientation = orientation_of(image)
    if orientation != 1:
        _decode_fully(image, name)
        upright = ImageOps.exif_transpose(image)
        buffer = io.BytesIO()
        upright.save(buffer, format="PNG")
        target = store_dir / content_hash[:2] / f"{content_hash}.png"
        if not target.exists():
            atomic_write(buffer.getvalue(), target)
        return StoredImage(content_hash, target, upright.width, upright.height, reoriented=True)
    _decode_fully(image, name, draft=True)
    width, height = Image.open(io.BytesIO(data)).size  # draft() changed image.size
    if link:
        return StoredImage(content_hash, source.resolve(), width, height, reoriented=False)
    target = store_dir / content_hash[:2] / f"{content_hash}{_FORMAT_SUFFIX[image.format]}"
    if not target.exists():
        atomic_write(data, target)
    return StoredImage(content_hash, target, width, height, reoriented=False)


def load_rgb(path: Path, max_pixels: int = 200_000_000) -> np.ndarray:
    """Pixels of a stored image as HxWx3 uint8 RGB (EXIF orientation applied)."""
    if not path.exists():
        raise NotFound(f"image file {path} is missing from the store; re-import the image")
    image = _open_checked(path.read_bytes(), str(path), max_pixels)
    _decode_fully(image, str(path))
    return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))


def is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES
