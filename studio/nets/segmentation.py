"""Semantic segmentation: "unet" and "deeplabv3plus" (segmentation_models_pytorch), offline.

Contract (both)::

    model = create_model("unet", num_classes=C, backbone="resnet34")
    logits = model(x)   # x: (B, 3, H, W) float32, RGB scaled to [0, 1] then ImageNet-normalised
                        # logits: (B, C, H, W) float32; class = logits.argmax(1)

H and W must be divisible by 32 (UNet; smp 0.6 would interpolate other sizes, we pad for exact
skip alignment) or by the output stride (DeepLabV3+: 16 by default, 8 with ``output_stride=8``).
Use ``pad_to_multiple`` / ``crop_padding`` for other sizes.

Encoders are built with ``encoder_weights=None`` (smp would otherwise fetch them from the
Hugging Face hub). ``pretrained=True`` loads the encoder from
``<models_dir>/pretrained/<encoder>.pth`` (or ``.safetensors``; torchvision's ImageNet files for
the ResNets and MobileNetV2, smp's file for efficientnet-b0; see ``studio.nets.pretrained``).
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from studio.errors import InvalidInput
from studio.nets import pretrained as weights_files
from studio.nets.registry import image_input, register_architecture

ENCODERS: tuple[str, ...] = ("resnet18", "resnet34", "resnet50", "mobilenet_v2", "efficientnet-b0")
# classifier keys a published ImageNet file has and an smp encoder (which drops its head) does not
_ENCODER_HEAD_KEYS = {"resnet18": ("fc.",), "resnet34": ("fc.",), "resnet50": ("fc.",),
                      "mobilenet_v2": ("classifier.",), "efficientnet-b0": ("_fc.",)}
_PRETRAINED_DOC = "encoder weights from <models_dir>/pretrained/<backbone>.pth (or .safetensors)"
OUTPUT = "(B, num_classes, H, W) float32 logits (argmax over dim 1 = class index)"


def _load_encoder(model: nn.Module, backbone: str, pretrained: bool | Path) -> None:
    path = weights_files.resolve(pretrained, f"the {backbone} encoder", backbone)
    if path is None:
        return
    state = weights_files.load_state_dict(path)
    weights_files.load_into(model.encoder, state, path, f"the smp {backbone} encoder",
                            skip_prefixes=_ENCODER_HEAD_KEYS[backbone])


@register_architecture("unet", task="semantic", backbones=ENCODERS, default_backbone="resnet34",
                input=image_input(size_multiple=32, min_size=32), output=OUTPUT, pretrained=_PRETRAINED_DOC)
def unet(*, num_classes: int, backbone: str, pretrained: bool | Path, decoder_attention: bool = False) -> nn.Module:
    """U-Net (smp.Unet) with an ImageNet-style encoder; skip connections at strides 2-16.

    decoder_attention: add scSE attention blocks to the decoder.
    """
    import segmentation_models_pytorch as smp

    model = smp.Unet(encoder_name=backbone, encoder_weights=None, classes=num_classes, activation=None,
                     decoder_attention_type="scse" if decoder_attention else None)
    _load_encoder(model, backbone, pretrained)
    return model


def _deeplab_multiple(options: dict) -> int:
    return int(options.get("output_stride", 16))


@register_architecture("deeplabv3plus", task="semantic", backbones=ENCODERS, default_backbone="resnet34",
                input=image_input(size_multiple=16, min_size=32), output=OUTPUT, pretrained=_PRETRAINED_DOC,
                size_multiple=_deeplab_multiple)
def deeplabv3plus(*, num_classes: int, backbone: str, pretrained: bool | Path, output_stride: int = 16,
                  aspp_dropout: float = 0.5) -> nn.Module:
    """DeepLabV3+ (smp.DeepLabV3Plus): dilated encoder at output_stride 8 or 16, ASPP, stride-4 decoder.

    output_stride: 16 (default; H, W multiples of 16) or 8 (finer, slower; multiples of 8).
    """
    import segmentation_models_pytorch as smp

    if output_stride not in (8, 16):
        raise InvalidInput(f"deeplabv3plus: output_stride must be 8 or 16, got {output_stride!r}")
    model = smp.DeepLabV3Plus(encoder_name=backbone, encoder_weights=None, encoder_output_stride=output_stride,
                              classes=num_classes, activation=None, decoder_aspp_dropout=aspp_dropout)
    _load_encoder(model, backbone, pretrained)
    return model
