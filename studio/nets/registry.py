"""Architectures by name: a registry, a factory that fails loudly, and each model's contract.

Modelled on timm's ``_registry.py`` / ``_factory.py``::

    @register_architecture("unet", task="semantic", backbones=("resnet18", ...), default_backbone="resnet34",
                    input=image_input(size_multiple=32), output="(B, num_classes, H, W) float32 logits")
    def unet(*, num_classes: int, backbone: str, pretrained: bool | Path, in_channels: int = 3) -> nn.Module: ...

    model = create_model("unet", num_classes=4, backbone="resnet18")   # an nn.Module, random init
    info = model_info("unet")            # task, backbones, input spec, output spec, pretrained file
    prep = preprocessing("unet", "resnet18")   # the dict written as preprocessing.json

Every builder takes keyword arguments ``num_classes``, ``backbone`` (resolved: the default when
None) and ``pretrained`` (False, or the path of a local weights file that exists), plus its own
options; ``create_model`` checks the name, the backbone, ``num_classes`` and the option names
first, so a typo is an ``InvalidInput`` naming the known values, never a ``TypeError`` deep inside
a library. Models built here never download anything (see ``studio.nets.pretrained``).

Each model gets a ``studio_config`` attribute (a plain dict: architecture, backbone,
num_classes, options) so later code (export, live inference) can tell what it holds.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from studio.errors import InvalidInput

Task = Literal["semantic", "instance", "classification", "sequence"]  # the values of studio.tables.Task
InputKind = Literal["image", "keypoints", "clip"]
TASKS: tuple[str, ...] = ("semantic", "instance", "classification", "sequence")

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
PREPROCESSING_FORMAT = "studio.preprocessing/1"

# modules whose import registers the built-in models (imported on first use of the registry)
_BUILTIN_MODULES = ("studio.nets.segmentation", "studio.nets.yolo", "studio.nets.classification",
                    "studio.nets.sequence")


@dataclass(frozen=True)
class InputSpec:
    """What a model's ``forward`` takes.

    kind: "image" (B, 3, H, W); "keypoints" (B, T, D) with optional lengths (B,);
        "clip" (B, T, 3, H, W) with optional lengths (B,)
    shape: the layout in words, e.g. "(B, 3, H, W)"
    dtype: always "float32"
    channel_order: "RGB" for image and clip input, None for keypoints
    input_range: pixel values are scaled to this range first (uint8 / 255 -> [0, 1]); None for keypoints
    mean, std: per channel, applied after scaling: (x - mean) / std; None for keypoints
    size_multiple: H and W must be divisible by it (1: any size; pad with ``pad_to_multiple``);
        the value for the default options (DeepLabV3+ output_stride=8 needs 8, see ``preprocessing``)
    min_size: smallest H and W the model accepts
    """

    kind: InputKind
    shape: str
    dtype: str = "float32"
    channel_order: str | None = "RGB"
    input_range: tuple[float, float] | None = (0.0, 1.0)
    mean: tuple[float, ...] | None = IMAGENET_MEAN
    std: tuple[float, ...] | None = IMAGENET_STD
    size_multiple: int = 1
    min_size: int = 1


def image_input(size_multiple: int = 1, min_size: int = 32, mean: tuple[float, ...] = IMAGENET_MEAN,
                std: tuple[float, ...] = IMAGENET_STD) -> InputSpec:
    """Spec of (B, 3, H, W) float32 RGB input, scaled to [0, 1] then normalised with mean/std."""
    return InputSpec("image", "(B, 3, H, W)", size_multiple=size_multiple, min_size=min_size, mean=mean, std=std)


def keypoints_input() -> InputSpec:
    """Spec of (B, T, D) float32 keypoint sequences (normalised by the dataset, not here)."""
    return InputSpec("keypoints", "(B, T, D)", channel_order=None, input_range=None, mean=None, std=None)


def clip_input(min_size: int = 8) -> InputSpec:
    """Spec of (B, T, 3, H, W) float32 RGB clips, each frame normalised like an image."""
    return InputSpec("clip", "(B, T, 3, H, W)", min_size=min_size)


@dataclass(frozen=True)
class ModelInfo:
    """Everything callers may rely on about one registered architecture.

    name: the registry name ("unet", "yolov8-seg", "resnet18", "sign_transformer" ...)
    task: "semantic" | "instance" | "classification" | "sequence"
    description: one line for people
    backbones: the allowed ``backbone`` values; () when the architecture has no backbone choice
    default_backbone: used when ``backbone`` is None; None when there is no choice
    input: the ``forward`` input (see ``InputSpec``)
    output: the ``forward`` output in words (shapes, dtype, meaning)
    pretrained: where ``pretrained=True`` looks for weights, or None when the model has none
    options: the extra keyword arguments ``create_model`` accepts for it, with their defaults
    """

    name: str
    task: str
    description: str
    backbones: tuple[str, ...]
    default_backbone: str | None
    input: InputSpec
    output: str
    pretrained: str | None
    options: dict[str, Any]
    builder: Callable[..., nn.Module] = field(repr=False, compare=False)
    size_multiple_fn: Callable[[dict[str, Any]], int] | None = field(default=None, repr=False, compare=False)

    def size_multiple(self, **options: Any) -> int:
        """H and W must be divisible by this for the given options (e.g. output_stride=8)."""
        if self.size_multiple_fn is None:
            return self.input.size_multiple
        return int(self.size_multiple_fn({**self.options, **options}))


_REGISTRY: dict[str, ModelInfo] = {}
_loaded = False


def register_architecture(name: str, *, task: str, input: InputSpec, output: str, backbones: tuple[str, ...] = (),
                   default_backbone: str | None = None, pretrained: str | None = None,
                   size_multiple: Callable[[dict[str, Any]], int] | None = None,
                   description: str | None = None) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: register ``fn(*, num_classes, backbone, pretrained, **options) -> nn.Module`` as ``name``.

    ``options`` are read from the builder's keyword-only parameters after the three common ones
    (their defaults are documented in ``ModelInfo.options``). A duplicate name or an
    inconsistent backbone list is a programming error (ValueError at import).
    """
    if task not in TASKS:
        raise ValueError(f"register_architecture({name!r}): task {task!r} is not one of {TASKS}")
    if backbones and default_backbone not in backbones:
        raise ValueError(f"register_architecture({name!r}): default backbone {default_backbone!r} not in {backbones}")

    def decorate(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice ({_REGISTRY[name].builder.__module__} and "
                             f"{fn.__module__})")
        params = inspect.signature(fn).parameters
        for common in ("num_classes", "backbone", "pretrained"):
            if common not in params:
                raise ValueError(f"register_architecture({name!r}): the builder must take {common!r}")
        options = {k: p.default for k, p in params.items()
                   if k not in ("num_classes", "backbone", "pretrained") and p.kind is p.KEYWORD_ONLY}
        doc = (description or (fn.__doc__ or name).strip().splitlines()[0]).strip()
        _REGISTRY[name] = ModelInfo(name=name, task=task, description=doc, backbones=tuple(backbones),
                                    default_backbone=default_backbone, input=input, output=output,
                                    pretrained=pretrained, options=options, builder=fn,
                                    size_multiple_fn=size_multiple)
        return fn

    return decorate


def _ensure_registered() -> None:
    global _loaded
    if not _loaded:
        for module in _BUILTIN_MODULES:
            importlib.import_module(module)
        _loaded = True


def _closest(value: str, known: list[str] | tuple[str, ...]) -> str:
    match = difflib.get_close_matches(value, list(known), n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def list_architectures(task: str | None = None) -> list[str]:
    """Registered names, sorted; only those of ``task`` when given (InvalidInput for an unknown task)."""
    _ensure_registered()
    if task is not None:
        task = getattr(task, "value", task)  # accept studio.tables.Task too
        if task not in TASKS:
            raise InvalidInput(f"task {task!r}{_closest(str(task), TASKS)}: expected one of {', '.join(TASKS)}")
    return sorted(n for n, info in _REGISTRY.items() if task is None or info.task == task)


def model_info(name: str) -> ModelInfo:
    """The ``ModelInfo`` of ``name``; InvalidInput naming the known models (and the closest) if unknown."""
    _ensure_registered()
    if not isinstance(name, str) or name not in _REGISTRY:
        known = sorted(_REGISTRY)
        raise InvalidInput(f"unknown model {name!r}{_closest(str(name), known)}; expected one of: {', '.join(known)}")
    return _REGISTRY[name]


def resolve_backbone(name: str, backbone: str | None) -> str | None:
    """The backbone ``create_model`` will use: the default for None or "", else ``backbone`` if allowed.

    Models without a backbone choice accept None, "" or their own name (returns None).
    InvalidInput naming the allowed backbones (and the closest) otherwise.
    """
    info = model_info(name)
    if not info.backbones:
        if backbone in (None, "", name):
            return None
        raise InvalidInput(f"{name} has no backbone choice: expected backbone None, got {backbone!r}")
    if backbone in (None, ""):
        return info.default_backbone
    if backbone not in info.backbones:
        raise InvalidInput(f"{name}: unknown backbone {backbone!r}{_closest(str(backbone), info.backbones)}; "
                           f"expected one of: {', '.join(info.backbones)}")
    return backbone


def _check_options(info: ModelInfo, options: dict[str, Any]) -> None:
    unknown = sorted(set(options) - set(info.options))
    if unknown:
        accepted = ", ".join(f"{k}={v!r}" for k, v in info.options.items()) or "none"
        raise InvalidInput(f"{info.name}: unknown option {unknown[0]!r}{_closest(unknown[0], list(info.options))}; "
                           f"accepted options: {accepted}")


def create_model(name: str, *, num_classes: int, backbone: str | None = None, pretrained: bool | str | Path = False,
                 **kwargs: Any) -> nn.Module:
    """Build the registered architecture ``name`` as an ``nn.Module`` (train mode, on CPU, float32).

    num_classes: outputs of the main head (>= 1): classes per pixel / per object / per image /
        glosses per sequence (sequence models take ``num_categories`` as an option)
    backbone: one of ``model_info(name).backbones``; None = the default
    pretrained: False = random init (always works offline); True = load the local weights file
        ``model_info(name).pretrained`` describes (InvalidInput naming the exact path when it is
        absent); a path = that file
    kwargs: the architecture's options (``model_info(name).options``)

    Input/output contracts: ``model_info(name).input`` / ``.output``. Nothing is downloaded.
    """
    info = model_info(name)
    resolved = resolve_backbone(name, backbone)
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise InvalidInput(f"{name}: num_classes must be an integer >= 1, got {num_classes!r}")
    _check_options(info, kwargs)
    weights: bool | Path = False
    if pretrained is not False and pretrained is not None:
        if info.pretrained is None:
            raise InvalidInput(f"{name} has no pretrained weights: expected pretrained=False")
        if isinstance(pretrained, (str, Path)) and not isinstance(pretrained, bool):
            weights = Path(pretrained)
            if not weights.is_file():
                raise InvalidInput(f"pretrained weights file {weights} does not exist")
        elif pretrained is True:
            weights = True
        else:
            raise InvalidInput(f"pretrained: expected True, False or a file path, got {pretrained!r}")
    model = info.builder(num_classes=int(num_classes), backbone=resolved, pretrained=weights, **kwargs)
    model.studio_config = {"architecture": name, "backbone": resolved or "", "num_classes": int(num_classes),
                           "options": {**info.options, **kwargs}}
    return model


def preprocessing(name: str, backbone: str | None = None, **options: Any) -> dict[str, Any]:
    """The JSON-ready preprocessing of ``name`` (written as ``preprocessing.json`` next to a model).

    Keys (values are JSON types; None means "does not apply"):
        format          "studio.preprocessing/1"
        architecture    registry name;  backbone: resolved backbone or ""
        task            semantic | instance | classification | sequence
        input_kind      "image" | "keypoints" | "clip"
        layout          "BCHW" | "BTD" | "BTCHW"
        dtype           "float32"
        channel_order   "RGB" (image/clip) | None
        input_range     [0.0, 1.0]: uint8 pixels are divided by 255 first | None
        mean, std       per-channel lists applied after scaling: (x - mean) / std | None
        size_multiple   H and W must be divisible by it (1 = any); pad with pad_to_multiple
        min_size        smallest H and W
        resize          "pad" (semantic: pad to the multiple, crop the output back),
                        "letterbox" (YOLO: ultralytics letterbox to imgsz, pad value 114),
                        "resize" (classification / clips: resize to the training size) | None
        output          the forward output in words
    ``options`` are the model options it was built with (output_stride changes size_multiple).
    """
    info = model_info(name)
    resolved = resolve_backbone(name, backbone)
    _check_options(info, options)
    spec = info.input
    layout = {"image": "BCHW", "keypoints": "BTD", "clip": "BTCHW"}[spec.kind]
    resize = {"semantic": "pad", "instance": "letterbox", "classification": "resize"}.get(info.task)
    if spec.kind == "clip":
        resize = "resize"
    return {
        "format": PREPROCESSING_FORMAT,
        "architecture": name,
        "backbone": resolved or "",
        "task": info.task,
        "input_kind": spec.kind,
        "layout": layout,
        "dtype": spec.dtype,
        "channel_order": spec.channel_order,
        "input_range": list(spec.input_range) if spec.input_range is not None else None,
        "mean": list(spec.mean) if spec.mean is not None else None,
        "std": list(spec.std) if spec.std is not None else None,
        "size_multiple": info.size_multiple(**options),
        "min_size": spec.min_size,
        "resize": resize,
        "output": info.output,
    }


# --------------------------------------------------------------------------- any image size


def pad_to_multiple(x: torch.Tensor, multiple: int, value: float = 0.0) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad the last two dims of ``x`` ((..., H, W), any dtype) at the bottom and right up to a multiple.

    Returns ``(padded (..., H + pad_h, W + pad_w), (pad_h, pad_w))``; pixel coordinates are unchanged,
    so ``crop_padding(model(padded), (pad_h, pad_w))`` has the input's H and W. For a normalised
    image ``value=0`` is the mean colour.
    """
    if not isinstance(x, torch.Tensor) or x.ndim < 2:
        raise InvalidInput(f"pad_to_multiple: expected a tensor (..., H, W), got {getattr(x, 'shape', type(x))}")
    if isinstance(multiple, bool) or not isinstance(multiple, int) or multiple < 1:
        raise InvalidInput(f"pad_to_multiple: expected an integer multiple >= 1, got {multiple!r}")
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    if pad_h == 0 and pad_w == 0:
        return x, (0, 0)
    return F.pad(x, (0, pad_w, 0, pad_h), value=value), (pad_h, pad_w)


def crop_padding(y: torch.Tensor, pads: tuple[int, int]) -> torch.Tensor:
    """Inverse of ``pad_to_multiple``: drop ``pads = (pad_h, pad_w)`` rows/columns at the bottom/right of (..., H, W)."""
    pad_h, pad_w = pads
    if y.ndim < 2 or pad_h < 0 or pad_w < 0 or pad_h >= y.shape[-2] or pad_w >= y.shape[-1]:
        raise InvalidInput(f"crop_padding: expected (..., H, W) larger than the padding {pads}, got {tuple(y.shape)}")
    return y[..., : y.shape[-2] - pad_h, : y.shape[-1] - pad_w]


def image_to_tensor(image: np.ndarray, prep: dict[str, Any]) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (1, 3, H, W) float32 scaled and normalised as ``prep`` (a preprocessing dict) says.

    No resizing or padding (see ``pad_to_multiple``).
    """
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InvalidInput(f"image: expected (H, W, 3) uint8 RGB, got shape {getattr(image, 'shape', None)} "
                           f"dtype {getattr(image, 'dtype', type(image).__name__)}")
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float()
    low, high = prep.get("input_range") or (0.0, 1.0)
    x = x / 255.0 * (high - low) + low
    if prep.get("mean") is not None and prep.get("std") is not None:
        mean = torch.tensor(prep["mean"], dtype=torch.float32).view(3, 1, 1)
        std = torch.tensor(prep["std"], dtype=torch.float32).view(3, 1, 1)
        x = (x - mean) / std
    return x.unsqueeze(0)


def check_size(name: str, height: int, width: int, **options: Any) -> None:
    """InvalidInput unless an H x W input fits ``name`` (divisible by its size multiple, at least min_size)."""
    info = model_info(name)
    multiple = info.size_multiple(**options)
    if min(height, width) < info.input.min_size:
        raise InvalidInput(f"{name}: expected H and W >= {info.input.min_size}, got {height}x{width}")
    if height % multiple or width % multiple:
        raise InvalidInput(f"{name}: expected H and W divisible by {multiple}, got {height}x{width} "
                           f"(pad to {math.ceil(height / multiple) * multiple}x{math.ceil(width / multiple) * multiple}"
                           " with pad_to_multiple)")
