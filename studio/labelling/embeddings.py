"""Image embeddings as the labelling workbench serves them: checked before use (a cached
entry of the wrong shape or image size is dropped and computed again), and SAM's features
packed for the browser decoder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studio.errors import InvalidInput
from studio.segment.base import Embedding, Segmenter

SAM_FEATURES = (1, 256, 64, 64)  # the image encoder's output, what the browser decoder takes


@dataclass(frozen=True)
class EmbeddingPayload:
    """``GET embedding``'s body and headers: SAM features (1, 256, 64, 64) as little-endian
    float16 bytes (2 MiB); input_size (h, w) of the image resized to longest side 1024
    (before padding); image_size (H, W)."""

    data: bytes
    input_size: tuple[int, int]
    image_size: tuple[int, int]
    segmenter_id: str


def embedding_problem(segmenter: Segmenter, embedding: Embedding, image_size: tuple[int, int]) -> str | None:
    """Why an embedding (from the cache) cannot serve an image of ``image_size`` (H, W), or None."""
    if embedding.image_size != image_size:
        return f"computed for a {embedding.image_size} image, expected {image_size}"
    if segmenter.kind != "sam":
        return None
    features, size = embedding.arrays.get("features"), embedding.arrays.get("input_size")
    if features is None or tuple(features.shape) != SAM_FEATURES or size is None or size.shape != (2,):
        return (f"expected features {SAM_FEATURES} and input_size (2,), got "
                f"{None if features is None else tuple(features.shape)} and {None if size is None else size.shape}")
    if not np.isfinite(features).all():
        return "features hold NaN or infinite values"
    return None


def checked_embedding(segmenter: Segmenter, content_hash: str, path: Path, image_size: tuple[int, int]) -> Embedding:
    """The embedding of the image at ``path`` through the process-wide cache (computed when
    missing: ~20 s for SAM on a CPU); an unusable cached entry is discarded and computed
    again; InvalidInput if even a fresh one is unusable."""
    from studio.segment.cache import get_cache
    from studio.segment.registry import embedding_for

    embedding, _ = embedding_for(segmenter, content_hash, path)
    if embedding_problem(segmenter, embedding, image_size) is None:
        return embedding
    get_cache().discard(segmenter.id, content_hash)
    embedding, _ = embedding_for(segmenter, content_hash, path)
    problem = embedding_problem(segmenter, embedding, image_size)
    if problem is not None:
        raise InvalidInput(f"embedding of {path.name} by {segmenter.id}: {problem}")
    return embedding


def browser_payload(segmenter_id: str, embedding: Embedding) -> EmbeddingPayload:
    """SAM's features as little-endian float16 bytes with the sizes the browser needs."""
    features = np.ascontiguousarray(embedding.arrays["features"], dtype="<f2")
    size = embedding.arrays["input_size"]
    return EmbeddingPayload(features.tobytes(), (int(size[0]), int(size[1])), embedding.image_size, segmenter_id)
