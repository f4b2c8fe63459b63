"""The undoable prompt history of one object (the server-side mirror of the canvas's own).

``PromptSession`` holds what the annotator did to outline one object on one image (points,
boxes) and the segmenter's answer after each step, so undo and redo are instant (nothing is
recomputed) and each new click refines the previous answer (its logits go back in as
``mask_input``). The first prompt element gives 3 candidate masks to cycle through (a
single click is ambiguous: part, object, group); later steps give SAM's single refined mask.

The canvas keeps the same history in the browser (its first step asks for the 3 candidates,
later steps send the chosen candidate's logits back as ``mask_input``); ``PromptSession`` is
the reference it mirrors, used by tests, benchmarks and the server path's parity checks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from studio.segment.base import Embedding, Prediction, Prompt, Segmenter

MAX_HISTORY = 50  # prompt steps kept for undo (each holds its prediction)


@dataclass(frozen=True)
class PromptStep:
    """One annotator action: a point (positive or negative) or a box (XYXY image pixels)."""

    kind: Literal["point", "box"]
    x: float = 0.0
    y: float = 0.0
    positive: bool = True
    box: tuple[float, float, float, float] | None = None

    @staticmethod
    def point(x: float, y: float, positive: bool = True) -> PromptStep:
        return PromptStep("point", float(x), float(y), positive)

    @staticmethod
    def rectangle(x0: float, y0: float, x1: float, y1: float) -> PromptStep:
        """A box from two corners in any order."""
        return PromptStep("box", box=(float(min(x0, x1)), float(min(y0, y1)), float(max(x0, x1)), float(max(y0, y1))))


@dataclass
class PromptSession:
    """The prompt history of one object on one image (see the module docstring).

    image_size: (H, W); seed_logits: (1, 256, 256) of an annotation being refined, or None.
    """

    image_id: int
    image_size: tuple[int, int]
    editing_annotation_id: int | None = None
    seed_logits: np.ndarray | None = None
    history: list[tuple[PromptStep, Prediction]] = field(default_factory=list)
    redo_stack: list[tuple[PromptStep, Prediction]] = field(default_factory=list)
    candidate: int = 0  # position in the current prediction's score order
    started: float = field(default_factory=time.monotonic)

    # -- state ---------------------------------------------------------------------------
    @property
    def steps(self) -> list[PromptStep]:
        return [step for step, _ in self.history]

    @property
    def prediction(self) -> Prediction | None:
        return self.history[-1][1] if self.history else None

    @property
    def candidates(self) -> int:
        return len(self.prediction.masks) if self.prediction is not None else 0

    def _chosen(self) -> int | None:
        prediction = self.prediction
        return None if prediction is None else int(prediction.order[self.candidate % len(prediction.masks)])

    @property
    def mask(self) -> np.ndarray | None:
        """The current candidate mask (H, W) bool, or None before the first click."""
        index = self._chosen()
        return None if index is None else self.prediction.masks[index]  # type: ignore[union-attr]

    @property
    def score(self) -> float | None:
        index = self._chosen()
        return None if index is None else float(self.prediction.scores[index])  # type: ignore[union-attr]

    def seconds_spent(self) -> float:
        return time.monotonic() - self.started

    def prompt_with(self, step: PromptStep) -> Prompt:
        """The prompt for the history plus ``step``: every point, the latest box, and the
        current answer's logits (or the seed's) as ``mask_input``."""
        steps = [*self.steps, step]
        points = [(s.x, s.y) for s in steps if s.kind == "point"]
        labels = [int(s.positive) for s in steps if s.kind == "point"]
        boxes = [s.box for s in steps if s.kind == "box"]
        chosen = self._chosen()
        previous = self.prediction.best_logits(chosen) if chosen is not None else self.seed_logits  # type: ignore[union-attr]
        return Prompt.from_clicks(points, labels, box=boxes[-1] if boxes else None, mask_input=previous)

    # -- actions -------------------------------------------------------------------------
    def apply(self, segmenter: Segmenter, embedding: Embedding, step: PromptStep) -> Prediction:
        """Predict with ``step`` added; on success it joins the history (redo is cleared).
        InvalidInput (nothing changed) for a point outside the image or a zero-size box."""
        prompt = self.prompt_with(step)
        elements = len(prompt.points) + (prompt.box is not None)
        prediction = segmenter.predict(embedding, prompt, multimask=elements == 1 and self.seed_logits is None)
        self.history.append((step, prediction))
        del self.history[:-MAX_HISTORY]
        self.redo_stack.clear()
        self.candidate = 0
        return prediction

    def undo(self) -> bool:
        """Drop the last step (its answer is restored from history, not recomputed)."""
        if not self.history:
            return False
        self.redo_stack.append(self.history.pop())
        self.candidate = 0
        return True

    def redo(self) -> bool:
        if not self.redo_stack:
            return False
        self.history.append(self.redo_stack.pop())
        self.candidate = 0
        return True

    def clear(self) -> None:
        """Forget every step (undoable: they move to the redo stack in order)."""
        while self.undo():
            pass

    def cycle(self, delta: int = 1) -> int:
        """Show the next (or previous) candidate; the new position."""
        if self.candidates:
            self.candidate = (self.candidate + delta) % self.candidates
        return self.candidate
