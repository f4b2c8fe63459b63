"""Image classification: "small_cnn" (tiny datasets, tests) and torchvision backbones, offline.

Contract (all)::

    model = create_model("resnet18", num_classes=C)
    logits = model(x)   # x: (B, 3, H, W) float32, RGB scaled to [0, 1] then ImageNet-normalised
                        # logits: (B, C) float32

Any H, W >= 32 works (global average pooling); train and predict at one size (``image_size``).
torchvision models are built with ``weights=None`` and a ``num_classes`` head, so nothing is
downloaded. ``pretrained=True`` loads ``<models_dir>/pretrained/<name>.pth`` (torchvision's
ImageNet file, e.g. ``resnet18-f37072fd.pth``, also matches) into everything but the final
classifier layer, which stays randomly initialised for ``num_classes``.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from studio.errors import InvalidInput
from studio.nets import pretrained as weights_files
from studio.nets.registry import image_input, register_architecture

OUTPUT = "(B, num_classes) float32 logits"
# the final classifier layer of each torchvision model (replaced for num_classes, never loaded; what the
# unfreeze group "head" names: studio.training.unfreeze)
HEAD_PREFIXES = {"resnet18": "fc.", "resnet34": "fc.", "resnet50": "fc.", "resnet101": "fc.",
                 "vgg16": "classifier.6.", "efficientnet_b0": "classifier.1.", "efficientnet_b1": "classifier.1.",
                 "mobilenet_v2": "classifier.1.", "mobilenet_v3_small": "classifier.3.",
                 "mobilenet_v3_large": "classifier.3.", "densenet121": "classifier."}
# torchvision's published DenseNet files use the old key names "norm.1" for "norm1" (see torchvision.models.densenet)
_DENSENET_OLD_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$")


def conv_blocks(channels: tuple[int, ...]) -> tuple[list[nn.Module], int]:
    """(conv 3x3 -> BatchNorm -> ReLU -> max-pool 2) per width in ``channels`` on RGB input:
    the layers (each block halves H and W) and the output channel count."""
    blocks: list[nn.Module] = []
    previous = 3
    for width in channels:
        blocks += [nn.Conv2d(previous, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                   nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        previous = width
    return blocks, previous


class SmallCNN(nn.Module):
    """A few conv blocks (conv3x3-BN-ReLU, max-pool 2) -> global average pool -> dropout -> linear.

    x: (B, 3, H, W) float32 with H, W >= 2 ** len(channels) -> (B, num_classes) float32 logits.
    """

    def __init__(self, num_classes: int, channels: tuple[int, ...] = (16, 32, 64, 128), dropout: float = 0.1):
        super().__init__()
        if not channels or any(not isinstance(c, int) or c < 1 for c in channels):
            raise InvalidInput(f"small_cnn: channels must be positive integers, got {channels!r}")
        blocks, previous = conv_blocks(channels)
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(previous, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.pool(self.features(x)).flatten(1)))


@register_architecture("small_cnn", task="classification", input=image_input(min_size=16), output=OUTPUT)
def small_cnn(*, num_classes: int, backbone: None, pretrained: bool | Path, channels: tuple[int, ...] = (16, 32, 64, 128),
              dropout: float = 0.1) -> nn.Module:
    """A small CNN (four conv blocks by default) for tiny datasets and quick tests; no pretrained weights."""
    return SmallCNN(num_classes, tuple(channels), dropout)


def _torchvision(name: str, num_classes: int, pretrained: bool | Path, **kwargs: object) -> nn.Module:
    from torchvision import models

    model = getattr(models, name)(weights=None, num_classes=num_classes, **kwargs)
    path = weights_files.resolve(pretrained, f"the {name} classifier", name)
    if path is not None:
        state = weights_files.load_state_dict(path)
        if name == "densenet121":
            state = {(_DENSENET_OLD_KEY.sub(r"\1\2", k)): v for k, v in state.items()}
        weights_files.load_into(model, state, path, f"torchvision {name}", skip_prefixes=(HEAD_PREFIXES[name],))
    return model


_TV_PRETRAINED = "ImageNet weights from <models_dir>/pretrained/{name}.pth (torchvision's file; head re-initialised)"


def _register_torchvision(name: str, description: str, dropout_default: float | None) -> None:
    """Register torchvision's ``name``; ``dropout_default``: its classifier dropout (torchvision's own
    default), an option of the builder; None when the model has no dropout option."""
    if dropout_default is not None:
        def build(*, num_classes: int, backbone: None, pretrained: bool | Path,
                  dropout: float = dropout_default) -> nn.Module:
            return _torchvision(name, num_classes, pretrained, dropout=dropout)
    else:
        def build(*, num_classes: int, backbone: None, pretrained: bool | Path) -> nn.Module:
            return _torchvision(name, num_classes, pretrained)
    build.__name__ = build.__qualname__ = name
    register_architecture(name, task="classification", input=image_input(min_size=32), output=OUTPUT,
                   pretrained=_TV_PRETRAINED.format(name=name), description=description)(build)


for _name, _description, _dropout in (
    ("resnet18", "ResNet-18 (torchvision), 11.7 M parameters", None),
    ("resnet34", "ResNet-34 (torchvision), 21.8 M parameters", None),
    ("resnet50", "ResNet-50 (torchvision), 25.6 M parameters", None),
    ("resnet101", "ResNet-101 (torchvision), 44.5 M parameters", None),
    ("vgg16", "VGG-16 (torchvision), 138 M parameters; heavy, a classic transfer-learning baseline", 0.5),
    ("efficientnet_b0", "EfficientNet-B0 (torchvision), 5.3 M parameters", 0.2),
    ("efficientnet_b1", "EfficientNet-B1 (torchvision), 7.8 M parameters", 0.2),
    ("mobilenet_v2", "MobileNetV2 (torchvision), 3.5 M parameters; fast on CPU", 0.2),
    ("mobilenet_v3_small", "MobileNetV3-Small (torchvision), 2.5 M parameters; fast on CPU", 0.2),
    ("mobilenet_v3_large", "MobileNetV3-Large (torchvision), 5.5 M parameters", 0.2),
    ("densenet121", "DenseNet-121 (torchvision), 8.0 M parameters", None),
):
    _register_torchvision(_name, _description, _dropout)
