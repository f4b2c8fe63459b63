"""The image store: content addressing, EXIF orientation, and refusal of bad files."""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.errors import InvalidInput, NotFound
from studio.images import load_rgb, store_image


def _jpeg(pixels: np.ndarray, **save: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=92, **save)
    return buffer.getvalue()


def _gradient(h: int = 48, w: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 4 % 256, y * 5 % 256, (x + y) % 256], axis=-1).astype(np.uint8)


def _png_header_claiming(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims a huge size (a decompression bomb's header) with no real data."""
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


BAD_FILES: list[tuple[str, Callable[[], bytes], str]] = [
    ("empty.jpg", lambda: b"", "empty"),  # 0-byte file
    ("truncated.jpg", lambda: _jpeg(_gradient(240, 320))[:900], "truncated"),  # cut mid-scan
    ("notes.jpg", lambda: b"this is a text file, not a picture", "not a readable image"),  # wrong content
    ("bomb.png", lambda: _png_header_claiming(100_000, 100_000), "limit"),  # 10 gigapixels declared
]


@pytest.mark.parametrize(("name", "make", "expected"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_files_are_refused_with_a_reason(tmp_path: Path, name: str, make: Callable[[], bytes], expected: str) -> None:
    source = tmp_path / name
    source.write_bytes(make())
    with pytest.raises(InvalidInput, match=expected):
        store_image(source, tmp_path / "store", max_pixels=50_000_000)
    assert not any((tmp_path / "store").rglob("*.*")), "nothing may be stored for a refused file"


def test_store_is_content_addressed_and_idempotent(tmp_path: Path) -> None:
    data = _jpeg(_gradient())
    (tmp_path / "a.jpg").write_bytes(data)
    (tmp_path / "copy.jpg").write_bytes(data)
    first = store_image(tmp_path / "a.jpg", tmp_path / "store")
    second = store_image(tmp_path / "copy.jpg", tmp_path / "store")
    assert first.content_hash == second.content_hash and first.stored_path == second.stored_path
    assert first.stored_path.read_bytes() == data
    assert (first.width, first.height) == (64, 48)
    assert first.stored_path.parent.name == first.content_hash[:2]


def test_link_keeps_the_file_in_place(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(_jpeg(_gradient()))
    stored = store_image(tmp_path / "a.jpg", tmp_path / "store", link=True)
    assert stored.stored_path == (tmp_path / "a.jpg").resolve()
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize(("orientation", "size"), [
    (1, (64, 48)),  # upright: stored as is
    (3, (64, 48)),  # upside down: same size, pixels rotated 180
    (6, (48, 64)),  # rotated 90: width and height swap
    (8, (48, 64)),  # rotated 270
])
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int, size: tuple[int, int]) -> None:
    pixels = _gradient()
    exif = Image.Exif()
    exif[0x0112] = orientation
    (tmp_path / "r.jpg").write_bytes(_jpeg(pixels, exif=exif))
    stored = store_image(tmp_path / "r.jpg", tmp_path / "store", link=True)
    assert (stored.width, stored.height) == size
    rgb = load_rgb(stored.stored_path)
    assert rgb.shape == (size[1], size[0], 3) and rgb.dtype == np.uint8
    assert stored.reoriented == (orientation != 1)
    if orientation == 3:  # the top-left corner of the stored image is the original bottom-right
        original = np.asarray(Image.open(io.BytesIO(_jpeg(pixels))))  # decoded without EXIF
        assert np.abs(rgb[0, 0].astype(int) - original[-1, -1].astype(int)).max() < 12


def test_missing_store_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="missing from the store"):
        load_rgb(tmp_path / "gone.jpg")
