"""The training input cache: each dataset version decoded and resized once per training size.

Decoding a photo, painting its label map from RLEs and resizing both costs far more than a
training step wants to wait for, and it is the same work for every epoch and every run on
that version. So it is done once, in a thread pool, into

    <data>/cache/<dataset>/v<version>/<size>/
        images.npy     (N, S, S, 3) uint8 RGB, resized to fit S x S (aspect kept), padded with 0
        labels.npy     (N, S, S) uint8 class-index maps, padded and crowd regions = ignore_index
        manifest.json  format, fingerprint, keys (row order), shapes, CRC-32 of each file

and read back memory-mapped (``np.load(mmap_mode="r")``): loader workers share the page
cache instead of each holding a copy, and a forked or spawned worker opens the files itself.

The fingerprint is the SHA-256 of what the files are computed from: the cache format, S, the
ignore index, and per sample its key, stored file (path, size, mtime), size and objects (class,
RLE, crowd). A version whose content changed (a dataset deleted and created again under the
same name has a v1 of other content; an image file replaced in place) no longer matches and the
cache is rebuilt; so is one that is corrupt (a missing or truncated file, a CRC mismatch, a
manifest that does not parse). The CRCs are checked once per process per folder.

A build is written to a temporary folder beside the target and renamed into place, so a
killed build never leaves a half-written cache; two processes building at once both finish
and the second one to rename uses the first one's folder.

Every snapshot is a new version, so caches would pile up (about 1 MB per image at 512²): after
a build, only the :data:`KEEP_VERSIONS` most recently used versions of the dataset at that size
are kept (opening a cache marks it used); an older one is built again if a run asks for it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from studio.errors import StudioError

if TYPE_CHECKING:
    from studio.training.data import Sample

log = logging.getLogger(__name__)

CACHE_FORMAT = 1  # bump when what the files hold changes: every old cache becomes stale
MANIFEST = "manifest.json"
IMAGES = "images.npy"
LABELS = "labels.npy"
_CRC_CHUNK = 1 << 24
KEEP_VERSIONS = 3  # caches kept per dataset and size (the most recently used)

_VERIFIED: set[tuple[str, str, tuple]] = set()  # (folder, fingerprint, file stats) whose CRCs matched here
_VERIFIED_LOCK = threading.Lock()
_BUILD_LOCKS: dict[str, threading.Lock] = {}


def cache_root() -> Path:
    """``<data_dir>/cache``: where training input caches live."""
    from studio.config import get_settings

    return get_settings().data_dir / "cache"


def cache_dir(dataset: str, version: int, size: int, root: Path | None = None) -> Path:
    """The folder of ``dataset`` version ``version`` at training size ``size``."""
    return (root or cache_root()) / dataset / f"v{version}" / str(size)


def fingerprint(samples: Sequence[Sample], size: int, ignore_index: int) -> str:
    """SHA-256 hex of what a cache of ``samples`` at ``size`` is computed from (see the module
    docstring). A stored file that is missing counts with size -1 (the build then names it)."""
    digest = hashlib.sha256(json.dumps({"format": CACHE_FORMAT, "size": size, "ignore": ignore_index}).encode())
    for s in samples:
        try:
            st = s.path.stat()
            state = [st.st_size, st.st_mtime_ns]
        except OSError:
            state = [-1, 0]
        objects = [[int(index), rle, bool(crowd)] for index, rle, crowd in s.objects]
        digest.update(json.dumps([s.key, str(s.path), state, s.width, s.height, objects],
                                 sort_keys=True, default=_jsonable).encode())
    return digest.hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):  # RLE counts straight from pycocotools
        return value.decode()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _crc32(path: Path) -> int:
    crc = 0
    with path.open("rb") as f:
        while chunk := f.read(_CRC_CHUNK):
            crc = zlib.crc32(chunk, crc)
    return crc


class InputCache:
    """An opened cache: ``images`` (N, S, S, 3) and ``labels`` (N, S, S), uint8, memory-mapped;
    ``row(key)`` is a sample's row. Pickles as its folder (workers map the files themselves)."""

    def __init__(self, folder: Path, manifest: dict[str, Any], built_seconds: float | None = None) -> None:
        self.folder = folder
        self.manifest = manifest
        self.size = int(manifest["size"])
        self.keys: list[str] = list(manifest["keys"])
        self._rows = {k: i for i, k in enumerate(self.keys)}
        self.built_seconds = built_seconds  # None: found on disk, not built now
        self.note = ""  # a line for the job log: built (why, how fast) or reused
        self._images: np.ndarray | None = None
        self._labels: np.ndarray | None = None

    @property
    def images(self) -> np.ndarray:
        if self._images is None:
            self._images = np.load(self.folder / IMAGES, mmap_mode="r")
        return self._images

    @property
    def labels(self) -> np.ndarray:
        if self._labels is None:
            self._labels = np.load(self.folder / LABELS, mmap_mode="r")
        return self._labels

    def row(self, key: str) -> int:
        return self._rows[key]

    def __len__(self) -> int:
        return len(self.keys)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_images": None, "_labels": None}

    @property
    def nbytes(self) -> int:
        return sum((self.folder / name).stat().st_size for name in (IMAGES, LABELS))


