"""Optimizer and learning-rate schedule from a ``TrainConfig``.

The schedule is one ``LambdaLR`` stepped after every optimizer step (so its state dict,
saved in checkpoints, resumes exactly); factors relative to ``lr``:

- cosine: linear warmup from 0.1 to 1 over ``warmup_epochs``, then cosine down to ``min_lr``;
- step: ``gamma ** (epoch // step_size)``; exponential: ``gamma ** epoch`` (floored at ``min_lr``);
- none: constant.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch.optim.lr_scheduler import LambdaLR

from studio.training.config import TrainConfig


def build_optimizer(params: Iterable[torch.nn.Parameter] | Iterable[dict], config: TrainConfig) -> torch.optim.Optimizer:
    """adam | adamw | sgd (with momentum, nesterov) at ``config.lr``. ``params``: parameters (those with
    ``requires_grad``), or parameter groups (dicts with ``params`` and their own ``lr``, as
    ``studio.training.unfreeze.param_groups`` makes them; empty groups are dropped)."""
    items = list(params)
    if items and isinstance(items[0], dict):
        params = [g for g in items if g["params"]]  # type: ignore[index]
    else:
        params = [p for p in items if p.requires_grad]  # type: ignore[union-attr]
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay,
                               nesterov=config.momentum > 0)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)


def lr_factor(config: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """The multiplier of ``config.lr`` after ``step`` optimizer steps."""
    epoch = step / max(steps_per_epoch, 1)
    floor = config.min_lr / config.lr
    if config.scheduler == "none":
        return 1.0
    if config.scheduler == "step":
        return max(config.gamma ** (int(epoch) // config.step_size), floor)
    if config.scheduler == "exponential":
        return max(config.gamma ** epoch, floor)
    total = config.epochs * steps_per_epoch
    warmup = min(config.warmup_epochs * steps_per_epoch, total - 1)
    if step < warmup:
        return 0.1 + 0.9 * step / max(warmup, 1)
    progress = (step - warmup) / max(total - warmup, 1)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int) -> LambdaLR:
    """A per-step ``LambdaLR`` following :func:`lr_factor`."""
    return LambdaLR(optimizer, lambda step: lr_factor(config, step, steps_per_epoch))
