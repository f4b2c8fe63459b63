"""What a predictor returns, per task (shapes at the size of the image that was passed in)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from studio.errors import InvalidInput


@dataclass(frozen=True)
class SemanticOutput:
    """labels: (H, W) int64 class index per pixel (= output channel; 0 = background);
    probs: (C, H, W) float32 softmax probabilities when asked for (``with_probs=True``)."""

    labels: np.ndarray
    probs: np.ndarray | None = None


@dataclass(frozen=True)
class InstanceOutput:
    """N objects at the input image's size, best score first.

    masks: (N, H, W) bool; class_indices: (N,) int64 output index k (the model's ``classes[k]``);
    scores: (N,) float32; boxes: (N, 4) float32 XYXY pixels; label_values: the class-index value
    of output k (``classes[k]["index"]``) that ``to_semantic`` paints (default k + 1).
    """

    masks: np.ndarray
    class_indices: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray
    label_values: tuple[int, ...] = ()

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def to_semantic(self, height: int | None = None, width: int | None = None, min_score: float = 0.0) -> np.ndarray:
        """(H, W) int64 class-index map: 0 = background, each object painted with its class's
        value, lower scores first so the best object wins where masks overlap. (H, W) other
        than the masks' size resizes nearest-neighbour."""
        h, w = self.masks.shape[1:] if self.masks.ndim == 3 else (height, width)
        if h is None or w is None:
            raise InvalidInput("to_semantic: expected (height, width) for an output without masks")
        out = np.zeros((int(h), int(w)), np.int64)
        for k in np.argsort(self.scores, kind="stable"):
            if self.scores[k] < min_score:
                continue
            index = int(self.class_indices[k])
            out[self.masks[k]] = self.label_values[index] if index < len(self.label_values) else index + 1
        if height is not None and width is not None and (height, width) != (h, w):
            from studio.evaluation.metrics import resize_prediction

            out = resize_prediction(out, (int(height), int(width)))
        return out


@dataclass(frozen=True)
class ClassOutput:
    """probs: (C,) float32 softmax over the model's classes; top: up to 5 (name, p), best first."""

    probs: np.ndarray
    top: list[tuple[str, float]] = field(default_factory=list)

    @property
    def index(self) -> int:
        return int(np.argmax(self.probs))

    @property
    def name(self) -> str:
        return self.top[0][0] if self.top else str(self.index)


Output = SemanticOutput | InstanceOutput | ClassOutput | dict[str, np.ndarray]
