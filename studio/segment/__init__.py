"""Promptable segmenters (SAM, an OpenCV fallback) behind one interface, and their
embedding cache. See ``studio.segment.base`` for the interface and shapes.

Importing this package is cheap (no torch): ``SamSegmenter`` and the other names are
loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from studio.segment.base import Embedding, Prediction, Prompt, Segmenter

if TYPE_CHECKING:
    from studio.segment.cache import CacheInfo, EmbeddingCache, get_cache
    from studio.segment.fallback import FallbackSegmenter
    from studio.segment.prefetch import Prefetcher, get_prefetcher
    from studio.segment.registry import SegmenterChoice, choose_segmenter, embedding_for, get_segmenter
    from studio.segment.sam import SamSegmenter

_LAZY = {
    "CacheInfo": "studio.segment.cache",
    "EmbeddingCache": "studio.segment.cache",
    "get_cache": "studio.segment.cache",
    "FallbackSegmenter": "studio.segment.fallback",
    "Prefetcher": "studio.segment.prefetch",
    "get_prefetcher": "studio.segment.prefetch",
    "SegmenterChoice": "studio.segment.registry",
    "choose_segmenter": "studio.segment.registry",
    "embedding_for": "studio.segment.registry",
    "get_segmenter": "studio.segment.registry",
    "SamSegmenter": "studio.segment.sam",
}

__all__ = ["CacheInfo", "Embedding", "EmbeddingCache", "FallbackSegmenter", "Prediction", "Prefetcher", "Prompt",
           "SamSegmenter", "Segmenter", "SegmenterChoice", "choose_segmenter", "embedding_for", "get_cache",
           "get_prefetcher", "get_segmenter"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'studio.segment' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
