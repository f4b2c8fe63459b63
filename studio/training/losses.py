"""Losses by name: cross-entropy, focal, dice, compound (CE + dice); class weights and the
ignore index everywhere.

Shapes: segmentation logits (B, C, H, W) with targets (B, H, W) int64; classification
logits (B, C) with targets (B,) int64. Targets equal to ``ignore_index`` contribute nothing.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from studio.errors import InvalidInput


class FocalLoss(nn.Module):
    """Focal loss (Lin et al. 2017): mean over valid targets of -w_t (1 - p_t)^gamma log p_t."""

    def __init__(self, gamma: float = 2.0, weight: torch.Tensor | None = None, ignore_index: int = 255) -> None:
        super().__init__()
        self.gamma, self.ignore_index = gamma, ignore_index
        self.register_buffer("weight", weight if weight is not None else None, persistent=False)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(logits.float(), dim=1)
        valid = target != self.ignore_index
        safe = torch.where(valid, target, torch.zeros_like(target))
        log_pt = log_p.gather(1, safe.unsqueeze(1)).squeeze(1)
        loss = -((1 - log_pt.exp()) ** self.gamma) * log_pt
        if self.weight is not None:
            loss = loss * self.weight[safe]
        valid_f = valid.float()
        return (loss * valid_f).sum() / valid_f.sum().clamp_min(1.0)


class DiceLoss(nn.Module):
    """Soft multiclass dice: 1 - mean over classes present in the batch's ground truth of
    (2 sum(p g) + eps) / (sum(p) + sum(g) + eps); ignore pixels excluded (as smp's DiceLoss:
    a wrongly predicted absent class still costs, through the recall of the true class)."""

    def __init__(self, ignore_index: int = 255, eps: float = 1.0, weight: torch.Tensor | None = None) -> None:
        super().__init__()
        self.ignore_index, self.eps = ignore_index, eps
        self.register_buffer("weight", weight if weight is not None else None, persistent=False)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if logits.dim() != 4:
            raise InvalidInput(f"dice loss: expected segmentation logits (B, C, H, W), got {tuple(logits.shape)}")
        num_classes = logits.shape[1]
        probs = logits.float().softmax(1)
        valid = (target != self.ignore_index).unsqueeze(1).float()
        onehot = F.one_hot(torch.where(target == self.ignore_index, 0, target), num_classes).permute(0, 3, 1, 2).float()
        probs, onehot = probs * valid, onehot * valid
        dims = (0, 2, 3)
        intersection = (probs * onehot).sum(dims)
        cardinality = probs.sum(dims) + onehot.sum(dims)
        dice = (2 * intersection + self.eps) / (cardinality + self.eps)
        present = onehot.sum(dims) > 0
        weights = present.float() * (self.weight if self.weight is not None else 1.0)
        return 1 - (dice * weights).sum() / weights.sum().clamp_min(1e-6)


class CompoundLoss(nn.Module):
    """Cross-entropy + dice (each weighted 1)."""

    def __init__(self, ce: nn.Module, dice: nn.Module) -> None:
        super().__init__()
        self.ce, self.dice = ce, dice

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.ce(logits, target) + self.dice(logits, target)


def auto_class_weights(counts: np.ndarray) -> list[float]:
    """Inverse square-root frequency weights, normalised to mean 1 over seen classes (unseen: 1)."""
    counts = np.asarray(counts, np.float64)
    weights = np.ones_like(counts)
    seen = counts > 0
    if seen.any():
        weights[seen] = 1 / np.sqrt(counts[seen] / counts[seen].sum())
        weights[seen] /= weights[seen].mean()
    return weights.round(6).tolist()


def build_loss(name: str, num_classes: int, *, class_weights: list[float] | None = None,
               ignore_index: int = 255, focal_gamma: float = 2.0, label_smoothing: float = 0.0,
               segmentation: bool = True) -> nn.Module:
    """The loss called ``name`` (ce | focal | dice | compound); dice needs segmentation."""
    weight = None
    if class_weights is not None:
        if len(class_weights) != num_classes:
            raise InvalidInput(f"class_weights has {len(class_weights)} values; expected one per output ({num_classes})")
        weight = torch.tensor(class_weights, dtype=torch.float32)
    ce = nn.CrossEntropyLoss(weight=weight, ignore_index=ignore_index, label_smoothing=label_smoothing)
    if name == "ce":
        return ce
    if name == "focal":
        return FocalLoss(focal_gamma, weight, ignore_index)
    if not segmentation:
        raise InvalidInput(f"loss {name!r} needs per-pixel targets; expected ce or focal for this task")
    if name == "dice":
        return DiceLoss(ignore_index, weight=weight)
    if name == "compound":
        return CompoundLoss(ce, DiceLoss(ignore_index, weight=weight))
    raise InvalidInput(f"loss {name!r}: expected ce, focal, dice or compound")
