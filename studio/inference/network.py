"""A model version's network: its row, classes, preprocessing and weights, wrapped as a
``Network`` whose ``forward`` returns a tuple of named tensors (what every runtime and
exporter runs)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.errors import InvalidInput, NotFound
from studio.tables import ModelVersion, Task

WEIGHT_ROLES_IN_ORDER = ("best", "weights", "last")  # the checkpoint a torch predictor loads
OUTPUT_NAMES = {"semantic": ("logits",), "classification": ("logits",), "instance": ("preds", "protos")}


@dataclass
class Network:
    """A version's nn.Module wrapped so ``forward(x)`` returns a tuple of tensors named
    ``output_names`` (what ONNX / TorchScript export and the torch runtime all run).

    input_kind: "image" (B, 3, H, W) | "keypoints" (B, T, D) | "clip" (B, T, 3, H, W)
    """

    module: Any  # torch.nn.Module
    output_names: tuple[str, ...]
    input_kind: str


def as_version(ref: str | int | ModelVersion) -> ModelVersion:
    """A ModelVersion from an id, a name or the row itself."""
    if isinstance(ref, ModelVersion):
        return ref
    from studio.registry import get_model

    return get_model(ref)


def class_dicts(version: ModelVersion) -> list[dict[str, Any]]:
    return [dict(c) for c in version.classes]


def output_class_names(version: ModelVersion) -> list[str]:
    """Name of each output (semantic: channel k; others: ``classes[k]``)."""
    from studio.registry import output_names

    return output_names(version.task, version.classes)


def model_kwargs(version: ModelVersion) -> dict[str, Any]:
    kwargs = version.config.get("model_kwargs") if isinstance(version.config, dict) else None
    return dict(kwargs) if isinstance(kwargs, dict) else {}


def version_preprocessing(version: ModelVersion) -> dict[str, Any]:
    """The version's preprocessing: ``preprocessing.json`` (else ``config["preprocessing"]``)
    over the defaults of ``studio.nets.preprocessing(architecture, backbone)``."""
    from studio.nets import preprocessing
    from studio.registry import model_dir

    stored: dict[str, Any] = {}
    path = model_dir(version) / "preprocessing.json"
    if path.is_file():
        try:
            stored = json.loads(path.read_text()) or {}
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{path}: not valid JSON ({exc}); expected the preprocessing dict") from None
    if not stored and isinstance(version.config.get("preprocessing"), dict):
        stored = dict(version.config["preprocessing"])
    try:
        base = preprocessing(version.architecture, version.backbone or None, **model_kwargs(version))
    except InvalidInput:
        base = {}
    return {**base, **stored}


def torch_module(version: ModelVersion) -> Any:
    """The version's nn.Module with its checkpoint's weights (CPU, eval mode, float32)."""
    from studio.nets import create_model
    from studio.registry import load_checkpoint, num_outputs

    kwargs = model_kwargs(version)
    if version.architecture == "yolov8-seg" and "names" not in kwargs:
        kwargs["names"] = tuple(c["name"] for c in version.classes)
    model = create_model(version.architecture, num_classes=num_outputs(version.task, version.classes),
                         backbone=version.backbone or None, **kwargs)
    path = weights_path(version, "torch")
    state = load_checkpoint(path)["model"]
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise InvalidInput(f"{path.name} does not fit {version.architecture} {version.backbone}: missing "
                           f"{result.missing_keys[:3]}, unexpected {result.unexpected_keys[:3]}")
    return model.eval()


def load_network(ref: str | int | ModelVersion) -> Network:
    """The version's network (CPU, float32, eval) as a ``Network`` with tuple outputs."""
    import torch
    from torch import nn

    version = as_version(ref)
    module = torch_module(version)
    task = version.task
    if task == Task.instance.value:
        head = module.model[-1]

        class _YoloOutputs(nn.Module):
            """(B, 3, H, W) in [0, 1] -> (preds (B, 4 + C + 32, A), protos (B, 32, H/4, W/4))."""

            def __init__(self, net: nn.Module) -> None:
                super().__init__()
                self.net = net

            def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                first = self.net(x)[0]
                return first[0], first[1]

        head.dynamic = True  # anchors follow the input size (needed for dynamic ONNX axes)
        return Network(_YoloOutputs(module).eval(), OUTPUT_NAMES["instance"], "image")
    if task == Task.sequence.value:
        heads = ("gloss", "category") if getattr(getattr(module, "heads", None), "category", None) is not None \
            else ("gloss",)

        class _SequenceOutputs(nn.Module):
            def __init__(self, net: nn.Module) -> None:
                super().__init__()
                self.net = net

            def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
                out = self.net(x)
                return tuple(out[h] for h in heads)

        kind = "clip" if version.architecture == "frame_cnn_gru" else "keypoints"
        return Network(_SequenceOutputs(module).eval(), heads, kind)

    class _Single(nn.Module):
        def __init__(self, net: nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
            return (self.net(x),)

    return Network(_Single(module).eval(), OUTPUT_NAMES.get(task, ("logits",)), "image")


def weights_path(version: ModelVersion, runtime: str) -> Path:
    """The file ``runtime`` loads: the ONNX (or INT8 ONNX) file, else the first of
    ``WEIGHT_ROLES_IN_ORDER`` the version has; NotFound naming what to do otherwise."""
    from studio.registry import model_file

    if runtime == "onnx":
        if "onnx" not in version.files:
            raise NotFound(f"model {version.name} has no ONNX file; export one first: studio export onnx {version.name}")
        return model_file(version, "onnx")
    if runtime == "onnx_int8":
        if "onnx_int8" not in version.files:
            raise NotFound(f"model {version.name} has no INT8 ONNX file; make one first: studio export int8 "
                           f"{version.name}")
        return model_file(version, "onnx_int8")
    role = next((r for r in WEIGHT_ROLES_IN_ORDER if r in version.files), None)
    if role is None:
        hint = "; it has an ONNX file: use runtime 'onnx'" if "onnx" in version.files else ""
        raise NotFound(f"model {version.name} has no PyTorch checkpoint (expected one of "
                       f"{', '.join(WEIGHT_ROLES_IN_ORDER)}){hint}")
    return model_file(version, role)
