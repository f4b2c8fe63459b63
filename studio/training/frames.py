"""Training the frame-CNN + GRU sign model (``frame_cnn_gru``) on raw-frame clips (task "sequence",
``config.dataset`` = a clip dataset of studio.frame_clips; ``dataset_version`` its version number).

Every clip is resampled to ``config.sequence_length`` frames (evenly spaced in time, nearest
frame) and every frame resized to ``config.image_size`` squared (the aspect is not kept: exactly
what the live ClipRecognizer does to camera frames), then normalised with the model's mean/std.
Batches are ``(x (B, T, 3, S, S) float32, lengths (B,), gloss (B,), category (B,))`` and go
through the same SequenceSetup (loss, gloss / category metrics) as keypoint sequences.

Augmentation (train split, from ``config.augment``; the same for every frame of a clip, so the
motion is kept): ``color_jitter`` (brightness and contrast factors in [1 - s, 1 + s]) and
``scale`` (a random crop keeping at least that fraction of each side, resized back). Flips and
rotations are not applied: a mirrored sign is another sign.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from studio.errors import InvalidInput
from studio.training.config import TrainConfig
from studio.training.data import sample_seed
from studio.training.tasks import _class_weights


def clip_tensor(frames: np.ndarray, length: int, size: int) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (length, size, size, 3) uint8: frames evenly spaced in time (nearest),
    each resized to size x size."""
    import cv2

    picks = np.linspace(0, len(frames) - 1, length).round().astype(np.int64)
    out = np.empty((length, size, size, 3), np.uint8)
    for k, t in enumerate(picks):
        frame = frames[t]
        shrink = frame.shape[0] > size or frame.shape[1] > size
        out[k] = cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return out


def prepared_clip(frames: np.ndarray, length: int, size: int, mean: tuple[float, ...],
               std: tuple[float, ...]) -> np.ndarray:
    """(T, H, W, 3) uint8 clip -> (length, 3, size, size) float32: :func:`clip_tensor`, then / 255
    and normalised with ``mean`` / ``std`` (what a validation item of :class:`FrameClipDataset` is;
    evaluation reads clips this way)."""
    return normalise_clip(clip_tensor(frames, length, size).astype(np.float32) / 255.0, mean, std)


def normalise_clip(x: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """(T, S, S, 3) float32 in [0, 1] -> (T, 3, S, S) float32 normalised with ``mean`` / ``std``."""
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)


class FrameClipDataset(Dataset):
    """Clips held in memory as uint8: items ``(frames (T, 3, S, S) float32, T, gloss, category)``."""

    def __init__(self, clips: np.ndarray, glosses: np.ndarray, categories: np.ndarray, mean: tuple[float, ...],
                 std: tuple[float, ...], *, augment: dict[str, float] | None = None, seed: int = 0) -> None:
        self.clips, self.glosses, self.categories = clips, glosses, categories
        self.mean, self.std = tuple(mean), tuple(std)
        augment = augment or {}
        self.jitter = float(augment.get("color_jitter", 0.0) or 0.0)
        self.scale = float(augment.get("scale", 1.0) or 1.0)
        if not 0 < self.scale <= 1:
            raise InvalidInput(f"augment scale: {self.scale}; expected a minimum crop fraction in (0, 1]")
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int, int]:
        x = self.clips[i].astype(np.float32) / 255.0  # (T, S, S, 3)
        if self.jitter or self.scale < 1:
            import cv2

            rng = np.random.default_rng(sample_seed(self.seed, self.epoch, i))
            if self.scale < 1:
                size = x.shape[1]
                side = int(round(size * rng.uniform(self.scale, 1.0)))
                y0, x0 = (int(rng.integers(0, size - side + 1)) for _ in range(2))
                x = np.stack([cv2.resize(f[y0:y0 + side, x0:x0 + side], (size, size), interpolation=cv2.INTER_LINEAR)
                              for f in x])
            if self.jitter:
                brightness, contrast = rng.uniform(1 - self.jitter, 1 + self.jitter, 2)
                mean = x.mean()
                x = np.clip((x - mean) * contrast + mean * brightness, 0.0, 1.0)
        tensor = torch.from_numpy(normalise_clip(x, self.mean, self.std))
        return tensor, int(tensor.shape[0]), int(self.glosses[i]), int(self.categories[i])


