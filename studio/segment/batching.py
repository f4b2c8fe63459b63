"""Embeddings of many images, batched: what the ``embed`` job and the Label page's prefetcher run.

Three stages overlap, so the encoder (the expensive part, on the GPU) never waits for a file:

1. decode: a thread pool reads each image and ``segmenter.prepare``s it (SAM: the resize to
   1024), a bounded number of images ahead, in order;
2. encode: the calling thread hands ``batch_size`` prepared images at a time to
   ``segmenter.embed_prepared`` (one encoder call); out of GPU memory, the batch is halved and
   tried again, and the rest of the run keeps the smaller size;
3. store: a writer thread puts each embedding into the cache (fp16 npz, temp file + rename)
   and evicts to the cache's budget every :data:`EVICT_EVERY` files.

Images already cached (or being computed by another thread of this process) are skipped
before they are read; an image that cannot be read is counted, named to ``on_failed`` and
skipped. Each image's cache key is claimed while it is in the pipeline, so a click on an image
the prefetcher is computing waits for that result instead of computing it a second time.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studio.errors import StudioError
from studio.segment.base import Embedding, PreparedImage, Segmenter
from studio.segment.cache import EmbeddingCache

log = logging.getLogger(__name__)

DEFAULT_BATCH = 8
EVICT_EVERY = 64  # files written between two evictions (each lists the cache folder)
ITEM_ERRORS = (StudioError, OSError, ValueError)  # what makes one image unreadable (skipped, named)


@dataclass(frozen=True)
class Item:
    """One image to embed: its content hash (the cache key), where it is, a name for people."""

    content_hash: str
    path: Path
    name: str = ""


@dataclass
class BatchStats:
    """What a run did. ``images_per_second``: images computed per second of the pipeline's
    wall time (decode + encode + store, overlapped; cached images are not counted)."""

    images: int = 0
    computed: int = 0
    cached: int = 0
    failed: int = 0
    seconds: float = 0.0
    batch_size: int = DEFAULT_BATCH  # at the end (after any halving)
    halvings: int = 0

    @property
    def images_per_second(self) -> float:
        return self.computed / self.seconds if self.seconds > 0 else 0.0


def load_image(path: Path) -> np.ndarray:
    """The pixels of a stored image (H, W, 3) uint8 RGB, within the configured pixel limit."""
    from studio.config import get_settings
    from studio.images import load_rgb

    return load_rgb(Path(path), get_settings().max_image_pixels)


def encode_halving(segmenter: Segmenter, prepared: Sequence[PreparedImage], batch_size: int,
                   encode: Callable[[Sequence[PreparedImage], int], list[Embedding]] | None = None,
                   on_halve: Callable[[int, BaseException], None] | None = None) -> tuple[list[Embedding], int]:
    """Embeddings of ``prepared`` in chunks of ``batch_size``; when the accelerator runs out of
    memory, the chunk size is halved and the chunk tried again (down to 1, where the error is
    raised as a StudioError). Returns (embeddings in order, the chunk size that worked).
    ``encode(chunk, pad_to)`` defaults to ``segmenter.embed_prepared``."""
    from studio.segment.sam import is_out_of_memory

    encode = encode or segmenter.embed_prepared
    out: list[Embedding] = []
    start = 0
    while start < len(prepared):
        chunk = prepared[start:start + batch_size]
        try:
            out.extend(encode(chunk, batch_size))
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            _free_accelerator_memory()
            if batch_size == 1:
                raise StudioError(f"out of accelerator memory embedding a single image ({exc}); free memory "
                                  "(close other jobs) or use a smaller SAM model") from exc
            batch_size //= 2
            if on_halve is not None:
                on_halve(batch_size, exc)
            continue
        start += len(chunk)
    return out, batch_size


def _free_accelerator_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class _Writer:
    """A thread that stores embeddings into the cache, releasing each claim after its write."""

    def __init__(self, cache: EmbeddingCache, segmenter_id: str, remember: bool, depth: int) -> None:
        self.cache, self.segmenter_id, self.remember = cache, segmenter_id, remember
        self.queue: queue.Queue[tuple[str, str, Embedding] | None] = queue.Queue(maxsize=max(1, depth))
        self.failures: list[tuple[str, BaseException]] = []
        self.written = 0
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"embed-writer-{segmenter_id}")
        self.thread.start()

    def _run(self) -> None:
        while (job := self.queue.get()) is not None:
            content_hash, name, embedding = job
            try:
                self.cache.put(content_hash, embedding, remember=self.remember, evict=False)
                self.written += 1
                if self.written % EVICT_EVERY == 0:
                    self.cache.evict()
            except OSError as exc:  # a full or read-only disk: named, the run goes on
                self.failures.append((name, exc))
            finally:
                self.cache.release(self.segmenter_id, content_hash)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        if self.written % EVICT_EVERY:
            self.cache.evict()


def embed_many(segmenter: Segmenter, cache: EmbeddingCache, items: Sequence[Item], *,
               batch_size: int = DEFAULT_BATCH, decode_workers: int | None = None,
               loader: Callable[[Path], np.ndarray] = load_image, remember: bool = True,
               on_progress: Callable[[BatchStats], None] | None = None,
               on_failed: Callable[[str, BaseException], None] | None = None,
               on_halve: Callable[[int, BaseException], None] | None = None,
               should_stop: Callable[[], bool] = lambda: False,
               encode: Callable[[Sequence[PreparedImage], int], list[Embedding]] | None = None) -> BatchStats:
    """Compute and store the embeddings of ``items`` that are not cached (see the module
    docstring). ``remember``: also keep them in the cache's memory LRU (the page process does;
    a worker does not). ``on_progress`` after each batch, ``on_failed(name, error)`` per
    unreadable image, ``on_halve(new size, error)`` per halving; ``should_stop`` is checked
    between batches (what is claimed but not computed is released). ``encode`` replaces
    ``segmenter.embed_prepared`` (tests)."""
    if batch_size < 1:
        raise ValueError(f"batch_size {batch_size}: expected at least 1")
    started = time.perf_counter()
    stats = BatchStats(images=len(items), batch_size=batch_size)
    todo: list[Item] = []
    for item in items:
        if cache.claim(segmenter.id, item.content_hash):
            todo.append(item)
        else:
            stats.cached += 1
    if not todo:
        stats.seconds = time.perf_counter() - started
        if on_progress is not None:
            on_progress(stats)
        return stats

    def fail(item: Item, exc: BaseException) -> None:
        stats.failed += 1
        cache.release(segmenter.id, item.content_hash)
        if on_failed is not None:
            on_failed(item.name or str(item.path), exc)

    def decode(item: Item) -> PreparedImage:
        return segmenter.prepare(loader(item.path))

    workers = decode_workers or max(1, min(8, os.cpu_count() or 1, len(todo)))
    writer = _Writer(cache, segmenter.id, remember, depth=2 * batch_size)
    pending: list[Item] = []  # claimed, not yet handed to the writer or failed
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="embed-decode") as pool:
            for batch in _batches(pool, decode, todo, lambda: stats.batch_size, ahead=2 * batch_size + workers,
                                  pending=pending, fail=fail):
                if should_stop():
                    break
                if not batch:
                    continue
                embeddings, stats.batch_size = encode_halving(segmenter, [p for _, p in batch], stats.batch_size,
                                                              encode, _count_halvings(stats, on_halve))
                for (item, _), embedding in zip(batch, embeddings, strict=True):
                    pending.remove(item)
                    writer.queue.put((item.content_hash, item.name or str(item.path), embedding))
                stats.computed += len(batch)
                stats.seconds = time.perf_counter() - started
                if on_progress is not None:
                    on_progress(stats)
    finally:
        for item in pending:  # stopped or failed midway: nothing left claimed
            cache.release(segmenter.id, item.content_hash)
        writer.close()
    for name, exc in writer.failures:
        stats.computed -= 1
        stats.failed += 1
        if on_failed is not None:
            on_failed(name, exc)
    stats.seconds = time.perf_counter() - started
    return stats


def _count_halvings(stats: BatchStats, on_halve: Callable[[int, BaseException], None] | None
                    ) -> Callable[[int, BaseException], None]:
    def halve(size: int, exc: BaseException) -> None:
        stats.halvings += 1
        log.warning("out of accelerator memory at batch %d: going on with batch %d", size * 2, size)
        if on_halve is not None:
            on_halve(size, exc)
    return halve


def _batches(pool: ThreadPoolExecutor, decode: Callable[[Item], PreparedImage], todo: list[Item],
             size: Callable[[], int], ahead: int, pending: list[Item],
             fail: Callable[[Item, BaseException], None]) -> Iterator[list[tuple[Item, PreparedImage]]]:
    """Decoded items in order, grouped by ``size()`` (read at each batch: it may halve), with at
    most ``ahead`` decodes in flight; unreadable items go to ``fail`` and are left out."""
    futures: list[tuple[Item, Future[PreparedImage]]] = []
    queued = 0
    batch: list[tuple[Item, PreparedImage]] = []
    try:
        while queued < len(todo) or futures:
            while queued < len(todo) and len(futures) < ahead:
                item = todo[queued]
                pending.append(item)
                futures.append((item, pool.submit(decode, item)))
                queued += 1
            item, future = futures.pop(0)
            try:
                batch.append((item, future.result()))
            except ITEM_ERRORS as exc:
                pending.remove(item)
                fail(item, exc)
            if len(batch) >= size() or (queued == len(todo) and not futures):
                yield batch
                batch = []
    finally:
        for _, future in futures:  # the consumer stopped early: decodes not started are dropped
            future.cancel()
