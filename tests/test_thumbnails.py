"""Thumbnails: size and look, the on-disk cache, batches in a thread pool, bad images."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio.errors import InvalidInput, NotFound
from studio.thumbnails import (
    THUMB_SIZE,
    ThumbSource,
    ensure_thumbnails,
    placeholder_jpeg,
    prefetch_thumbnails,
    render_thumbnail,
    thumbnail,
    thumbnail_for_image,
    thumbnail_path,
)


def _write(path: Path, image: Image.Image, fmt: str, **params: object) -> ThumbSource:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    path.write_bytes(buffer.getvalue())
    return ThumbSource(hashlib.sha256(buffer.getvalue()).hexdigest(), path)


def _gradient(width: int, height: int) -> Image.Image:
    """Red grows to the right, green downwards: a thumbnail must keep that layout."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None].repeat(width, 1)
    return Image.fromarray(np.stack([x, y, np.full_like(x, 64)], -1).astype(np.uint8))


def _decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    return image


@pytest.mark.parametrize(("size", "mode", "fmt", "expected"), [
    ((1920, 1280), "RGB", "JPEG", (256, 171)),  # landscape photo (decoded at a reduced DCT scale)
    ((960, 2560), "RGB", "JPEG", (96, 256)),  # portrait shelf photo
    ((600, 600), "RGBA", "PNG", (256, 256)),  # transparency on white
    ((512, 300), "I;16", "PNG", (256, 150)),  # 16-bit grey, stretched to 8 bits
    ((300, 200), "L", "PNG", (256, 171)),
    ((100, 50), "RGB", "PNG", (100, 50)),  # small images are never enlarged
])
def test_longest_side_is_256_and_the_picture_is_kept(tmp_path: Path, size: tuple[int, int], mode: str, fmt: str,
                                                     expected: tuple[int, int]) -> None:
    base = _gradient(*size)
    image = {"RGB": base, "L": base.convert("L"), "RGBA": base.convert("RGBA"),
             "I;16": Image.fromarray((np.asarray(base.convert("L"), np.uint16) * 257))}[mode]
    source = _write(tmp_path / f"a.{fmt.lower()}", image, fmt)
    thumb = _decoded(render_thumbnail(source.path))
    assert thumb.size == expected and thumb.mode == "RGB"
    pixels = np.asarray(thumb, np.int16)
    if mode == "RGB":  # red grows left -> right, green top -> bottom
        assert pixels[:, -1, 0].mean() - pixels[:, 0, 0].mean() > 150
        assert pixels[-1, :, 1].mean() - pixels[0, :, 1].mean() > 150
    else:  # grey levels grow left -> right too
        assert pixels[:, -1].mean() > pixels[:, 0].mean() + 40


def test_an_image_imported_with_exif_rotation_thumbnails_upright(tmp_path: Path) -> None:
    """EXIF orientation is applied once, at import; the thumbnail of the stored file has the
    stored (upright) shape."""
    from studio.images import store_image

    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    _write(tmp_path / "phone.jpg", _gradient(400, 200), "JPEG", exif=exif)
    stored = store_image(tmp_path / "phone.jpg", tmp_path / "store")
    assert (stored.width, stored.height) == (200, 400)
    thumb = _decoded(render_thumbnail(stored.stored_path))
    assert thumb.size == (128, 256)


