"""The prefetcher: warms the cache in the background, latest request wins, never raises."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from studio.segment.cache import EmbeddingCache
from studio.segment.fallback import FallbackSegmenter
from studio.segment.prefetch import Prefetcher, get_prefetcher
from tests.segment.conftest import FakeSegmenter, write_png


def images(tmp_path: Path, n: int) -> list[tuple[str, Path]]:
    rng = np.random.default_rng(0)
    return [(f"{i:02d}" * 32, write_png(tmp_path / f"img{i}.png", rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)))
            for i in range(n)]


def test_prefetch_warms_the_cache(tmp_path: Path) -> None:
    segmenter = FallbackSegmenter()
    cache = EmbeddingCache(tmp_path / "cache", 10**8, memory_items=8)
    items = images(tmp_path, 3)
    prefetcher = Prefetcher(segmenter, cache)
    assert prefetcher.request(items) == 3
    assert prefetcher.wait_idle(30)
    assert prefetcher.computed == 3 and prefetcher.failed == 0
    for content_hash, _ in items:
        assert cache.get(segmenter.id, content_hash) is not None
    assert prefetcher.request(items) == 0  # all cached: nothing queued
    prefetcher.stop()


def test_unreadable_images_are_logged_not_raised(tmp_path: Path, fake: FakeSegmenter) -> None:
    cache = EmbeddingCache(tmp_path / "cache", 10**8, memory_items=8)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    prefetcher = Prefetcher(fake, cache)
    assert prefetcher.request([("ab" * 32, tmp_path / "missing.png"), ("cd" * 32, tmp_path / "broken.png"),
                               ("not a hash", tmp_path / "x.png")]) == 2
    assert prefetcher.wait_idle(30)
    assert prefetcher.computed == 0 and prefetcher.failed == 2
    assert prefetcher.request(None) == 0  # type: ignore[arg-type]  # nonsense in, nothing out, no exception
    prefetcher.stop()


def test_the_latest_request_replaces_pending_work(tmp_path: Path, fake: FakeSegmenter) -> None:
    cache = EmbeddingCache(tmp_path / "cache", 10**8, memory_items=8)
    items = images(tmp_path, 4)
    gate = threading.Event()
    started = threading.Event()

    def loader(path: Path) -> np.ndarray:
        started.set()
        gate.wait(10)
        return np.zeros((5, 5, 3), np.uint8) + int(path.stem[-1])

    prefetcher = Prefetcher(fake, cache, loader=loader)
    prefetcher.request(items[:3])
    assert started.wait(10)  # the first image is being computed
    prefetcher.request(items[3:])  # the annotator moved on: images 1 and 2 are dropped
    gate.set()
    assert prefetcher.wait_idle(30)
    done = [cache.contains(fake.id, h) for h, _ in items]
    assert done == [True, False, False, True]
    prefetcher.stop()


def test_one_prefetcher_per_segmenter(studio_env: dict[str, str], fake: FakeSegmenter) -> None:
    assert get_prefetcher(fake) is get_prefetcher(fake)
    assert get_prefetcher(FallbackSegmenter()) is not get_prefetcher(fake)


def test_a_segmenter_that_batches_gets_the_pending_images_in_batches(tmp_path: Path) -> None:
    """As the embed job: SAM on CUDA takes 8 images per encoder call; here 3."""
    from collections.abc import Sequence

    from studio.segment.base import Embedding, PreparedImage

    class Batching(FakeSegmenter):
        batch_size = 3

        def __init__(self) -> None:
            super().__init__()
            self.batches: list[int] = []

        def embed_prepared(self, prepared: Sequence[PreparedImage], pad_to: int | None = None) -> list[Embedding]:
            self.batches.append(len(prepared))
            return super().embed_prepared(prepared, pad_to)

    segmenter = Batching()
    cache = EmbeddingCache(tmp_path / "cache", 10**8, memory_items=8)
    prefetcher = Prefetcher(segmenter, cache)
    assert prefetcher.request(images(tmp_path, 5)) == 5
    assert prefetcher.wait_idle(30)
    assert segmenter.batches == [3, 2] and prefetcher.computed == 5
    prefetcher.stop()
