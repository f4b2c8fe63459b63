"""The embedding cache: memory / disk / computed, fp16 on disk, bounded, corrupt files, keys."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from studio.errors import InvalidInput
from studio.segment.cache import EmbeddingCache, get_cache
from tests.segment.conftest import FakeSegmenter

H1, H2, H3, H4 = ("a1" * 32, "b2" * 32, "c3" * 32, "d4" * 32)


def image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (6, 7, 3), dtype=np.uint8)


def test_miss_memory_disk_and_fp16_round_trip(tmp_path: Path, fake: FakeSegmenter) -> None:
    cache = EmbeddingCache(tmp_path, 10**8, memory_items=4)
    first, source = cache.get_or_compute(fake, H1, lambda: fake.set_image(image(1)))
    assert source == "computed" and len(fake.calls) == 1
    again, source = cache.get_or_compute(fake, H1, lambda: pytest.fail("computed twice"))
    assert source == "memory" and again is first
    path = tmp_path / "fake-v1" / f"{H1}.npz"
    assert path.is_file() and not list(tmp_path.rglob("*.tmp"))
    with np.load(path) as raw:
        assert raw["features"].dtype == np.float16 and raw["input_size"].dtype == np.int32
    fresh = EmbeddingCache(tmp_path, 10**8, memory_items=4)  # another process, same folder
    loaded, source = fresh.get_or_compute(fake, H1, lambda: pytest.fail("computed although on disk"))
    assert source == "disk"
    assert loaded.segmenter_id == "fake-v1" and loaded.image_size == (6, 7)
    assert loaded.arrays["features"].dtype == np.float32
    np.testing.assert_allclose(loaded.arrays["features"], first.arrays["features"], rtol=1e-3, atol=1e-3)
    assert np.array_equal(loaded.arrays["input_size"], first.arrays["input_size"])


def test_memory_lru_is_bounded(tmp_path: Path, fake: FakeSegmenter) -> None:
    cache = EmbeddingCache(tmp_path, 10**8, memory_items=2)
    for i, h in enumerate((H1, H2, H3)):
        cache.get_or_compute(fake, h, lambda i=i: fake.set_image(image(i)))
    assert cache.get("fake-v1", H3)[1] == "memory"
    assert cache.get("fake-v1", H1)[1] == "disk"  # pushed out of memory, still on disk


def test_disk_is_bounded_least_recently_used_first(tmp_path: Path, fake: FakeSegmenter) -> None:
    probe = EmbeddingCache(tmp_path / "probe", 10**8, 0)
    size = probe.put(H1, fake.set_image(image(0))).stat().st_size
    cache = EmbeddingCache(tmp_path / "c", max_bytes=int(2.5 * size), memory_items=0)
    cache.get_or_compute(fake, H1, lambda: fake.set_image(image(1)))
    cache.get_or_compute(fake, H2, lambda: fake.set_image(image(2)))
    old = time.time() - 100
    os.utime(cache.path_for("fake-v1", H1), (old, old))
    os.utime(cache.path_for("fake-v1", H2), (old - 10, old - 10))
    assert cache.get("fake-v1", H2)[1] == "disk"  # reading H2 makes it the most recent
    cache.get_or_compute(fake, H3, lambda: fake.set_image(image(3)))
    info = cache.info()
    assert info.entries == 2 and info.bytes <= cache.max_bytes
    assert not cache.contains("fake-v1", H1)  # the least recently used went
    assert cache.contains("fake-v1", H2) and cache.contains("fake-v1", H3)


def test_a_corrupt_file_is_a_miss(tmp_path: Path, fake: FakeSegmenter) -> None:
    cache = EmbeddingCache(tmp_path, 10**8, memory_items=0)
    path = cache.put(H1, fake.set_image(image(1)))
    path.write_bytes(path.read_bytes()[:100])  # truncated
    embedding, source = cache.get_or_compute(fake, H1, lambda: fake.set_image(image(1)))
    assert source == "computed" and embedding.arrays["features"].shape == (1, 8, 16, 16)
    assert cache.get("fake-v1", H1)[1] == "disk"  # rewritten whole


def test_a_changed_checkpoint_never_gets_a_stale_entry(tmp_path: Path) -> None:
    """The SAM id carries the checkpoint's hash: another file, another key (no model is loaded)."""
    from studio.segment.sam import SamSegmenter

    checkpoint = tmp_path / "sam_vit_b_01ec64.pth"
    checkpoint.write_bytes(b"weights one")
    old = SamSegmenter("vit_b", checkpoint)
    checkpoint.write_bytes(b"weights two, retrained")
    new = SamSegmenter("vit_b", checkpoint)
    assert old.id != new.id and old.id.startswith("sam-vit_b-") and len(old.id) == len("sam-vit_b-") + 12
    cache = EmbeddingCache(tmp_path / "cache", 10**8, memory_items=4)
    fake = FakeSegmenter(id=old.id)
    cache.get_or_compute(fake, H1, lambda: fake.set_image(image(1)))
    fake_new = FakeSegmenter(id=new.id)
    _, source = cache.get_or_compute(fake_new, H1, lambda: fake_new.set_image(image(1)))
    assert source == "computed"
    assert set(cache.info().by_segmenter) == {old.id, new.id}


def test_info_and_clear_per_segmenter(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, 10**8, memory_items=4)
    a, b = FakeSegmenter(id="seg-a"), FakeSegmenter(id="seg-b")
    for h in (H1, H2):
        cache.get_or_compute(a, h, lambda: a.set_image(image(1)))
    cache.get_or_compute(b, H1, lambda: b.set_image(image(2)))
    info = cache.info()
    assert info.entries == 3 and info.max_bytes == 10**8
    assert info.by_segmenter["seg-a"]["entries"] == 2 and info.by_segmenter["seg-b"]["entries"] == 1
    assert info.bytes == sum(v["bytes"] for v in info.by_segmenter.values())
    assert cache.clear("seg-a") == 2
    assert cache.get("seg-a", H1) is None and cache.get("seg-b", H1) is not None
    assert cache.clear() == 1 and cache.info().entries == 0


def test_the_same_key_from_two_threads_is_computed_once(tmp_path: Path, fake: FakeSegmenter) -> None:
    cache = EmbeddingCache(tmp_path, 10**8, memory_items=4)
    release = threading.Event()

    def slow():  # noqa: ANN202
        release.wait(5)
        return fake.set_image(image(1))

    sources: list[str] = []
    threads = [threading.Thread(target=lambda: sources.append(cache.get_or_compute(fake, H1, slow)[1]))
               for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    release.set()
    for t in threads:
        t.join(10)
    assert len(fake.calls) == 1 and sorted(sources) == ["computed", "memory", "memory"]


def test_keys_that_are_not_ids_or_hashes_are_refused(tmp_path: Path, fake: FakeSegmenter) -> None:
    cache = EmbeddingCache(tmp_path, 10**8, 2)
    with pytest.raises(InvalidInput, match="hex digits"):
        cache.get_or_compute(fake, "../../etc/passwd", lambda: fake.set_image(image(1)))
    with pytest.raises(InvalidInput, match="segmenter id"):
        cache.clear("../x")


def test_process_wide_cache_follows_the_settings(studio_env: dict[str, str]) -> None:
    from studio.config import get_settings

    cache = get_cache()
    assert cache is get_cache()
    assert cache.root == get_settings().embeddings_dir.resolve()
    assert cache.max_bytes == get_settings().embedding_cache_mb * 1024 * 1024
    assert cache.memory_items == get_settings().embedding_memory_items
