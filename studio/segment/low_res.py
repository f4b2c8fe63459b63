"""SAM's low-resolution logit frame, and masks in and out of it.

The frame is (LOW_RES, LOW_RES) = (256, 256): an (H, W) image scaled so that its longest side
is 256 (``low_res_size``; SAM's ResizeLongestSide), padded bottom / right. SAM's mask decoder
outputs its logits there and takes a previous mask there (``mask_input``, shape (1, 256, 256)).

    seed_logits(mask)                  # (H, W) bool -> (1, 256, 256): an annotation seeds a refinement
    mask_to_logits(mask, 10, "area")   # (H, W) bool -> (256, 256): a synthetic prediction's logits
    logits_to_mask(logits, (H, W))     # (256, 256) -> (H, W) bool, logit > 0

``seed_logits`` is mirrored by the canvas (frontend/canvas/src/postprocess.ts maskToLogits).
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from studio.segment.base import LOW_RES

SEED_LOGIT = 8.0  # |logit| of a seed: confident, but a click can still overrule it


def low_res_size(h: int, w: int) -> tuple[int, int]:
    """(h, w) of an (H, W) image in the low-res frame (the rest of the 256 x 256 is padding)."""
    scale = LOW_RES / max(h, w)
    return max(int(h * scale + 0.5), 1), max(int(w * scale + 0.5), 1)


def mask_to_logits(mask: np.ndarray, value: float = SEED_LOGIT,
                   interpolation: Literal["nearest", "area"] = "nearest") -> np.ndarray:
    """(H, W) bool -> (256, 256) float32 logits: +value inside, -value outside (and in the
    padding). ``nearest`` samples the mask (what the canvas mirrors); ``area`` takes the
    majority of the pixels each low-res cell covers."""
    nh, nw = low_res_size(*mask.shape)
    if interpolation == "area":
        inside = cv2.resize(mask.astype(np.float32), (nw, nh), interpolation=cv2.INTER_AREA) >= 0.5
    else:
        inside = cv2.resize(mask.astype(np.uint8), (nw, nh), interpolation=cv2.INTER_NEAREST) > 0
    logits = np.full((LOW_RES, LOW_RES), -value, np.float32)
    logits[:nh, :nw] = np.where(inside, value, -value)
    return logits


def seed_logits(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool -> (1, 256, 256) float32 ``mask_input`` of a refinement of that mask."""
    return mask_to_logits(mask)[None]


def logits_to_mask(logits: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """(256, 256) logits in the low-res frame -> (H, W) bool mask (bilinear, logit > 0)."""
    h, w = image_size
    nh, nw = low_res_size(h, w)
    crop = np.ascontiguousarray(logits[:nh, :nw], dtype=np.float32)
    return cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR) > 0
