"""The torchvision image-classification backbones the seeds name (VGG16, ResNet-50/101, DenseNet-121,
MobileNetV2, EfficientNet-B0/B1): registered, built offline with a num_classes head, their "head"
(what progressive unfreezing and pretrained loading treat apart) where the studio says it is, and
local pretrained weights loaded into everything but the head. Heavy models are built on the meta
device (shapes only, no memory); the light ones run a real forward pass."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from studio.nets import create_model, list_architectures, model_info
from studio.nets.classification import HEAD_PREFIXES

SEED_BACKBONES = ("vgg16", "resnet50", "resnet101", "densenet121", "mobilenet_v2", "efficientnet_b0",
                  "efficientnet_b1")


@pytest.mark.parametrize("name", sorted(HEAD_PREFIXES))
def test_every_torchvision_classifier_has_its_head_where_the_studio_says(name: str) -> None:
    assert name in list_architectures("classification") and model_info(name).pretrained
    with torch.device("meta"):
        model = create_model(name, num_classes=7)
    head = {k: v for k, v in model.state_dict().items() if k.startswith(HEAD_PREFIXES[name])}
    assert set(head) == {HEAD_PREFIXES[name] + "weight", HEAD_PREFIXES[name] + "bias"}
    assert head[HEAD_PREFIXES[name] + "weight"].shape[0] == 7  # the head has num_classes outputs


def test_the_seed_backbones_are_all_there() -> None:
    assert set(SEED_BACKBONES) <= set(list_architectures("classification"))


@pytest.mark.parametrize("name", ["mobilenet_v2", "efficientnet_b1"])
def test_light_backbones_classify_small_crops(name: str) -> None:
    model = create_model(name, num_classes=4).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 64)).shape == (2, 4)


def test_pretrained_weights_load_into_all_but_the_head(models_dir: Path) -> None:
    from torchvision import models

    published = models.mobilenet_v2(weights=None)  # the ImageNet file's layout: a 1000-class head
    (models_dir / "pretrained").mkdir()
    torch.save(published.state_dict(), models_dir / "pretrained" / "mobilenet_v2-7ebf99e0.pth")
    model = create_model("mobilenet_v2", num_classes=3, pretrained=True)
    assert torch.equal(model.features[0][0].weight, published.features[0][0].weight)
    assert model.classifier[1].weight.shape == (3, 1280)  # the head stays new, for 3 classes
