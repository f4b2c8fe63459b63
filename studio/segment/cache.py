"""Embedding cache: an in-memory LRU in front of a bounded, content-addressed folder.

Key: (segmenter id, image content hash). A segmenter id names the model *and* its weights
(``sam-vit_b-<checkpoint sha256 prefix>``), so a changed checkpoint never meets an
embedding of the old one. On disk: ``<root>/<segmenter id>/<content hash>.npz`` holding the
embedding's arrays (floating point ones stored as float16, read back as float32; others as
they are) and ``__image_size__``; written to a temp name, then renamed. After a write the
least recently used files (by mtime; a read touches its file) are removed until the folder
is within ``max_bytes``. A file that cannot be read (truncated, not a zip, missing arrays) is
deleted and counted as a miss, so it is computed again; :meth:`EmbeddingCache.discard`
drops an entry a caller found unusable (wrong shapes).

``<root>/decoders/`` holds SAM's exported ONNX decoders (studio.segment.onnx_decoder), not
embeddings: info, clear and eviction skip that folder.

Thread-safe; the same key asked for by two threads at once is computed once (the second
waits). A batch computed elsewhere (studio.segment.batching) ``claim``s its keys first, so a
``get_or_compute`` of one of them waits for the batch instead of computing it again. Several
processes may share the folder (renames are atomic).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from studio.errors import InvalidInput
from studio.segment.base import Embedding, Segmenter

log = logging.getLogger(__name__)

Source = Literal["memory", "disk", "computed"]
_SIZE_KEY = "__image_size__"
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_HASH_RE = re.compile(r"^[0-9a-fA-F]{8,128}$")
_FP16_MAX = float(np.finfo(np.float16).max)
DECODERS_DIR = "decoders"  # <root>/decoders/<segmenter id>.onnx: not embeddings (see the module docstring)


@dataclass(frozen=True)
class CacheInfo:
    """What the disk cache holds: totals and, per segmenter id, {"entries": n, "bytes": b}."""

    entries: int
    bytes: int
    max_bytes: int
    by_segmenter: dict[str, dict[str, int]] = field(default_factory=dict)


def _check_key(segmenter_id: str, content_hash: str) -> None:
    if not _ID_RE.match(segmenter_id):
        raise InvalidInput(f"segmenter id {segmenter_id!r}: expected letters, digits, '.', '_' or '-'")
    if not _HASH_RE.match(content_hash):
        raise InvalidInput(f"content hash {content_hash!r}: expected 8-128 hex digits")


def _encode(embedding: Embedding) -> dict[str, np.ndarray]:
    arrays = {}
    for name, value in embedding.arrays.items():
        a = np.asarray(value)
        if np.issubdtype(a.dtype, np.floating):
            a = np.clip(a, -_FP16_MAX, _FP16_MAX).astype(np.float16)
        arrays[name] = a
    arrays[_SIZE_KEY] = np.array(embedding.image_size, np.int64)
    return arrays


def _decode(segmenter_id: str, data: np.lib.npyio.NpzFile) -> Embedding:
    arrays = {}
    for name in data.files:
        if name == _SIZE_KEY:
            continue
        a = data[name]
        arrays[name] = a.astype(np.float32) if np.issubdtype(a.dtype, np.floating) else a
    size = data[_SIZE_KEY]
    return Embedding(segmenter_id, (int(size[0]), int(size[1])), arrays)


class EmbeddingCache:
    """See the module docstring. ``memory_items`` 0 turns the in-memory LRU off."""

    def __init__(self, root: Path, max_bytes: int, memory_items: int = 16) -> None:
        if max_bytes < 0 or memory_items < 0:
            raise InvalidInput(f"embedding cache: expected max_bytes >= 0 and memory_items >= 0, "
                               f"got {max_bytes} and {memory_items}")
        self.root = Path(root)
        self.max_bytes = int(max_bytes)
        self.memory_items = int(memory_items)
        self._memory: OrderedDict[tuple[str, str], Embedding] = OrderedDict()
        self._inflight: dict[tuple[str, str], threading.Event] = {}
        self._lock = threading.RLock()

    # -- paths -------------------------------------------------------------------------------
    def path_for(self, segmenter_id: str, content_hash: str) -> Path:
        _check_key(segmenter_id, content_hash)
        return self.root / segmenter_id / f"{content_hash.lower()}.npz"

    # -- reading -----------------------------------------------------------------------------
    def _remember(self, key: tuple[str, str], embedding: Embedding) -> None:
        if self.memory_items == 0:
            return
        with self._lock:
            self._memory[key] = embedding
            self._memory.move_to_end(key)
            while len(self._memory) > self.memory_items:
                self._memory.popitem(last=False)

    def _from_memory(self, key: tuple[str, str]) -> Embedding | None:
        with self._lock:
            embedding = self._memory.get(key)
            if embedding is not None:
                self._memory.move_to_end(key)
            return embedding

    def _from_disk(self, key: tuple[str, str]) -> Embedding | None:
        path = self.path_for(*key)
        try:
            with np.load(path, allow_pickle=False) as data:
                embedding = _decode(key[0], data)
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 (truncated, not a zip, missing keys ...: a miss)
            log.warning("embedding cache: %s is unreadable (%s); deleting it", path, exc)
            path.unlink(missing_ok=True)
            return None
        try:
            os.utime(path)  # least-recently-used order for eviction
        except OSError:
            pass
        return embedding

    def get(self, segmenter_id: str, content_hash: str) -> tuple[Embedding, Source] | None:
        """The cached embedding and where it came from ("memory" / "disk"), or None."""
        key = (segmenter_id, content_hash.lower())
        _check_key(*key)
        embedding = self._from_memory(key)
        if embedding is not None:
            return embedding, "memory"
        embedding = self._from_disk(key)
        if embedding is None:
            return None
        self._remember(key, embedding)
        return embedding, "disk"

    def contains(self, segmenter_id: str, content_hash: str) -> bool:
        """Whether the key is in memory or on disk (no read)."""
        key = (segmenter_id, content_hash.lower())
        with self._lock:
            if key in self._memory:
                return True
        return self.path_for(*key).is_file()

    # -- writing -----------------------------------------------------------------------------
    def put(self, content_hash: str, embedding: Embedding, *, remember: bool = True, evict: bool = True) -> Path:
        """Store ``embedding`` (disk: fp16, temp file + rename; memory unless ``remember`` is
        False), then evict to budget (unless ``evict`` is False: a batch writer calls
        :meth:`evict` every so often instead of listing the folder after every file)."""
        key = (embedding.segmenter_id, content_hash.lower())
        path = self.path_for(*key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with tmp.open("wb") as f:
                np.savez(f, **_encode(embedding))
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        if remember:
            self._remember(key, embedding)
        if evict:
            self._evict(keep=path)
        return path

    def evict(self) -> int:
        """Remove least recently used files until the folder is within budget; how many went."""
        return self._evict()

    def claim(self, segmenter_id: str, content_hash: str) -> bool:
        """Mark the key as being computed by the caller (True), unless it is cached or already
        being computed (False). Every claim must be followed by :meth:`release`; meanwhile a
        ``get_or_compute`` of the key waits instead of computing it too."""
        key = (segmenter_id, content_hash.lower())
        _check_key(*key)
        with self._lock:
            if key in self._inflight or key in self._memory:
                return False
            self._inflight[key] = threading.Event()
        if self.path_for(*key).is_file():
            self.release(segmenter_id, content_hash)
            return False
        return True

    def release(self, segmenter_id: str, content_hash: str) -> None:
        """End a :meth:`claim` (stored or not): threads waiting for the key go on."""
        with self._lock:
            event = self._inflight.pop((segmenter_id, content_hash.lower()), None)
        if event is not None:
            event.set()

    def get_or_compute(self, segmenter: Segmenter, content_hash: str,
                       compute: Callable[[], Embedding]) -> tuple[Embedding, Source]:
        """The embedding of image ``content_hash`` by ``segmenter``: from memory, from disk,
        or ``compute()``d now and stored. Returns ``(embedding, source)``."""
        key = (segmenter.id, content_hash.lower())
        _check_key(*key)
        while True:
            found = self.get(*key)
            if found is not None:
                return found
            with self._lock:
                event = self._inflight.get(key)
                if event is None:
                    event = self._inflight[key] = threading.Event()
                    break
            event.wait()  # another thread computes it; then it is in memory or on disk
        try:
            found = self._from_disk(key)  # another process may have written it meanwhile
            if found is not None:
                self._remember(key, found)
                return found, "disk"
            embedding = compute()
            if embedding.segmenter_id != segmenter.id:
                raise InvalidInput(f"computed embedding belongs to {embedding.segmenter_id!r}, "
                                   f"expected {segmenter.id!r}")
            try:
                self.put(content_hash, embedding)
            except OSError as exc:  # a full or read-only disk: still serve it from memory
                log.warning("embedding cache: could not store %s/%s: %s", *key, exc)
                self._remember(key, embedding)
            return embedding, "computed"
        finally:
            with self._lock:
                self._inflight.pop(key, None)
            event.set()

    def discard(self, segmenter_id: str, content_hash: str) -> bool:
        """Forget one entry (memory and disk), e.g. one whose arrays have the wrong shape;
        whether a file was deleted."""
        key = (segmenter_id, content_hash.lower())
        path = self.path_for(*key)
        with self._lock:
            self._memory.pop(key, None)
        existed = path.is_file()
        path.unlink(missing_ok=True)
        return existed

    # -- size --------------------------------------------------------------------------------
    def _files(self) -> list[tuple[Path, os.stat_result]]:
        out = []
        if not self.root.is_dir():
            return out
        for folder in self.root.iterdir():
            if not folder.is_dir() or folder.name == DECODERS_DIR:
                continue
            for path in folder.glob("*.npz"):
                try:
                    out.append((path, path.stat()))
                except FileNotFoundError:
                    continue
        return out

    def _evict(self, keep: Path | None = None) -> int:
        """Remove least recently used files until the folder is within ``max_bytes``."""
        with self._lock:
            files = self._files()
            total = sum(st.st_size for _, st in files)
            removed = 0
            # oldest first; the file just written last whatever the clock says
            for path, st in sorted(files, key=lambda item: (item[0] == keep, item[1].st_mtime_ns)):
                if total <= self.max_bytes:
                    break
                path.unlink(missing_ok=True)
                total -= st.st_size
                removed += 1
                self._memory.pop((path.parent.name, path.stem), None)
            return removed

    def info(self) -> CacheInfo:
        """Entries and bytes on disk, in all and per segmenter id."""
        by: dict[str, dict[str, int]] = {}
        for path, st in self._files():
            entry = by.setdefault(path.parent.name, {"entries": 0, "bytes": 0})
            entry["entries"] += 1
            entry["bytes"] += st.st_size
        return CacheInfo(sum(e["entries"] for e in by.values()), sum(e["bytes"] for e in by.values()),
                         self.max_bytes, dict(sorted(by.items())))

    def clear(self, segmenter_id: str | None = None) -> int:
        """Delete the entries of ``segmenter_id`` (all when None); how many files went."""
        if segmenter_id is not None and not _ID_RE.match(segmenter_id):
            raise InvalidInput(f"segmenter id {segmenter_id!r}: expected letters, digits, '.', '_' or '-'")
        removed = 0
        with self._lock:
            for path, _ in self._files():
                if segmenter_id is None or path.parent.name == segmenter_id:
                    path.unlink(missing_ok=True)
                    removed += 1
            for key in [k for k in self._memory if segmenter_id is None or k[0] == segmenter_id]:
                del self._memory[key]
        return removed


_CACHES: dict[tuple[str, int, int], EmbeddingCache] = {}
_CACHES_LOCK = threading.Lock()


def get_cache() -> EmbeddingCache:
    """The process-wide cache for the current settings (``embeddings_dir``,
    ``embedding_cache_mb``, ``embedding_memory_items``)."""
    from studio.config import get_settings

    settings = get_settings()
    key = (str(settings.embeddings_dir.resolve()), int(settings.embedding_cache_mb) * 1024 * 1024,
           int(settings.embedding_memory_items))
    with _CACHES_LOCK:
        cache = _CACHES.get(key)
        if cache is None:
            cache = _CACHES[key] = EmbeddingCache(Path(key[0]), key[1], key[2])
        return cache

