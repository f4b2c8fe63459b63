"""Fixtures of the segment tests: SAM vit_b with random weights (built once per session) and
ONE shared embedding of a small image (the encoder always runs at 1024x1024: ~20 s on a CPU),
a fake segmenter for cache tests. (``studio_env`` and ``start_worker`` come from tests/conftest.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from studio.segment.base import Embedding, Prediction, Prompt, Segmenter

SMALL = (48, 64)  # (H, W) of the image SAM embeds once per session


def small_image() -> np.ndarray:
    """(48, 64, 3) uint8: a bright square on a dark gradient (something for SAM to find)."""
    h, w = SMALL
    image = np.zeros((h, w, 3), np.uint8)
    image[..., 0] = np.linspace(20, 80, w, dtype=np.uint8)[None, :]
    image[12:36, 20:44] = (230, 200, 40)
    return image


@pytest.fixture(scope="session")
def sam() -> Iterator[Segmenter]:
    from studio.segment.sam import SamSegmenter, clear_models

    yield SamSegmenter("vit_b", None, device="cpu")
    clear_models()


@pytest.fixture(scope="session")
def sam_embedding(sam: Segmenter) -> Embedding:
    return sam.set_image(small_image())


@dataclass
class FakeSegmenter(Segmenter):
    """Cheap embeddings for cache tests: "features" float32 (1, 8, 16, 16), "input_size" int32."""

    id: str = "fake-v1"
    name: str = "fake"
    kind: str = "fallback"
    calls: list[tuple[int, ...]] = field(default_factory=list)

    def compute_embedding(self, image: np.ndarray) -> Embedding:
        self.calls.append(image.shape)
        rng = np.random.default_rng(int(image.sum()) % 1000)
        return Embedding(self.id, image.shape[:2], {"features": rng.normal(0, 3, (1, 8, 16, 16)).astype(np.float32),
                                                   "input_size": np.array(image.shape[:2], np.int32)})

    def predict(self, embedding: Embedding, prompt: Prompt, multimask: bool = True) -> Prediction:
        raise NotImplementedError


@pytest.fixture
def fake() -> FakeSegmenter:
    return FakeSegmenter()


def write_png(path: Path, image: np.ndarray) -> Path:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image[..., ::-1])
    return path
