"""The registry's contracts: names by task, loud failures naming the known values, the
preprocessing dict, and padding any image size to a model's multiple."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from studio.errors import InvalidInput
from studio.nets import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    check_size,
    create_model,
    crop_padding,
    image_to_tensor,
    list_architectures,
    model_info,
    pad_to_multiple,
    preprocessing,
    register_architecture,
)
from studio.nets.registry import image_input

EXPECTED_BY_TASK = {
    "semantic": ["deeplabv3plus", "unet"],
    "instance": ["yolov8-seg"],
    "classification": ["densenet121", "efficientnet_b0", "efficientnet_b1", "mobilenet_v2", "mobilenet_v3_large",
                       "mobilenet_v3_small", "resnet101", "resnet18", "resnet34", "resnet50", "small_cnn", "vgg16"],
    "sequence": ["frame_cnn_gru", "sign_gru", "sign_transformer"],
}


@pytest.mark.parametrize("task", sorted(EXPECTED_BY_TASK))
def test_list_architectures_by_task(task: str) -> None:
    assert list_architectures(task) == EXPECTED_BY_TASK[task]
    assert all(model_info(name).task == task for name in list_architectures(task))


def test_list_architectures_all_and_tables_task_enum() -> None:
    from studio.tables import Task

    assert list_architectures() == sorted(n for names in EXPECTED_BY_TASK.values() for n in names)
    assert list_architectures(Task.instance) == ["yolov8-seg"]  # the enum works as the string


@pytest.mark.parametrize(
    ("call", "fragments"),
    [
        # a typo of a model name: names the closest match and lists every known model
        (lambda: create_model("unett", num_classes=2), ["unknown model 'unett'", "did you mean 'unet'", "deeplabv3plus",
                                                        "sign_transformer", "yolov8-seg"]),
        # a name with no close match still lists the known ones
        (lambda: model_info("vit_huge"), ["unknown model 'vit_huge'", "resnet18", "small_cnn"]),
        # an smp-style backbone name given in torchvision spelling: closest is the smp name
        (lambda: create_model("unet", num_classes=2, backbone="efficientnet_b0"),
         ["unknown backbone 'efficientnet_b0'", "did you mean 'efficientnet-b0'", "resnet18, resnet34, resnet50, "
          "mobilenet_v2, efficientnet-b0"]),
        # a YOLO size that does not exist
        (lambda: create_model("yolov8-seg", num_classes=2, backbone="x"), ["unknown backbone 'x'", "n, s, m"]),
        # a backbone for a model without a backbone choice
        (lambda: create_model("resnet18", num_classes=2, backbone="resnet34"), ["resnet18 has no backbone choice"]),
        # an option the architecture does not have: names the accepted ones
        (lambda: create_model("deeplabv3plus", num_classes=2, output_strid=8), ["unknown option 'output_strid'",
                                                                                "did you mean 'output_stride'",
                                                                                "output_stride=16"]),
        # an output stride smp does not support
        (lambda: create_model("deeplabv3plus", num_classes=2, output_stride=32), ["output_stride must be 8 or 16"]),
        # num_classes must be a positive integer
        (lambda: create_model("small_cnn", num_classes=0), ["num_classes must be an integer >= 1, got 0"]),
        (lambda: create_model("small_cnn", num_classes=2.0), ["num_classes must be an integer >= 1, got 2.0"]),
        # an unknown task
        (lambda: list_architectures("detection"), ["task 'detection'", "semantic, instance, classification, sequence"]),
        # a model without pretrained weights asked for them
        (lambda: create_model("sign_gru", num_classes=3, pretrained=True), ["sign_gru has no pretrained weights"]),
        # a pretrained path that does not exist
        (lambda: create_model("resnet18", num_classes=3, pretrained="/nonexistent/r18.pth"),
         ["/nonexistent/r18.pth does not exist"]),
    ],
)
def test_loud_failures_name_the_known_values(call, fragments: list[str]) -> None:
    with pytest.raises(InvalidInput) as err:
        call()
    message = str(err.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_backbone_defaults_and_own_name() -> None:
    assert model_info("unet").default_backbone == "resnet34"
    assert create_model("unet", num_classes=2).studio_config["backbone"] == "resnet34"
    # a model without backbone choice accepts its own name (model-store names repeat it)
    model = create_model("small_cnn", num_classes=2, backbone="small_cnn")
    assert model.studio_config == {"architecture": "small_cnn", "backbone": "", "num_classes": 2,
                                   "options": {"channels": (16, 32, 64, 128), "dropout": 0.1}}


def test_duplicate_registration_is_refused() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        @register_architecture("unet", task="semantic", input=image_input(), output="-")
        def again(*, num_classes: int, backbone: None, pretrained: bool) -> torch.nn.Module:
            raise AssertionError


@pytest.mark.parametrize(
    ("name", "backbone", "options", "expected"),
    [
        # UNet: ImageNet normalisation, pad to 32
        ("unet", "resnet18", {}, {"task": "semantic", "input_kind": "image", "layout": "BCHW", "channel_order": "RGB",
                                  "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD), "size_multiple": 32,
                                  "resize": "pad", "backbone": "resnet18"}),
        # DeepLabV3+ default output stride 16 -> multiple 16
        ("deeplabv3plus", None, {}, {"size_multiple": 16, "backbone": "resnet34"}),
        # output stride 8 -> multiple 8
        ("deeplabv3plus", "mobilenet_v2", {"output_stride": 8}, {"size_multiple": 8, "backbone": "mobilenet_v2"}),
        # YOLO: [0, 1] input, no mean/std, letterbox, multiple 32
        ("yolov8-seg", "s", {}, {"task": "instance", "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0],
                                 "size_multiple": 32, "resize": "letterbox", "backbone": "s"}),
        # classifier: any size, resized
        ("resnet50", None, {}, {"task": "classification", "size_multiple": 1, "resize": "resize", "backbone": ""}),
        # keypoints: no channels, no normalisation here
        ("sign_transformer", None, {}, {"task": "sequence", "input_kind": "keypoints", "layout": "BTD",
                                        "channel_order": None, "mean": None, "std": None, "input_range": None}),
        # clips: frames normalised like images
        ("frame_cnn_gru", None, {}, {"input_kind": "clip", "layout": "BTCHW", "mean": list(IMAGENET_MEAN)}),
    ],
)
def test_preprocessing_dict(name: str, backbone: str | None, options: dict, expected: dict) -> None:
    prep = preprocessing(name, backbone, **options)
    assert json.loads(json.dumps(prep)) == prep  # JSON-ready: it is written as preprocessing.json
    assert prep["format"] == "studio.preprocessing/1" and prep["architecture"] == name and prep["dtype"] == "float32"
    assert set(prep) == {"format", "architecture", "backbone", "task", "input_kind", "layout", "dtype", "channel_order",
                         "input_range", "mean", "std", "size_multiple", "min_size", "resize", "output"}
    for key, value in expected.items():
        assert prep[key] == value, key
    assert model_info(name).size_multiple(**options) == prep["size_multiple"]


@pytest.mark.parametrize(
    ("shape", "multiple", "pads"),
    [
        ((1, 3, 50, 70), 32, (14, 26)),  # both sides padded
        ((2, 1, 64, 33), 32, (0, 31)),  # only the width
        ((3, 48, 48), 16, (0, 0)),  # already a multiple: unchanged, no batch dim
        ((5, 7), 8, (3, 1)),  # a bare (H, W) mask
    ],
)
def test_pad_to_multiple_and_crop(shape: tuple[int, ...], multiple: int, pads: tuple[int, int]) -> None:
    x = torch.randn(shape)
    padded, got = pad_to_multiple(x, multiple)
    assert got == pads
    assert padded.shape[-2] % multiple == 0 and padded.shape[-1] % multiple == 0
    assert torch.equal(padded[..., : shape[-2], : shape[-1]], x)  # top-left content unchanged
    assert torch.equal(crop_padding(padded, got), x)


def test_segmentation_runs_on_any_image_size_via_padding() -> None:
    torch.manual_seed(0)
    model = create_model("deeplabv3plus", num_classes=3, backbone="resnet18").eval()
    x = torch.randn(1, 3, 37, 53)
    with pytest.raises(InvalidInput, match="divisible by 16, got 37x53"):
        check_size("deeplabv3plus", 37, 53)
    padded, pads = pad_to_multiple(x, preprocessing("deeplabv3plus")["size_multiple"])
    check_size("deeplabv3plus", *padded.shape[-2:])
    with torch.no_grad():
        y = crop_padding(model(padded), pads)
    assert y.shape == (1, 3, 37, 53)


def test_check_size_min_and_options() -> None:
    check_size("deeplabv3plus", 40, 40, output_stride=8)
    with pytest.raises(InvalidInput, match="divisible by 16"):
        check_size("deeplabv3plus", 40, 40)
    with pytest.raises(InvalidInput, match="expected H and W >= 32, got 16x16"):
        check_size("unet", 16, 16)


def test_image_to_tensor_normalises_rgb() -> None:
    image = np.zeros((4, 6, 3), np.uint8)
    image[..., 0] = 255  # pure red
    x = image_to_tensor(image, preprocessing("unet"))
    assert x.shape == (1, 3, 4, 6) and x.dtype == torch.float32
    expected = [(1 - IMAGENET_MEAN[0]) / IMAGENET_STD[0], -IMAGENET_MEAN[1] / IMAGENET_STD[1],
                -IMAGENET_MEAN[2] / IMAGENET_STD[2]]
    assert torch.allclose(x[0, :, 2, 3], torch.tensor(expected), atol=1e-6)
    assert torch.allclose(image_to_tensor(image, preprocessing("yolov8-seg"))[0, :, 0, 0], torch.tensor([1.0, 0, 0]))
    with pytest.raises(InvalidInput, match=r"expected \(H, W, 3\) uint8 RGB, got shape \(4, 6\)"):
        image_to_tensor(image[..., 0], preprocessing("unet"))
