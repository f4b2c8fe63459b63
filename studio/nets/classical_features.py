"""The classical classifier's features (studio.nets.classical): vectorised over a batch, chunks
in a thread pool (numpy releases the GIL).

Every image is resized to ``image_size`` squared (OpenCV, area interpolation;
the aspect is not kept), then

- HOG on the grey image: 9 unsigned orientation bins (0-180 degrees), 8x8-pixel cells, 2x2-cell
  blocks with stride one cell, L2-Hys block normalisation (clip at 0.2), central-difference
  gradients (zero on the border), magnitude-weighted hard binning;
- the histogram of uniform LBP codes of the 8 neighbours at radius 1 (10 bins: 0..8 ones in a
  pattern with at most two 0/1 transitions, 9 for the rest; edge pixels replicated);
- HSV histograms per channel (hue 12, saturation 8, value 8 bins).

Histograms are normalised to sum 1. 64x64 gives 7 x 7 x 36 + 10 + 28 = 1,802 features.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from studio.errors import InvalidInput

FEATURES = "hog9-c8-b2-l2hys+lbp8u-r1+hsv12-8-8"  # names the feature recipe a saved model was fitted on
_HUE_BINS, _SAT_BINS, _VAL_BINS = 12, 8, 8
_LBP_BINS = 10
_CELL, _ORIENTATIONS = 8, 9
_CHUNK = 128  # images per vectorised feature batch


def feature_count(image_size: int) -> int:
    """Features per image at ``image_size``: HOG blocks x 36, LBP 10, HSV 28."""
    cells = image_size // _CELL
    return (cells - 1) ** 2 * 4 * _ORIENTATIONS + _LBP_BINS + _HUE_BINS + _SAT_BINS + _VAL_BINS


def checked_image_size(image_size: Any) -> int:
    """``image_size`` as an int; InvalidInput unless a multiple of 16 >= 16."""
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 16 \
            or image_size % 16:
        raise InvalidInput(f"image_size: expected a multiple of 16 >= 16 for classical features, got {image_size!r}")
    return int(image_size)


def check_images(images: Any) -> None:
    """InvalidInput unless ``images`` is a non-empty list of (H, W, 3) uint8 RGB arrays of at least 2x2."""
    if not isinstance(images, (list, tuple)) or not images:
        raise InvalidInput(f"images: expected a non-empty list of (H, W, 3) uint8 RGB arrays, got {type(images).__name__}")
    for i, image in enumerate(images):
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InvalidInput(f"images[{i}]: expected (H, W, 3) uint8 RGB, got shape {getattr(image, 'shape', None)} "
                               f"dtype {getattr(image, 'dtype', type(image).__name__)}")
        if min(image.shape[:2]) < 2:
            raise InvalidInput(f"images[{i}]: expected at least 2x2 pixels, got {image.shape[1]}x{image.shape[0]}")


def resized(images: list[np.ndarray], size: int) -> np.ndarray:
    """(N, size, size, 3) uint8: each image resized (area interpolation when shrinking)."""
    import cv2

    out = np.empty((len(images), size, size, 3), np.uint8)
    for i, image in enumerate(images):
        if image.shape[:2] == (size, size):
            out[i] = image
        else:
            shrink = image.shape[0] > size or image.shape[1] > size
            out[i] = cv2.resize(np.ascontiguousarray(image), (size, size),
                                interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return out


def _hog(gray: np.ndarray) -> np.ndarray:
    """(N, S, S) float32 grey in [0, 1] -> (N, (S/8 - 1)^2 * 36) float32 HOG (see the module docstring)."""
    n, size, _ = gray.shape
    gx = np.zeros_like(gray)
    gy = np.zeros_like(gray)
    gx[:, :, 1:-1] = gray[:, :, 2:] - gray[:, :, :-2]
    gy[:, 1:-1, :] = gray[:, 2:, :] - gray[:, :-2, :]
    magnitude = np.hypot(gx, gy)
    angle = np.rad2deg(np.arctan2(gy, gx)) % 180.0
    bins = np.minimum((angle * (_ORIENTATIONS / 180.0)).astype(np.int64), _ORIENTATIONS - 1)
    cells = size // _CELL
    cell_of = np.arange(size) // _CELL
    index = ((np.arange(n)[:, None, None] * cells + cell_of[None, :, None]) * cells + cell_of[None, None, :]) \
        * _ORIENTATIONS + bins
    hist = np.bincount(index.ravel(), weights=magnitude.ravel(), minlength=n * cells * cells * _ORIENTATIONS)
    hist = (hist / (_CELL * _CELL)).reshape(n, cells, cells, _ORIENTATIONS).astype(np.float32)
    blocks = np.concatenate([hist[:, :-1, :-1], hist[:, :-1, 1:], hist[:, 1:, :-1], hist[:, 1:, 1:]], axis=-1)
    eps = 1e-5
    blocks = blocks / np.sqrt((blocks ** 2).sum(-1, keepdims=True) + eps ** 2)
    blocks = np.minimum(blocks, 0.2)
    blocks = blocks / np.sqrt((blocks ** 2).sum(-1, keepdims=True) + eps ** 2)
    return blocks.reshape(n, -1)


_NEIGHBOURS = ((0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1))  # circular order


def _lbp(gray: np.ndarray) -> np.ndarray:
    """(N, S, S) uint8 grey -> (N, 10) float32 histogram of uniform LBP codes, summing to 1."""
    n, size, _ = gray.shape
    padded = np.pad(gray, ((0, 0), (1, 1), (1, 1)), mode="edge")
    bits = np.stack([padded[:, 1 + dy: 1 + dy + size, 1 + dx: 1 + dx + size] >= gray for dy, dx in _NEIGHBOURS])
    ones = bits.sum(0)
    transitions = (bits != np.roll(bits, 1, axis=0)).sum(0)
    codes = np.where(transitions <= 2, ones, _LBP_BINS - 1)
    index = (np.arange(n)[:, None, None] * _LBP_BINS + codes).ravel()
    hist = np.bincount(index, minlength=n * _LBP_BINS).reshape(n, _LBP_BINS).astype(np.float32)
    return hist / (size * size)


def _hsv_hist(rgb: np.ndarray) -> np.ndarray:
    """(N, S, S, 3) float32 RGB in [0, 1] -> (N, 28) float32: hue, saturation, value histograms (each sums to 1)."""
    n = rgb.shape[0]
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    value = rgb.max(-1)
    delta = value - rgb.min(-1)
    saturation = np.where(value > 0, delta / np.maximum(value, 1e-12), 0.0)
    safe = np.maximum(delta, 1e-12)
    hue = np.where(value == r, ((g - b) / safe) % 6.0, np.where(value == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0))
    hue = np.where(delta > 0, hue / 6.0, 0.0)
    out = []
    for channel, bins in ((hue, _HUE_BINS), (saturation, _SAT_BINS), (value, _VAL_BINS)):
        which = np.minimum((channel * bins).astype(np.int64), bins - 1).reshape(n, -1)
        index = (np.arange(n)[:, None] * bins + which).ravel()
        out.append(np.bincount(index, minlength=n * bins).reshape(n, bins) / which.shape[1])
    return np.concatenate(out, axis=1).astype(np.float32)


def _chunk_features(images: list[np.ndarray], size: int) -> np.ndarray:
    small = resized(images, size)
    rgb = small.astype(np.float32) / 255.0
    gray = rgb @ np.array([0.2125, 0.7154, 0.0721], np.float32)  # ITU-R 709 luma, as skimage's rgb2gray
    gray_u8 = np.clip(np.rint(gray * 255.0), 0, 255).astype(np.uint8)
    return np.concatenate([_hog(gray), _lbp(gray_u8), _hsv_hist(rgb)], axis=1)


def batch_features(images: list[np.ndarray], image_size: int = 64, *, workers: int | None = None,
                   progress: Any = None) -> np.ndarray:
    """list of (H, W, 3) uint8 RGB -> (N, F) float32 features (see the module docstring), computed in
    chunks of 128 images on a thread pool (``workers``: default the CPU count, at most 4).
    ``progress(done, total)`` is called after each chunk."""
    size = checked_image_size(image_size)
    check_images(images)
    chunks = [list(images[i: i + _CHUNK]) for i in range(0, len(images), _CHUNK)]
    workers = max(1, min(workers or min(4, os.cpu_count() or 1), len(chunks)))
    out: list[np.ndarray] = []
    if workers == 1:
        for chunk in chunks:
            out.append(_chunk_features(chunk, size))
            if progress:
                progress(sum(len(o) for o in out), len(images))
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for features in pool.map(lambda c: _chunk_features(c, size), chunks):
                out.append(features)
                if progress:
                    progress(sum(len(o) for o in out), len(images))
    return np.concatenate(out, axis=0)


def image_features(image: np.ndarray, image_size: int = 64) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (F,) float32 (one image of :func:`batch_features`)."""
    return batch_features([image], image_size, workers=1)[0]


__all__ = ["FEATURES", "batch_features", "check_images", "checked_image_size", "feature_count", "image_features", "resized"]
