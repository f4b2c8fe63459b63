"""One interface for promptable segmenters (SAM, the OpenCV fallback).

Usage (shapes and formats)::

    segmenter = get_segmenter()                      # studio.segment: loaded once per process
    embedding = segmenter.set_image(image)           # image: (H, W, 3) uint8 RGB
    prediction = segmenter.predict(embedding, Prompt.from_clicks([(120, 80)], [1]))
    prediction.masks    # (K, H, W) bool; K = 3 with multimask=True, else 1
    prediction.scores   # (K,) float32, the model's own quality estimate (higher is better)
    prediction.logits   # (K, 256, 256) float32 low-resolution logits
    refined = segmenter.predict(embedding, Prompt.from_clicks([(120, 80), (150, 90)], [1, 0],
                                mask_input=prediction.best_logits()))

``set_image`` is the slow step (SAM's image encoder); ``predict`` is meant to run per click.
Many images at once: ``compute_embeddings(images)`` (one batch through SAM's encoder), or the
two halves a pipeline spreads over threads: ``prepare(image)`` (CPU work: checks, resizing;
thread-safe) and ``embed_prepared(prepared)`` (the encoder). Embeddings can be cached (``studio.segment.cache``): ``Segmenter.id`` names the model *and*
its weights, so an embedding is never served to a segmenter it was not computed by.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from studio.errors import InvalidInput

LOW_RES = 256  # side of the low-resolution logits (SAM's mask decoder output)
SegmenterKind = Literal["sam", "fallback"]  # also the Annotation.source of what it produced


@dataclass(frozen=True)
class Prompt:
    """What the annotator gave: points, at most one box, and optionally the previous logits.

    points: (N, 2) float32, XY in image pixels (x to the right, y down); N may be 0
    labels: (N,) int32, 1 = positive (object here), 0 = negative (not the object)
    box: (4,) float32 XYXY in image pixels, or None
    mask_input: (1, 256, 256) float32 logits of a previous prediction (refinement), or None
    """

    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))
    labels: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int32))
    box: np.ndarray | None = None
    mask_input: np.ndarray | None = None

    @staticmethod
    def from_clicks(points: list[tuple[float, float]] | np.ndarray, labels: list[int] | np.ndarray,
                    box: tuple[float, float, float, float] | np.ndarray | None = None,
                    mask_input: np.ndarray | None = None) -> Prompt:
        """A prompt from plain Python values (converted to the documented dtypes)."""
        return Prompt(
            points=np.asarray(points, dtype=np.float32).reshape(-1, 2),
            labels=np.asarray(labels, dtype=np.int32).reshape(-1),
            box=None if box is None else np.asarray(box, dtype=np.float32).reshape(4),
            mask_input=None if mask_input is None else np.asarray(mask_input, dtype=np.float32),
        )

    @property
    def is_empty(self) -> bool:
        return len(self.points) == 0 and self.box is None

    def validate(self, height: int, width: int) -> None:
        """InvalidInput (naming expected vs actual) unless the prompt fits an HxW image."""
        if self.points.ndim != 2 or self.points.shape[1] != 2:
            raise InvalidInput(f"prompt points: expected shape (N, 2) XY, got {self.points.shape}")
        if self.labels.shape != (len(self.points),):
            raise InvalidInput(f"prompt labels: expected shape ({len(self.points)},) to match the points, "
                               f"got {self.labels.shape}")
        if len(self.labels) and not np.isin(self.labels, (0, 1)).all():
            raise InvalidInput(f"prompt labels: expected 1 (positive) or 0 (negative), got {sorted(set(self.labels.tolist()))}")
        if self.is_empty:
            raise InvalidInput("empty prompt: expected at least one point or a box")
        if len(self.points):
            x, y = self.points[:, 0], self.points[:, 1]
            outside = (x < 0) | (y < 0) | (x > width - 1) | (y > height - 1) | ~np.isfinite(self.points).all(1)
            if outside.any():
                bad = self.points[outside][0].tolist()
                raise InvalidInput(f"point {bad} is outside the image: expected 0 <= x <= {width - 1}, "
                                   f"0 <= y <= {height - 1}")
        if self.box is not None:
            x0, y0, x1, y1 = self.box.tolist()
            if not np.isfinite(self.box).all() or x1 - x0 < 1 or y1 - y0 < 1:
                raise InvalidInput(f"box {[round(v, 1) for v in (x0, y0, x1, y1)]}: expected XYXY with "
                                   "x1 > x0 and y1 > y0 (at least 1 pixel wide and high)")
            if x1 < 0 or y1 < 0 or x0 > width - 1 or y0 > height - 1:
                raise InvalidInput(f"box {[round(v, 1) for v in (x0, y0, x1, y1)]} lies outside the "
                                   f"{width}x{height} image")
        if self.mask_input is not None and self.mask_input.shape != (1, LOW_RES, LOW_RES):
            raise InvalidInput(f"mask_input: expected shape (1, {LOW_RES}, {LOW_RES}) logits, "
                               f"got {self.mask_input.shape}")

    def clipped_box(self, height: int, width: int) -> np.ndarray | None:
        """The box clipped to the image (a drag may end outside it), or None."""
        if self.box is None:
            return None
        return np.clip(self.box, 0, [width - 1, height - 1, width - 1, height - 1]).astype(np.float32)


@dataclass(frozen=True)
class Embedding:
    """What ``set_image`` computed for one image; opaque to callers, cacheable.

    segmenter_id: the ``Segmenter.id`` that computed it
    image_size: (H, W) of the original image
    arrays: named arrays (SAM: "features" (1, 256, 64, 64)); stored compact (fp16) by the cache
    """

    segmenter_id: str
    image_size: tuple[int, int]
    arrays: dict[str, np.ndarray]

    @property
    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in self.arrays.values()))


@dataclass(frozen=True)
class Prediction:
    """Candidate masks for one prompt, best first is *not* implied: use ``order``.

    masks: (K, H, W) bool; scores: (K,) float32; logits: (K, 256, 256) float32
    """

    masks: np.ndarray
    scores: np.ndarray
    logits: np.ndarray

    def __post_init__(self) -> None:
        k = len(self.masks)
        if self.masks.ndim != 3 or self.scores.shape != (k,) or self.logits.shape != (k, LOW_RES, LOW_RES):
            raise ValueError(f"prediction shapes: expected masks (K, H, W), scores (K,), logits (K, {LOW_RES}, "
                             f"{LOW_RES}); got {self.masks.shape}, {self.scores.shape}, {self.logits.shape}")

    @property
    def order(self) -> np.ndarray:
        """Candidate indices, best score first."""
        return np.argsort(-self.scores, kind="stable")

    def best_logits(self, index: int | None = None) -> np.ndarray:
        """(1, 256, 256) logits of candidate ``index`` (default: the best) to feed back as mask_input."""
        i = int(self.order[0]) if index is None else index
        return self.logits[i][None].astype(np.float32)


@dataclass(frozen=True)
class PreparedImage:
    """An image made ready for a segmenter's encoder by ``Segmenter.prepare``.

    pixels: what the encoder step takes (SAM: (h, w, 3) uint8 RGB resized to longest side
        1024; others: the image itself)
    image_size: (H, W) of the original image
    """

    pixels: np.ndarray
    image_size: tuple[int, int]


class Segmenter(abc.ABC):
    """A promptable segmenter. Subclasses set ``id``, ``name`` and ``kind``."""

    id: str  # stable: model + weights (e.g. "sam-vit_b-01ec64d29a2f"); part of the embedding cache key
    name: str  # for people: "SAM vit_b (CPU)", "Fallback: GrabCut (no SAM checkpoint found)"
    kind: SegmenterKind
    batch_size: int = 1  # images per embed_prepared call that pay off (SAM on CUDA: 8; a CPU gains ~8 % CPU time)

    @abc.abstractmethod
    def compute_embedding(self, image: np.ndarray) -> Embedding:
        """The slow step, uncached: image (H, W, 3) uint8 RGB -> Embedding."""

    @abc.abstractmethod
    def predict(self, embedding: Embedding, prompt: Prompt, multimask: bool = True) -> Prediction:
        """Masks for ``prompt`` on the image ``embedding`` was computed from (3 candidates with
        ``multimask``, else 1). InvalidInput for a prompt that does not fit the image, or an
        embedding computed by another segmenter."""

    def set_image(self, image: np.ndarray) -> Embedding:
        """Checked ``compute_embedding`` (callers that can use the cache go through it)."""
        check_image(image)
        return self.compute_embedding(image)

    def prepare(self, image: np.ndarray) -> PreparedImage:
        """The CPU half of an embedding (checks; SAM: the resize), safe to call from many
        threads: image (H, W, 3) uint8 RGB -> PreparedImage."""
        check_image(image)
        return PreparedImage(image, (int(image.shape[0]), int(image.shape[1])))

    def embed_prepared(self, prepared: Sequence[PreparedImage], pad_to: int | None = None) -> list[Embedding]:
        """The encoder half: one Embedding per prepared image, in order. ``pad_to``: a batch
        size to pad a short batch to where that saves work (a compiled encoder keeps one graph
        per batch size); ignored here."""
        return [self.compute_embedding(p.pixels) for p in prepared]

    def compute_embeddings(self, images: Sequence[np.ndarray], pad_to: int | None = None) -> list[Embedding]:
        """``compute_embedding`` of each image, as one batch where the segmenter can (SAM)."""
        return self.embed_prepared([self.prepare(image) for image in images], pad_to)

    def _check(self, embedding: Embedding, prompt: Prompt) -> None:
        if embedding.segmenter_id != self.id:
            raise InvalidInput(f"embedding was computed by {embedding.segmenter_id!r}, not by {self.id!r}; "
                               "call set_image with this segmenter first")
        prompt.validate(*embedding.image_size)


def check_image(image: np.ndarray) -> None:
    """InvalidInput unless ``image`` is (H, W, 3) uint8."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise InvalidInput(f"image: expected (H, W, 3) uint8 RGB, got shape {shape} dtype {dtype}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise InvalidInput(f"image: expected at least 2x2 pixels, got {image.shape[1]}x{image.shape[0]}")
