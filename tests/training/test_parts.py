"""Training parts that need no network: config, losses, schedule, data from a dataset version."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from studio.errors import InvalidInput
from studio.training.config import TrainConfig
from studio.training.losses import DiceLoss, FocalLoss, auto_class_weights, build_loss
from studio.training.optim import build_optimizer, build_scheduler, lr_factor


# ---- config ------------------------------------------------------------------------------

def test_config_round_trips_through_yaml(tmp_path: Path) -> None:
    config = TrainConfig(architecture="deeplabv3plus", backbone="resnet18", epochs=3, lr=3e-4,
                         model_kwargs={"output_stride": 8}, augment={"hflip": 0.5})
    again = TrainConfig.from_yaml(config.save(tmp_path / "config.yaml"))
    assert again == config
    assert TrainConfig.from_yaml(tmp_path / "config.yaml", epochs=7, lr=None).epochs == 7  # None does not override


@pytest.mark.parametrize("fields, message", [
    ({"optimiser": "sgd"}, r"unknown field\(s\) optimiser \(did you mean optimizer\?\)"),  # typo in a key
    ({"optimizer": "lion"}, "config optimizer: 'lion'; expected one of adam, adamw, sgd"),  # unknown choice
    ({"image_size": 250}, "multiple of 32"),  # segmentation nets downsample by 32
    ({"epochs": 0}, "config epochs: 0; expected a positive integer"),
    ({"lr": -1.0}, "expected lr > 0"),
    ({"class_weights": "balanced"}, "expected a list of numbers, 'auto' or null"),
    ({"augment": {"blur": 1}}, r"config augment: unknown \['blur'\]"),
])
def test_bad_configs_name_the_field(fields: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        TrainConfig.from_dict(fields)


# ---- losses -------------------------------------------------------------------------------

def test_focal_with_gamma_0_is_cross_entropy_and_ignores_255() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 5, 6)
    target = torch.randint(0, 4, (2, 5, 6))
    target[0, 0, :] = 255
    expected = F.cross_entropy(logits, target, ignore_index=255)
    assert torch.allclose(FocalLoss(gamma=0.0)(logits, target), expected, atol=1e-6)
    assert FocalLoss(gamma=2.0)(logits, target) < expected  # easy pixels are down-weighted


def test_dice_is_zero_for_a_perfect_prediction_and_ignores_ignored_pixels() -> None:
    target = torch.zeros(1, 8, 8, dtype=torch.long)
    target[0, 2:6, 2:6] = 2
    perfect = F.one_hot(target, 3).permute(0, 3, 1, 2).float() * 100
    assert DiceLoss(eps=1e-6)(perfect, target) < 1e-4
    wrong = perfect.clone()
    wrong[0, :, 0, :] = torch.tensor([0.0, 100.0, 0.0])[:, None]  # row 0 predicted as class 1
    # class 0: 40 of its 48 pixels kept -> dice 80/88; class 2 perfect; class 1 absent from the truth
    assert float(DiceLoss(eps=1e-6)(wrong, target)) == pytest.approx(1 - (80 / 88 + 1) / 2, abs=1e-4)
    ignored = target.clone()
    ignored[0, 0, :] = 255  # ...unless that row is ignored
    assert DiceLoss(eps=1e-6)(wrong, ignored) < 1e-4


def test_losses_by_name_and_weights() -> None:
    assert auto_class_weights(np.array([100, 25, 0])) == pytest.approx([2 / 3, 4 / 3, 1.0], rel=1e-5)
    logits, target = torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))
    for name in ("ce", "focal", "dice", "compound"):
        assert torch.isfinite(build_loss(name, 3, class_weights=[1.0, 2.0, 0.5])(logits, target))
    with pytest.raises(InvalidInput, match="one per output"):
        build_loss("ce", 3, class_weights=[1.0])
    with pytest.raises(InvalidInput, match="needs per-pixel targets"):
        build_loss("dice", 3, segmentation=False)


# ---- schedule ------------------------------------------------------------------------------

@pytest.mark.parametrize("scheduler, expected", [
    # factor of lr at steps 0, 10 (end of warmup / epoch 1), 50 (mid), 99 (last step); 10 steps per epoch
    ("cosine", [0.1, 1.0, 0.5 * (1 + np.cos(np.pi * 40 / 90)), 0.0]),  # 40 of 90 steps after warmup
    ("step", [1.0, 1.0, 0.25, 0.125]),  # halves every 2 epochs: epoch 5 -> 0.5**2; floored at min_lr
    ("exponential", [1.0, 0.5, 0.5**5, 0.5**9.9]),
    ("none", [1.0, 1.0, 1.0, 1.0]),
])
def test_schedules(scheduler: str, expected: list[float]) -> None:
    config = TrainConfig(epochs=10, lr=1.0, min_lr=0.0 if scheduler != "step" else 0.125, scheduler=scheduler,
                         warmup_epochs=1, step_size=2, gamma=0.5)
    got = [lr_factor(config, step, 10) for step in (0, 10, 50, 99)]
    assert got == pytest.approx(expected, abs=0.02)


def test_scheduler_state_resumes_exactly() -> None:
    config = TrainConfig(epochs=5, lr=0.1, scheduler="cosine")
    model = torch.nn.Linear(2, 2)
    optimizer = build_optimizer(model.parameters(), config)
    scheduler = build_scheduler(optimizer, config, steps_per_epoch=4)
    for _ in range(7):
        optimizer.step()
        scheduler.step()
    again_opt = build_optimizer(model.parameters(), config)
    again = build_scheduler(again_opt, config, steps_per_epoch=4)
    again.load_state_dict(scheduler.state_dict())
    again_opt.load_state_dict(optimizer.state_dict())
    assert again_opt.param_groups[0]["lr"] == pytest.approx(optimizer.param_groups[0]["lr"])


# ---- data ----------------------------------------------------------------------------------

@pytest.fixture
def version(studio_env: dict[str, str], tmp_path: Path):  # noqa: ANN201
    from studio.datasets import ingest_doc, snapshot
    from studio.demo import generate_demo
    from studio.training.data import load_version

    ingest_doc(generate_demo(tmp_path / "demo", n_images=4, seed=3), dataset="shelves")
    return load_version("shelves", snapshot("shelves").version)


def test_label_maps_and_datasets_follow_the_masks(version) -> None:  # noqa: ANN001
    from studio import masks
    from studio.training.data import CropDataset, SegmentationDataset, label_map

    sample = version.samples[0]
    labels = label_map(sample)
    assert labels.shape == (sample.height, sample.width)
    for index, rle, _ in sample.objects:
        assert (labels[masks.decode(rle).astype(bool)] == index).all()  # demo products never overlap
    assert (labels == 0).mean() > 0.3  # background stays 0

    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    seg = SegmentationDataset(version.samples, 128, mean, std, augment={"hflip": 1.0}, seed=1)
    image, label = seg[0]
    assert image.shape == (3, 128, 128) and image.dtype == torch.float32 and label.dtype == torch.int64
    assert (label[96:] == 255).all()  # 640x480 -> 128x96 content, padding ignored
    unflipped = SegmentationDataset(version.samples, 128, mean, std)[0][1]
    assert torch.equal(label[:96], unflipped[:96].flip(-1))  # hflip p=1 mirrors the labels

    crops = CropDataset(version.samples, [c["index"] for c in version.classes], 64, mean, std)
    assert len(crops) == sum(len(s.objects) for s in version.samples)
    assert crops[0][0].shape == (3, 64, 64) and 0 <= int(crops[0][1]) < len(version.classes)


def test_augmentation_depends_only_on_seed_epoch_and_index(version) -> None:  # noqa: ANN001
    from studio.training.data import EpochShuffle, SegmentationDataset

    aug = {"hflip": 0.5, "rotate": 20.0, "color_jitter": 0.3}
    a = SegmentationDataset(version.samples, 96, (0.5,) * 3, (0.2,) * 3, augment=aug, seed=4)
    b = SegmentationDataset(version.samples, 96, (0.5,) * 3, (0.2,) * 3, augment=aug, seed=4)
    a.set_epoch(3)
    b.set_epoch(3)
    assert torch.equal(a[2][0], b[2][0]) and torch.equal(a[1][1], b[1][1])  # same epoch, same sample
    b.set_epoch(4)
    assert not torch.equal(a[2][0], b[2][0])  # the next epoch differs
    sampler = EpochShuffle(10, seed=4)
    sampler.set_epoch(2)
    first = list(sampler)
    sampler.set_epoch(2)
    assert list(sampler) == first and sorted(first) == list(range(10))


def test_train_val_split_without_val_images(version) -> None:  # noqa: ANN001
    for sample in version.samples:
        sample.split = "train"
    train, val = version.train_val()
    assert val and train and not {s.key for s in train} & {s.key for s in val}
    assert version.train_val()[1] == val  # deterministic
