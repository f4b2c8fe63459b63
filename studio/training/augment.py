"""Training augmentation: the config's ``augment`` dict as an albumentations pipeline (run in the
loader workers) and, on a CUDA run, the photometric part (flips, colour jitter) as tensor ops on
the GPU: per-sample parameters drawn from the sample's seed (:class:`Photometric`), applied to a
whole batch (:func:`apply_photometric`). Used by studio.training.data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch

GEOMETRIC = ("scale", "rotate")  # augment keys albumentations always applies in the loader workers
PHOTOMETRIC = ("hflip", "vflip", "color_jitter")  # on a CUDA run: tensor ops on the GPU (see Photometric)


def build_augment(augment: dict[str, float], ignore_index: int):  # noqa: ANN201 (albumentations type)
    """albumentations pipeline from the config's ``augment`` dict (None when empty)."""
    import albumentations as A

    steps = []
    if augment.get("scale"):
        steps.append(A.Affine(scale=(float(augment["scale"]), 1.0), border_mode=cv2.BORDER_CONSTANT, fill=0,
                              fill_mask=ignore_index, p=0.5))
    if augment.get("hflip"):
        steps.append(A.HorizontalFlip(p=float(augment["hflip"])))
    if augment.get("vflip"):
        steps.append(A.VerticalFlip(p=float(augment["vflip"])))
    if augment.get("rotate"):
        steps.append(A.Rotate(limit=float(augment["rotate"]), border_mode=cv2.BORDER_CONSTANT, fill=0,
                              fill_mask=ignore_index, p=0.5))
    if augment.get("color_jitter"):
        s = float(augment["color_jitter"])
        steps.append(A.ColorJitter(brightness=s, contrast=s, saturation=s, hue=min(s / 4, 0.5), p=0.8))
    return A.Compose(steps, seed=0) if steps else None


# RGB <-> YIQ: a hue shift is a rotation of the (I, Q) chroma plane
_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ_INV = torch.linalg.inv(_YIQ)
_GRAY = (0.299, 0.587, 0.114)
N_PARAMS = 6  # hflip, vflip, brightness, contrast, saturation, hue (turns)


@dataclass(frozen=True)
class Photometric:
    """Flips and colour jitter of a CUDA run: per-sample parameters drawn in the loader worker
    from the sample's seed (six numbers), applied by :func:`apply_photometric` to the batch on
    the GPU. A CPU run keeps albumentations' flips and ColorJitter in its workers: on a CPU they
    are faster than these tensor ops (512², one core: ColorJitter 2.1 ms, this 8.8 ms). The
    same distribution as ColorJitter: with probability ``jitter_p`` brightness, contrast and
    saturation factors in [1 - s, 1 + s] and a hue shift in [-s/4, s/4] of a turn (here in
    that fixed order, values clamped to [0, 1] after each)."""

    hflip: float = 0.0  # probability
    vflip: float = 0.0
    jitter: float = 0.0  # strength s
    jitter_p: float = 0.8

    @staticmethod
    def from_augment(augment: dict[str, float]) -> Photometric | None:
        out = Photometric(float(augment.get("hflip", 0) or 0), float(augment.get("vflip", 0) or 0),
                          float(augment.get("color_jitter", 0) or 0))
        return out if (out.hflip or out.vflip or out.jitter) else None

    def draw(self, seed: int) -> np.ndarray:
        """(N_PARAMS,) float32 for one sample (identity: 0, 0, 1, 1, 1, 0)."""
        rng = np.random.default_rng([seed, 7])
        u = rng.random(6)
        params = np.array([u[0] < self.hflip, u[1] < self.vflip, 1, 1, 1, 0], np.float32)
        if self.jitter and u[2] < self.jitter_p:
            s, h = self.jitter, min(self.jitter / 4, 0.5)
            params[2:5] = rng.uniform(max(0.0, 1 - s), 1 + s, 3)
            params[5] = rng.uniform(-h, h)
        return params


def apply_photometric(x: torch.Tensor, y: torch.Tensor | None, params: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """x (B, 3, H, W) float in [0, 1], y (B, H, W) labels or None, params (B, N_PARAMS) ->
    flipped and colour-jittered (x, y) (see :class:`Photometric`). ``params`` may stay on the
    host: which steps a batch needs is decided there (no wait for the GPU), the values go over."""
    host = params.detach().float().cpu()
    params = params.to(device=x.device, dtype=torch.float32, non_blocking=True)
    for column, dim in ((0, -1), (1, -2)):
        if bool((host[:, column] > 0.5).any()):
            flip = params[:, column] > 0.5
            x = torch.where(flip[:, None, None, None], x.flip(dim), x)
            if y is not None and y.ndim == 3:
                y = torch.where(flip[:, None, None], y.flip(dim), y)
    jitter = params[:, 2:6]
    if bool((host[:, 2:6] != torch.tensor([1.0, 1.0, 1.0, 0.0])).any()):
        gray_w = torch.tensor(_GRAY, device=x.device, dtype=x.dtype)[None, :, None, None]
        x = (x * jitter[:, 0, None, None, None]).clamp(0, 1)
        mean = (x * gray_w).sum(1, keepdim=True).mean((2, 3), keepdim=True)
        x = ((x - mean) * jitter[:, 1, None, None, None] + mean).clamp(0, 1)
        gray = (x * gray_w).sum(1, keepdim=True)
        x = ((x - gray) * jitter[:, 2, None, None, None] + gray).clamp(0, 1)
        angle = jitter[:, 3] * (2 * math.pi)
        cos, sin = torch.cos(angle), torch.sin(angle)
        rotation = torch.zeros(len(angle), 3, 3, device=x.device)
        rotation[:, 0, 0] = 1
        rotation[:, 1, 1], rotation[:, 1, 2], rotation[:, 2, 1], rotation[:, 2, 2] = cos, -sin, sin, cos
        matrix = _YIQ_INV.to(x.device) @ rotation @ _YIQ.to(x.device)  # (B, 3, 3)
        x = torch.einsum("bij,bjhw->bihw", matrix.to(x.dtype), x).clamp(0, 1)
    return x, y
