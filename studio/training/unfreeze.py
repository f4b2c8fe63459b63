"""Transfer learning with progressive unfreezing: which parts of a model train from which epoch,
each part at its own learning rate.

The schedule is ``TrainConfig.unfreeze``, a list of ``[after_epochs, group]`` or
``[after_epochs, group, lr_scale]`` entries::

    unfreeze: [[0, "head"], [3, "layer4", 0.1], [6, "all", 0.01]]

- ``after_epochs`` (int >= 0, non-decreasing): the group trains once this many epochs are done,
  i.e. from epoch ``after_epochs + 1``; the first entry must be 0 (something trains from the start);
- ``group``: ``"head"`` (the architecture's final classifier / segmentation head, see
  :func:`head_prefix`), ``"all"`` (every parameter not named by another entry), or a module path of
  the model (``"layer4"``, ``"features.7"``, ``"encoder.layer4"``, ``"decoder"``): every parameter
  whose name starts with it (``studio train`` names the paths a model has when one is unknown);
- ``lr_scale`` (default 1.0): the group's learning rate is ``lr * lr_scale`` (discriminative
  rates: a pretrained backbone usually wants 0.1 or less); the schedule (warmup, cosine ...)
  scales every group alike.

Until a group's epoch its parameters have ``requires_grad=False`` (no gradient, no update, no
weight decay) and its BatchNorm layers run in eval mode (their running statistics stay those of
the pretrained weights). Each parameter belongs to the first entry that names it. An empty
schedule (the default) trains everything from the start at ``lr``.

The loop calls :func:`param_groups` once (the optimizer's parameter groups, one per entry, so a
resumed run restores the same optimizer state) and :func:`apply` at the start of every epoch
(after ``model.train()``), which is a function of the epoch alone: a resumed run freezes exactly
what the uninterrupted one froze.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from studio.errors import InvalidInput

if typing.TYPE_CHECKING:  # torch is imported where a model is touched: parse_schedule runs in the UI process
    from torch import nn

# what "head" names besides the torchvision classifiers (studio.nets.classification.HEAD_PREFIXES)
OTHER_HEADS = {"small_cnn": "classifier", "unet": "segmentation_head", "deeplabv3plus": "segmentation_head",
               "sign_transformer": "heads", "sign_gru": "heads", "frame_cnn_gru": "heads"}


@dataclass(frozen=True)
class Stage:
    """One schedule entry: ``group`` trains from epoch ``after + 1`` at ``lr * lr_scale``."""

    after: int
    group: str
    lr_scale: float = 1.0


def parse_schedule(schedule: Any) -> list[Stage]:
    """``TrainConfig.unfreeze`` as stages; InvalidInput naming the entry and what was expected."""
    if schedule in (None, [], ()):
        return []
    if not isinstance(schedule, (list, tuple)):
        raise InvalidInput(f"config unfreeze: {schedule!r}; expected a list of [after_epochs, group] or "
                           "[after_epochs, group, lr_scale] entries, e.g. [[0, 'head'], [3, 'layer4', 0.1]]")
    stages: list[Stage] = []
    for k, entry in enumerate(schedule):
        where = f"config unfreeze[{k}] {entry!r}"
        if not isinstance(entry, (list, tuple)) or len(entry) not in (2, 3):
            raise InvalidInput(f"{where}: expected [after_epochs, group] or [after_epochs, group, lr_scale]")
        after, group = entry[0], entry[1]
        scale = entry[2] if len(entry) == 3 else 1.0
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            raise InvalidInput(f"{where}: after_epochs must be an integer >= 0")
        if not isinstance(group, str) or not group.strip():
            raise InvalidInput(f"{where}: group must be 'head', 'all' or a module path such as 'layer4'")
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
            raise InvalidInput(f"{where}: lr_scale must be a number > 0")
        if stages and after < stages[-1].after:
            raise InvalidInput(f"{where}: entries must be in epoch order (after_epochs {after} comes after "
                               f"{stages[-1].after})")
        if any(s.group == group.strip() for s in stages):
            raise InvalidInput(f"{where}: group {group!r} is listed twice")
        stages.append(Stage(after, group.strip(), float(scale)))
    if stages[0].after != 0:
        raise InvalidInput(f"config unfreeze: the first entry starts after {stages[0].after} epochs; expected 0 "
                           "(nothing would train until then)")
    if any(s.group == "all" for s in stages[:-1]):
        raise InvalidInput("config unfreeze: 'all' must be the last entry (it takes every parameter not named before)")
    return stages


def head_prefix(architecture: str) -> str:
    """The module path ``"head"`` means for ``architecture`` (InvalidInput when it has no known head)."""
    from studio.nets.classification import HEAD_PREFIXES

    heads = {**{name: prefix.rstrip(".") for name, prefix in HEAD_PREFIXES.items()}, **OTHER_HEADS}
    try:
        return heads[architecture]
    except KeyError:
        raise InvalidInput(f"{architecture} has no known head for unfreeze group 'head'; name its module path "
                           "instead") from None


def module_paths(model: nn.Module, depth: int = 2) -> list[str]:
    """Module paths that hold parameters, up to ``depth`` levels (``layer4``, ``features.7`` ...): what a
    group may name."""
    paths = {".".join(name.split(".")[:d]) for name, _ in model.named_parameters()
             for d in range(1, min(depth, name.count(".")) + 1)}
    return sorted(paths)


def _members(model: nn.Module, stages: list[Stage], architecture: str) -> list[list[tuple[str, nn.Parameter]]]:
    """Per stage, its (name, parameter) pairs: each parameter in the first stage that names it."""
    named = list(model.named_parameters())
    taken: set[str] = set()
    out: list[list[tuple[str, nn.Parameter]]] = []
    for stage in stages:
        if stage.group == "all":
            members = [(n, p) for n, p in named if n not in taken]
        else:
            prefix = head_prefix(architecture) if stage.group == "head" else stage.group
            members = [(n, p) for n, p in named if (n == prefix or n.startswith(prefix + ".")) and n not in taken]
            if not any(n == prefix or n.startswith(prefix + ".") for n, _ in named):
                shown = ", ".join(module_paths(model)[:40])
                raise InvalidInput(f"config unfreeze: {architecture} has no module {stage.group!r}"
                                   f"{f' (head = {prefix!r})' if stage.group == 'head' else ''}; expected 'head', "
                                   f"'all' or one of: {shown}")
        taken.update(n for n, _ in members)
        out.append(members)
    return out


def param_groups(model: nn.Module, schedule: Any, lr: float, architecture: str) -> Iterable[Any]:
    """The optimizer's parameter groups: one per stage (``lr * lr_scale``, the stage's group name); all
    parameters as one group when the schedule is empty. Parameters no stage names never train (they
    are left out; a schedule ending in "all" names them all)."""
    stages = parse_schedule(schedule)
    if not stages:
        return model.parameters()
    groups = []
    for stage, members in zip(stages, _members(model, stages, architecture)):
        if members:
            groups.append({"params": [p for _, p in members], "lr": lr * stage.lr_scale, "name": stage.group})
    return groups


def apply(model: nn.Module, schedule: Any, epoch: int, architecture: str,
          log: Callable[[str], None] = lambda line: None) -> list[str]:
    """Freeze / unfreeze for 1-based ``epoch`` (after ``model.train()``); the groups that start training
    now (logged). No-op without a schedule."""
    stages = parse_schedule(schedule)
    if not stages:
        return []
    done = epoch - 1
    trainable: set[int] = set()
    started = []
    for stage, members in zip(stages, _members(model, stages, architecture)):
        if stage.after <= done:
            trainable.update(id(p) for _, p in members)
            if stage.after == done:
                started.append(stage.group)
    for _, p in model.named_parameters():
        p.requires_grad_(id(p) in trainable)
    from torch.nn.modules.batchnorm import _BatchNorm

    for module in model.modules():  # frozen BatchNorm keeps its (pretrained) running statistics
        if isinstance(module, _BatchNorm):
            own = list(module.parameters(recurse=False))
            if own and not any(p.requires_grad for p in own):
                module.eval()
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    if started:
        log(f"epoch {epoch}: training {', '.join(started)} ({total - frozen:,} of {total:,} parameters)")
    return started


__all__ = ["OTHER_HEADS", "Stage", "apply", "head_prefix", "module_paths", "param_groups", "parse_schedule"]
