"""Test masks shared by tests/test_masks.py and tests/test_polygons.py (HxW uint8 / bool)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest


def blobs(seed: int, h: int = 40, w: int = 45, smooth: bool = False) -> np.ndarray:
    """A random mask with many parts, holes and islands in holes."""
    rng = np.random.default_rng(seed)
    mask = (rng.random((h, w)) < 0.35).astype(np.uint8)
    return cv2.medianBlur(mask * 255, 3) // 255 if smooth else mask


def donut(h: int = 30, w: int = 32) -> np.ndarray:
    """A square ring: outer 20x20, hole 8x8 in the middle."""
    mask = np.zeros((h, w), np.uint8)
    mask[5:25, 6:26] = 1
    mask[11:19, 12:20] = 0
    return mask


MASKS = [
    pytest.param(np.zeros((7, 9), np.uint8), id="empty"),  # no foreground at all
    pytest.param(np.ones((7, 9), np.uint8), id="full"),  # foreground touching every border
    pytest.param(np.pad(np.ones((1, 1), np.uint8), ((3, 2), (4, 1))), id="one-pixel"),  # smallest object
    pytest.param(donut(), id="donut"),  # one hole
    pytest.param(blobs(0), id="noise"),  # many parts, holes, diagonal touches
    pytest.param(blobs(1, 120, 150, smooth=True), id="smooth-blobs"),  # larger, realistic shapes
    pytest.param(np.eye(12, dtype=bool), id="bool-diagonal"),  # bool input, 8-connected line
]
