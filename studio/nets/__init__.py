"""Architectures by name: ``create_model(name, num_classes=..., backbone=..., pretrained=...)``.

=================  ==============  ==========================================  ===========================
task               name            backbone (default first)                    forward
=================  ==============  ==========================================  ===========================
semantic           unet            resnet34, resnet18, resnet50, mobilenet_v2,  (B,3,H,W) -> (B,C,H,W)
                   deeplabv3plus   efficientnet-b0 (smp names)                  logits; H, W % 32 (UNet),
                                                                                % output_stride (8 / 16)
instance           yolov8-seg      n, s, m                                      ultralytics raw; use
                                                                                predict_instances
classification     small_cnn,      none                                         (B,3,H,W) -> (B,C) logits
                   resnet18/34/50/101,
                   vgg16,
                   efficientnet_b0/b1,
                   mobilenet_v2,
                   mobilenet_v3_small/large,
                   densenet121
sequence           sign_transformer, sign_gru  none                             (B,T,D), lengths (B,) ->
                   frame_cnn_gru   (clips (B,T,3,H,W))                          {"gloss", "category"}
=================  ==============  ==========================================  ===========================

``model_info(name)`` gives each contract, ``preprocessing(name, backbone)`` the dict saved as
``preprocessing.json``; ``list_architectures(task)`` the names. Unknown names and backbones are an
``InvalidInput`` naming the known ones. Nothing downloads weights: ``pretrained=True`` reads a
local file under ``<models_dir>/pretrained/`` (see ``studio.nets.pretrained``) and says which
file to put where when it is missing.

The classical family (HOG + LBP + colour histogram with a linear SVM or a random forest) is
``studio.nets.classical.ClassicalClassifier``, trained as architectures ``classical_svm`` /
``classical_rf`` (studio.training.classical); it is not an nn.Module and not in the registry.
Progressive unfreezing of any of these (``TrainConfig.unfreeze``): studio.training.unfreeze.

Importing this package is light: torch only; smp, torchvision and ultralytics are imported when
a model that needs them is built.
"""

from studio.nets.registry import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    InputSpec,
    ModelInfo,
    check_size,
    create_model,
    crop_padding,
    image_to_tensor,
    list_architectures,
    model_info,
    pad_to_multiple,
    preprocessing,
    register_architecture,
    resolve_backbone,
)
from studio.nets.yolo import Instance, as_yolo, predict_instances

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "InputSpec",
    "Instance",
    "ModelInfo",
    "as_yolo",
    "check_size",
    "create_model",
    "crop_padding",
    "image_to_tensor",
    "list_architectures",
    "model_info",
    "pad_to_multiple",
    "predict_instances",
    "preprocessing",
    "register_architecture",
    "resolve_backbone",
]