def collate_clips(items: list[tuple[torch.Tensor, int, int, int]]
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Items -> ``(x (B, T, 3, S, S), lengths (B,), gloss (B,), category (B,))`` (zero padding at the end)."""
    steps = max(int(t) for _, t, _, _ in items)
    x = torch.zeros(len(items), steps, *items[0][0].shape[1:])
    for b, (frames, t, _, _) in enumerate(items):
        x[b, :t] = frames[:t]
    return (x, torch.tensor([t for _, t, _, _ in items], dtype=torch.int64),
            torch.tensor([g for _, _, g, _ in items], dtype=torch.int64),
            torch.tensor([c for _, _, _, c in items], dtype=torch.int64))


def _arrays(clips: list[Any], length: int, size: int, glosses: list[str],
            categories: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    gloss_index = {g: k for k, g in enumerate(glosses)}
    category_index = {c: k for k, c in enumerate(categories)}
    frames = [clip_tensor(c.load(), length, size) for c in clips]
    return (np.stack(frames) if frames else np.zeros((0, length, size, size, 3), np.uint8),
            np.array([gloss_index[c.gloss] for c in clips], np.int64),
            np.array([category_index.get(c.category, -1) if c.category else -1 for c in clips], np.int64))


def prepare_frames(config: TrainConfig) -> Any:
    """The SequenceSetup of ``config`` (a raw-frame architecture) from a clip dataset version."""
    from studio.frame_clips import CLIP_ARCHITECTURES, snapshot, version_info
    from studio.nets import create_model, preprocessing
    from studio.training.sequence_task import (CATEGORY_WEIGHT, IMAGE_NET_DEFAULT_BACKBONE, SequenceLoss,
                                               SequenceSetup, _gloss_loss)

    if config.architecture not in CLIP_ARCHITECTURES:
        raise InvalidInput(f"architecture {config.architecture!r} does not read raw frames; expected one of "
                           f"{', '.join(CLIP_ARCHITECTURES)}")
    if config.backbone == IMAGE_NET_DEFAULT_BACKBONE:
        config.backbone = ""
    if config.backbone:
        raise InvalidInput(f"{config.architecture} has no backbone; expected backbone '' (got {config.backbone!r})")
    if not config.dataset:
        raise InvalidInput("config dataset is empty; expected the name of a frame clip dataset")
    if config.image_size < 8:
        raise InvalidInput(f"config image_size: {config.image_size}; expected at least 8 pixels per frame side")
    if config.dataset_version is None:
        config.dataset_version = snapshot(config.dataset, note="taken for training")
    version = version_info(config.dataset, config.dataset_version)
    if len(version.glosses) < 2:
        raise InvalidInput(f"{version.label} has {len(version.glosses)} gloss(es); expected at least 2 to tell apart")
    train_clips, val_clips = version.split("train"), version.split("val")
    if not train_clips:
        raise InvalidInput(f"{version.label} has no clips in the train split")
    length, size = config.sequence_length, config.image_size
    kwargs = dict(config.model_kwargs)
    categories = list(version.categories)
    if "num_categories" in kwargs and kwargs["num_categories"] != (len(categories) or None):
        raise InvalidInput(f"model_kwargs num_categories={kwargs['num_categories']!r} does not match {version.label} "
                           f"({len(categories)} categories)")
    kwargs["num_categories"] = len(categories) or None
    model = create_model(config.architecture, num_classes=len(version.glosses), backbone=None,
                         pretrained=config.pretrained, **kwargs)
    pre = preprocessing(config.architecture)
    mean, std = tuple(pre["mean"]), tuple(pre["std"])
    train_x, train_g, train_c = _arrays(train_clips, length, size, version.glosses, categories)
    val_x, val_g, val_c = _arrays(val_clips, length, size, version.glosses, categories)
    train_set = FrameClipDataset(train_x, train_g, train_c, mean, std, augment=config.augment, seed=config.seed)
    val_set = FrameClipDataset(val_x, val_g, val_c, mean, std)
    weights = _class_weights(config, np.bincount(train_g, minlength=len(version.glosses)))
    classes = [{"name": g, "index": k, "color": None} for k, g in enumerate(version.glosses)]
    pre = {**pre, "image_size": size, "sequence_length": length, "tensor_layout": "BTCHW",
           "resize": "each frame resized to image_size x image_size (aspect not kept); a clip resampled to "
                     "sequence_length frames (nearest in time)"}
    metric_names = ["accuracy", "macro_f1"] + (["category_accuracy", "category_macro_f1"] if categories else [])
    setup = SequenceSetup(model, train_set, val_set, SequenceLoss(_gloss_loss(config, len(version.glosses), weights),
                                                                  CATEGORY_WEIGHT),
                          classes, pre, metric_names, config.dataset, None, task="sequence", ignore_index=-1,
                          image_input=False, collate=collate_clips,
                          extra_config={"model_kwargs": kwargs, "categories": categories,
                                        "frame_dataset": config.dataset, "frame_dataset_version": version.version})
    setup.categories = categories
    return setup