def _verified_key(folder: Path, expected: str) -> tuple[str, str, tuple]:
    """What a CRC check vouches for: the folder, the fingerprint, and each file's size and
    mtime (a file written since is checked again)."""
    stats = tuple((st.st_size, st.st_mtime_ns) for st in ((folder / n).stat() for n in (IMAGES, LABELS)))
    return str(folder), expected, stats


def _check(folder: Path, expected: str, verify_crc: bool) -> tuple[dict[str, Any] | None, str]:
    """(manifest, "") when ``folder`` holds a complete cache of fingerprint ``expected``,
    else (None, why not)."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        return None, "not built yet"
    except (OSError, ValueError) as exc:
        return None, f"its manifest is unreadable ({exc})"
    try:
        if manifest.get("fingerprint") != expected:
            return None, "the dataset version's content changed (fingerprint differs)"
        n, size = int(manifest["count"]), int(manifest["size"])
        shapes = {IMAGES: ((n, size, size, 3), manifest["crc32"][IMAGES]),
                  LABELS: ((n, size, size), manifest["crc32"][LABELS])}
        for name, (shape, _) in shapes.items():
            array = np.load(folder / name, mmap_mode="r")
            if array.shape != shape or array.dtype != np.uint8:
                return None, f"{name} holds {array.dtype} {array.shape}, expected uint8 {shape}"
            del array
        if verify_crc:
            key = _verified_key(folder, expected)
            with _VERIFIED_LOCK:
                done = key in _VERIFIED
            if not done:
                for name, (_, crc) in shapes.items():
                    if _crc32(folder / name) != int(crc):
                        return None, f"{name} does not match its checksum (corrupt)"
                with _VERIFIED_LOCK:
                    _VERIFIED.add(key)
    except FileNotFoundError as exc:
        return None, f"{Path(exc.filename or '?').name} is missing"
    except (OSError, ValueError, KeyError, TypeError) as exc:  # truncated .npy, bad header, bad manifest
        return None, f"it is corrupt ({exc})"
    return manifest, ""


def _build(folder: Path, samples: Sequence[Sample], size: int, ignore_index: int, expected: str,
           workers: int, progress: Callable[[int, int], None] | None) -> dict[str, Any]:
    """Write the cache into a temporary folder beside ``folder``, then rename it into place."""
    from studio.images import load_rgb
    from studio.training.data import fit_square, label_map

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.build-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        n = len(samples)
        images = np.lib.format.open_memmap(tmp / IMAGES, mode="w+", dtype=np.uint8, shape=(n, size, size, 3))
        labels = np.lib.format.open_memmap(tmp / LABELS, mode="w+", dtype=np.uint8, shape=(n, size, size))

        def one(i: int) -> None:
            sample = samples[i]
            image, label, _ = fit_square(load_rgb(sample.path), size, label_map(sample, ignore_index), ignore_index)
            images[i] = image
            labels[i] = label

        done = 0
        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="input-cache") as pool:
            for future in [pool.submit(one, i) for i in range(n)]:
                future.result()  # the first failure (a missing image) stops the build, named by load_rgb
                done += 1
                if progress is not None:
                    progress(done, n)
        images.flush()
        labels.flush()
        images = labels = None  # unmap before the rename
        manifest = {"format": CACHE_FORMAT, "fingerprint": expected, "size": size, "ignore_index": ignore_index,
                    "count": n, "keys": [s.key for s in samples],
                    "crc32": {name: _crc32(tmp / name) for name in (IMAGES, LABELS)},
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
        (tmp / MANIFEST).write_text(json.dumps(manifest))
        old = None
        if folder.exists():  # stale or corrupt: moved aside, then removed
            old = folder.parent / f".{folder.name}.old-{uuid.uuid4().hex[:8]}"
            try:
                os.replace(folder, old)
            except OSError:
                old = None
        try:
            os.replace(tmp, folder)
        except OSError:  # another process renamed its build into place first: use that one
            shutil.rmtree(tmp, ignore_errors=True)
            found, why = _check(folder, expected, verify_crc=False)
            if found is None:
                raise StudioError(f"training input cache {folder}: could not be put in place ({why})") from None
            manifest = found
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return manifest
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _touch(folder: Path) -> None:
    """Mark the cache used now (the manifest's mtime, set to the nanosecond: a file system's own
    clock may tick in milliseconds, too coarse to order two uses in a row)."""
    now = time.time_ns()
    try:
        os.utime(folder / MANIFEST, ns=(now, now))
    except OSError:
        pass


def _prune(folder: Path, say: Callable[[str], None]) -> None:
    """Remove the caches of other versions of this dataset at this size beyond the
    :data:`KEEP_VERSIONS` most recently used (``folder`` counts as the newest)."""
    size = folder.name
    others = []
    for version_dir in folder.parent.parent.glob("v*"):
        candidate = version_dir / size
        if candidate == folder or not candidate.is_dir():
            continue
        try:
            others.append(((candidate / MANIFEST).stat().st_mtime_ns, candidate))
        except OSError:
            others.append((0, candidate))
    others.sort(reverse=True)
    for _, old in others[KEEP_VERSIONS - 1:]:
        shutil.rmtree(old, ignore_errors=True)
        say(f"training input cache: removed {old} (only the {KEEP_VERSIONS} most recently used versions are kept)")


def open_input_cache(dataset: str, version: int, samples: Sequence[Sample], size: int, ignore_index: int = 255, *,
                     root: Path | None = None, workers: int | None = None,
                     log_fn: Callable[[str], None] | None = None,
                     progress: Callable[[int, int], None] | None = None) -> InputCache:
    """The cache of ``samples`` (all of version ``version`` of ``dataset``) at ``size``: opened
    when it is there and current, else built (or rebuilt: stale, corrupt), with ``workers``
    decoding threads (default: the CPU count, at most 16). ``log_fn`` gets one line saying
    which it was and why."""
    folder = cache_dir(dataset, version, size, root)
    expected = fingerprint(samples, size, ignore_index)
    say = log_fn or log.info
    with _VERIFIED_LOCK:
        lock = _BUILD_LOCKS.setdefault(str(folder), threading.Lock())
    with lock:  # one build per folder in this process; other processes: see _build
        manifest, why = _check(folder, expected, verify_crc=True)
        if manifest is not None:
            _touch(folder)
            cache = InputCache(folder, manifest)
            cache.note = f"training input cache: {len(samples)} images at {size}² from {folder}"
            say(cache.note)
            return cache
        started = time.perf_counter()
        count = workers if workers is not None else min(16, os.cpu_count() or 1)
        manifest = _build(folder, samples, size, ignore_index, expected, count, progress)
        seconds = time.perf_counter() - started
        _touch(folder)
        _prune(folder, say)
        with _VERIFIED_LOCK:
            _VERIFIED.add(_verified_key(folder, expected))
        cache = InputCache(folder, manifest, built_seconds=seconds)
        cache.note = (f"training input cache: built {len(samples)} images at {size}² in {seconds:.1f} s "
                      f"({len(samples) / max(seconds, 1e-9):.0f} img/s, {count} threads, {cache.nbytes / 1e6:.0f} MB)"
                      f" because {why}; {folder}")
        say(cache.note)
        return cache


__all__ = ["CACHE_FORMAT", "InputCache", "cache_dir", "cache_root", "fingerprint", "open_input_cache"]
