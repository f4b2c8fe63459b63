"""The batched embedding pipeline (decode threads, batched encoder, writer thread) with cheap
embeddings: skips, failures, out-of-memory halving, claims, stopping."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from studio.errors import StudioError
from studio.segment.base import Embedding, PreparedImage
from studio.segment.batching import Item, embed_many, encode_halving
from studio.segment.cache import EmbeddingCache
from tests.segment.conftest import FakeSegmenter, write_png


def items(tmp_path: Path, n: int) -> list[Item]:
    rng = np.random.default_rng(0)
    return [Item(f"{i:02x}" * 32, write_png(tmp_path / f"img{i}.png", rng.integers(0, 255, (20, 30, 3), np.uint8)),
                 f"img{i}.png") for i in range(n)]


@pytest.fixture
def cache(tmp_path: Path) -> EmbeddingCache:
    return EmbeddingCache(tmp_path / "cache", 10**9, memory_items=0)


class OomAbove:
    """An encoder that runs out of memory for batches larger than ``limit`` (as a GPU does)."""

    def __init__(self, segmenter: FakeSegmenter, limit: int) -> None:
        self.segmenter, self.limit, self.sizes = segmenter, limit, []

    def __call__(self, chunk: Sequence[PreparedImage], pad_to: int) -> list[Embedding]:
        self.sizes.append(len(chunk))
        if len(chunk) > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.segmenter.embed_prepared(chunk, pad_to)


def test_out_of_memory_halves_the_batch_and_goes_on(tmp_path: Path, cache: EmbeddingCache,
                                                    fake: FakeSegmenter) -> None:
    work = items(tmp_path, 11)
    encoder = OomAbove(fake, limit=2)
    halved: list[int] = []
    stats = embed_many(fake, cache, work, batch_size=8, encode=encoder, on_halve=lambda size, exc: halved.append(size))
    assert stats.computed == 11 and stats.failed == 0 and stats.halvings == 2 and stats.batch_size == 2
    assert halved == [4, 2] and encoder.sizes[:3] == [8, 4, 2]  # 8 fails, 4 fails, then 2 at a time
    assert max(encoder.sizes[3:]) == 2  # the rest of the run keeps the smaller batch
    for item in work:  # every embedding stored, each the one of its own image
        embedding, _ = cache.get(fake.id, item.content_hash)
        expected = fake.compute_embedding(np.ascontiguousarray(cv2.imread(str(item.path))[..., ::-1]))
        np.testing.assert_allclose(embedding.arrays["features"], expected.arrays["features"], atol=5e-3)
    assert stats.images_per_second > 0


def test_out_of_memory_for_one_image_is_an_error(tmp_path: Path, cache: EmbeddingCache, fake: FakeSegmenter) -> None:
    work = items(tmp_path, 3)
    with pytest.raises(StudioError, match="out of accelerator memory embedding a single image"):
        embed_many(fake, cache, work, batch_size=4, encode=OomAbove(fake, limit=0))
    assert all(cache.claim(fake.id, i.content_hash) for i in work)  # nothing left claimed, nothing stored


def test_other_errors_are_not_taken_for_memory(fake: FakeSegmenter) -> None:
    def broken(chunk: Sequence[PreparedImage], pad_to: int) -> list[Embedding]:
        raise RuntimeError("shape mismatch")

    image = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        encode_halving(fake, [fake.prepare(image)] * 4, 4, broken)


def test_cached_and_unreadable_images_are_skipped(tmp_path: Path, cache: EmbeddingCache,
                                                  fake: FakeSegmenter) -> None:
    work = items(tmp_path, 5)
    (tmp_path / "img1.png").write_bytes(b"not a png")
    work[3].path.unlink()
    first = embed_many(fake, cache, work[:1], batch_size=2)
    assert (first.computed, first.cached) == (1, 0)
    failed: list[str] = []
    stats = embed_many(fake, cache, work, batch_size=2, on_failed=lambda name, exc: failed.append(name))
    assert (stats.images, stats.computed, stats.cached, stats.failed) == (5, 2, 1, 2)
    assert failed == ["img1.png", "img3.png"]
    assert [cache.contains(fake.id, i.content_hash) for i in work] == [True, False, True, False, True]
    assert len(fake.calls) == 3  # the cached image was not read, let alone computed again


def test_a_click_on_an_image_in_the_pipeline_waits_for_it(tmp_path: Path, cache: EmbeddingCache,
                                                          fake: FakeSegmenter) -> None:
    work = items(tmp_path, 2)
    entered, release = threading.Event(), threading.Event()

    def slow(chunk: Sequence[PreparedImage], pad_to: int) -> list[Embedding]:
        entered.set()
        release.wait(10)
        return fake.embed_prepared(chunk, pad_to)

    runner = threading.Thread(target=embed_many, args=(fake, cache, work), kwargs={"batch_size": 2, "encode": slow})
    runner.start()
    assert entered.wait(10)
    got: list[str] = []
    clicker = threading.Thread(target=lambda: got.append(cache.get_or_compute(
        fake, work[1].content_hash, lambda: pytest.fail("computed a second time"))[1]))
    clicker.start()
    clicker.join(0.3)
    assert clicker.is_alive()  # waiting for the batch, not computing
    release.set()
    runner.join(10)
    clicker.join(10)
    assert got == ["disk"]


def test_stopping_between_batches_releases_what_was_claimed(tmp_path: Path, cache: EmbeddingCache,
                                                            fake: FakeSegmenter) -> None:
    work = items(tmp_path, 6)
    batches: list[int] = []
    stats = embed_many(fake, cache, work, batch_size=2, should_stop=lambda: len(batches) >= 1,
                       on_progress=lambda s: batches.append(s.computed))
    assert stats.computed == 2 and batches == [2]
    assert [cache.contains(fake.id, i.content_hash) for i in work] == [True, True] + [False] * 4
    assert all(cache.claim(fake.id, i.content_hash) for i in work[2:])  # not left claimed