def test_batches_build_once_and_the_cache_is_reused(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    sources = [_write(images / f"{i}.jpg", _gradient(300 + i, 200), "JPEG") for i in range(7)]
    root = tmp_path / "thumbs"
    reports: list[tuple[float, str]] = []
    report = ensure_thumbnails([*sources, sources[0]], root=root, workers=2, batch_size=3,
                               progress=lambda f, m: reports.append((f, m)))
    assert (report.built, report.cached, report.failed) == (7, 0, {})
    assert [f for f, _ in reports] == pytest.approx([3 / 7, 6 / 7, 1.0]) and reports[-1][1] == "7/7 thumbnails"
    for source in sources:
        path = thumbnail_path(source.content_hash, root)
        assert path == root / source.content_hash[:2] / f"{source.content_hash}.jpg"
        assert max(_decoded(path.read_bytes()).size) == THUMB_SIZE
    assert not list(root.rglob(".tmp-*"))  # temp files renamed, none left behind

    again = ensure_thumbnails(sources, root=root, workers=2, batch_size=3)
    assert (again.built, again.cached) == (0, 7)
    assert thumbnail(sources[2], root=root).data == thumbnail_path(sources[2].content_hash, root).read_bytes()


def test_corrupt_and_missing_images_get_a_placeholder_and_are_reported(tmp_path: Path) -> None:
    good = _write(tmp_path / "good.jpg", _gradient(400, 300), "JPEG")
    (tmp_path / "noise.jpg").write_bytes(np.random.default_rng(0).bytes(5000))
    (tmp_path / "empty.png").write_bytes(b"")
    noise = ThumbSource("1" * 64, tmp_path / "noise.jpg")
    empty = ThumbSource("2" * 64, tmp_path / "empty.png")
    gone = ThumbSource("3" * 64, tmp_path / "deleted.jpg")
    root = tmp_path / "thumbs"

    report = ensure_thumbnails([noise, good, empty, gone], root=root, workers=2, batch_size=2)
    assert report.built == 1 and set(report.failed) == {noise.content_hash, empty.content_hash, gone.content_hash}
    assert "not a readable image" in report.failed[noise.content_hash]
    assert "missing from the store" in report.failed[gone.content_hash]

    shown = thumbnail(gone, root=root)
    assert shown.placeholder and "deleted.jpg is missing" in shown.reason
    assert shown.data == placeholder_jpeg() and _decoded(shown.data).size == (THUMB_SIZE, THUMB_SIZE)
    assert not thumbnail_path(gone.content_hash, root).exists()  # never cached: the file may come back
    _write(gone.path, _gradient(64, 32), "JPEG")
    assert not thumbnail(gone, root=root).placeholder


def test_a_malformed_hash_is_refused_before_touching_the_disk(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="expected 64 lowercase hex digits"):
        thumbnail_path("../../etc/passwd", tmp_path)
    with pytest.raises(InvalidInput):
        ensure_thumbnails([ThumbSource("ab" * 32, tmp_path / "x.jpg"), ThumbSource("AB" * 32, tmp_path / "y.jpg")],
                          root=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_prefetch_builds_in_the_background_once(tmp_path: Path) -> None:
    sources = [_write(tmp_path / f"{i}.png", _gradient(200, 100 + i), "PNG") for i in range(3)]
    future = prefetch_thumbnails(sources, root=tmp_path / "thumbs")
    assert future is not None and future.result(timeout=60).built == 3
    assert prefetch_thumbnails(sources, root=tmp_path / "thumbs") is None  # all cached now


def test_thumbnail_by_image_id_uses_the_data_folder(studio_env: dict[str, str], tmp_path: Path) -> None:
    from studio.annotations import image_queue
    from studio.datasets import ingest_doc
    from studio.demo import generate_demo

    ingest_doc(generate_demo(tmp_path / "demo", n_images=2, seed=3), dataset="shelves")
    item = image_queue("shelves")[0]
    thumb = thumbnail_for_image(item.id)
    assert not thumb.placeholder and thumb.content_hash == item.content_hash
    assert thumbnail_path(item.content_hash) == Path(studio_env["STUDIO_DATA_DIR"]) / "thumbs" / \
        item.content_hash[:2] / f"{item.content_hash}.jpg"
    assert thumbnail_path(item.content_hash).read_bytes() == thumb.data
    with pytest.raises(NotFound, match="no image with id 999"):
        thumbnail_for_image(999)
