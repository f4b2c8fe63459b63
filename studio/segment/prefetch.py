"""Background embedding of the images an annotator will open next.

``get_prefetcher(segmenter).request([(content_hash, path), ...])`` replaces the pending list
(the latest request wins: the annotator moved on), drops what is already cached, and a
single daemon thread computes the rest into the embedding cache, in order, through the
batched path of the ``embed`` job (studio.segment.batching): up to ``segmenter.batch_size``
images per encoder call (8 with SAM on CUDA, 1 on a CPU). It never raises into the caller;
failures are logged and skipped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from studio.segment.base import Segmenter
from studio.segment.batching import Item, embed_many
from studio.segment.cache import EmbeddingCache, get_cache

log = logging.getLogger(__name__)

MAX_PENDING = 8  # a request longer than this keeps its first items


def _load(path: Path) -> np.ndarray:
    from studio.config import get_settings
    from studio.images import load_rgb

    return load_rgb(path, get_settings().max_image_pixels)


class Prefetcher:
    """One daemon thread computing embeddings of ``segmenter`` into ``cache``."""

    def __init__(self, segmenter: Segmenter, cache: EmbeddingCache, max_pending: int = MAX_PENDING,
                 loader: Callable[[Path], np.ndarray] = _load) -> None:
        self.segmenter = segmenter
        self.cache = cache
        self.max_pending = max_pending
        self.loader = loader
        self.computed = 0
        self.failed = 0
        self._pending: list[tuple[str, Path]] = []
        self._busy = False
        self._stopped = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def request(self, items: list[tuple[str, str | Path]]) -> int:
        """Replace the pending work with ``items`` (content hash, image path), minus those
        already cached; how many were queued. Never raises."""
        try:
            wanted: list[tuple[str, Path]] = []
            for content_hash, path in items:
                if len(wanted) >= self.max_pending:
                    break
                try:
                    if not self.cache.contains(self.segmenter.id, content_hash):
                        wanted.append((content_hash, Path(path)))
                except Exception as exc:  # noqa: BLE001 (one bad item does not spoil the rest)
                    log.warning("prefetch: skipping %r (%s)", content_hash, exc)
            with self._cond:
                self._pending = wanted
                if wanted and (self._thread is None or not self._thread.is_alive()):
                    self._stopped = False
                    self._thread = threading.Thread(target=self._run, daemon=True,
                                                    name=f"prefetch-{self.segmenter.id}")
                    self._thread.start()
                self._cond.notify_all()
            return len(wanted)
        except Exception:  # noqa: BLE001 (prefetching is an optimisation: never break the page)
            log.exception("prefetch request failed")
            return 0

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopped:
                    self._busy = False
                    self._cond.notify_all()
                    self._cond.wait()
                if self._stopped:
                    self._busy = False
                    self._cond.notify_all()
                    return
                size = max(1, int(getattr(self.segmenter, "batch_size", 1) or 1))
                batch, self._pending = self._pending[:size], self._pending[size:]
                self._busy = True
            try:
                stats = embed_many(self.segmenter, self.cache, [Item(h, p, str(p)) for h, p in batch],
                                   batch_size=size, decode_workers=min(4, len(batch)), loader=self.loader,
                                   on_failed=self._failed)
                self.computed += stats.computed
            except Exception as exc:  # noqa: BLE001 (a failing batch must not stop the thread)
                self.failed += len(batch)
                log.warning("prefetch of %d image(s) failed: %s", len(batch), exc)

    def _failed(self, name: str, exc: BaseException) -> None:
        self.failed += 1
        log.warning("prefetch of %s failed: %s", name, exc)

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Block until nothing is pending or running (True), or ``timeout`` s passed (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._busy, timeout)

    def stop(self) -> None:
        """Let the thread end after its current image (pending work is dropped)."""
        with self._cond:
            self._pending = []
            self._stopped = True
            self._cond.notify_all()


_PREFETCHERS: dict[tuple[str, int], Prefetcher] = {}
_LOCK = threading.Lock()


def get_prefetcher(segmenter: Segmenter) -> Prefetcher:
    """The process-wide prefetcher of ``segmenter`` (one per segmenter id and cache)."""
    cache = get_cache()
    key = (segmenter.id, id(cache))
    with _LOCK:
        prefetcher = _PREFETCHERS.get(key)
        if prefetcher is None:
            prefetcher = _PREFETCHERS[key] = Prefetcher(segmenter, cache)
        return prefetcher
