"""Training on keypoint sequences (sign language): task "sequence".

``prepare_sequence(config)`` reads a version of the keypoint dataset ``config.dataset``
(studio.keypoints.dataset; taking a snapshot now when ``config.dataset_version`` is None, as
``ensure_snapshot`` does for image datasets), resamples every clip to
``config.sequence_length`` frames (linear in time) and builds a keypoint sequence net
(``sign_transformer`` / ``sign_gru``) with ``input_dim`` = the layout's D, one gloss output per
gloss of the version (classes = glosses, list order = output order) and a category head when
the clips carry categories.

Batches are ``(x (B, T, D) float32, lengths (B,) int64, gloss (B,) int64, category (B,) int64)``;
category -1 = the clip has none. Loss = gloss loss (``config.loss``: ce | focal, with class
weights and label smoothing) + ``CATEGORY_WEIGHT`` * cross-entropy of the category head.
Validation metrics: ``accuracy`` / ``macro_f1`` of the gloss head, and ``category_accuracy`` /
``category_macro_f1`` when there are categories.

Augmentation (train split only, from ``config.augment``): ``rotate`` (max degrees, every frame's
x, y rotated about the layout's origin) and ``scale`` (min factor s: coordinates scaled by a
factor in [s, 1/s]). ``hflip``, ``vflip`` and ``color_jitter`` do not apply to keypoints
(mirroring would turn clockwise signs into counter-clockwise ones) and are ignored.

Sequence nets have no backbone: ``config.backbone`` must be "" -- the TrainConfig default
("resnet34", meant for image nets) is cleared here so a config that never mentions a backbone
works.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from studio.errors import InvalidInput
from studio.naming import data_version
from studio.training.config import TrainConfig
from studio.training.data import sample_seed
from studio.training.tasks import TaskSetup, _class_weights

CATEGORY_WEIGHT = 0.5  # weight of the category loss next to the gloss loss
IMAGE_NET_DEFAULT_BACKBONE = TrainConfig.__dataclass_fields__["backbone"].default


class SequenceDataset(Dataset):
    """Clips resampled to ``length`` frames, held in memory: items ``(frames (T, D), T, gloss, category)``."""

    def __init__(self, frames: np.ndarray, glosses: np.ndarray, categories: np.ndarray, *,
                 augment: dict[str, float] | None = None, seed: int = 0) -> None:
        self.frames, self.glosses, self.categories = frames, glosses, categories
        self.rotate = float((augment or {}).get("rotate", 0.0))
        self.scale = float((augment or {}).get("scale", 1.0) or 1.0)
        if not 0 < self.scale <= 1:
            raise InvalidInput(f"augment scale: {self.scale}; expected a minimum factor in (0, 1] for keypoints")
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int, int]:
        x = self.frames[i]
        if self.rotate or self.scale < 1:
            rng = np.random.default_rng(sample_seed(self.seed, self.epoch, i))
            angle = math.radians(rng.uniform(-self.rotate, self.rotate))
            factor = math.exp(rng.uniform(math.log(self.scale), -math.log(self.scale)))
            c, s = math.cos(angle) * factor, math.sin(angle) * factor
            points = x.reshape(x.shape[0], -1, 3).copy()
            xs, ys = points[..., 0].copy(), points[..., 1]
            points[..., 0] = c * xs - s * ys
            points[..., 1] = s * xs + c * ys
            points[..., 2] *= factor
            x = points.reshape(x.shape)
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), x.shape[0], int(self.glosses[i]), \
            int(self.categories[i])


def collate_sequences(items: list[tuple[torch.Tensor, int, int, int]]
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Items -> ``(x (B, T, D), lengths (B,), gloss (B,), category (B,))`` (zero padding at the end)."""
    steps = max(int(t) for _, t, _, _ in items)
    x = torch.zeros(len(items), steps, items[0][0].shape[1])
    for b, (frames, t, _, _) in enumerate(items):
        x[b, :t] = frames[:t]
    return (x, torch.tensor([t for _, t, _, _ in items], dtype=torch.int64),
            torch.tensor([g for _, _, g, _ in items], dtype=torch.int64),
            torch.tensor([c for _, _, _, c in items], dtype=torch.int64))


class SequenceLoss(nn.Module):
    """gloss loss + weight * category cross-entropy (targets -1 ignored; no term when none is known)."""

    def __init__(self, gloss_loss: nn.Module, category_weight: float) -> None:
        super().__init__()
        self.gloss_loss, self.category_weight = gloss_loss, category_weight

    def forward(self, out: dict[str, torch.Tensor], gloss: torch.Tensor, category: torch.Tensor) -> torch.Tensor:
        loss = self.gloss_loss(out["gloss"], gloss)
        if "category" in out and self.category_weight and bool((category >= 0).any()):
            loss = loss + self.category_weight * F.cross_entropy(out["category"].float(), category, ignore_index=-1)
        return loss


class SequenceSetup(TaskSetup):
    """TaskSetup of keypoint sequence classification (gloss + optional category head)."""

    categories: list[str]

    def compute_loss(self, model: nn.Module, batch: Any, device: torch.device) -> torch.Tensor:
        x, lengths, gloss, category = (t.to(device, non_blocking=True) for t in batch)
        return self.loss.to(device)(model(x, lengths), gloss, category)  # .to: class weights follow the model

    @torch.no_grad()
    def evaluate(self, model: nn.Module, loader: Any, device: torch.device,
                 autocast: Any) -> tuple[float, dict[str, float]]:
        model.eval()
        self.loss.to(device)
        total, seen = 0.0, 0
        glosses, gloss_true, cats, cat_true = [], [], [], []
        for batch in loader:
            x, lengths, gloss, category = (t.to(device) for t in batch)
            with autocast:
                out = model(x, lengths)
                loss = self.loss(out, gloss, category)
            n = int(x.shape[0])
            total, seen = total + float(loss) * n, seen + n
            glosses.append(out["gloss"].argmax(1).cpu().numpy())
            gloss_true.append(gloss.cpu().numpy())
            if "category" in out:
                cats.append(out["category"].argmax(1).cpu().numpy())
                cat_true.append(category.cpu().numpy())
        return total / max(seen, 1), self.score_heads(np.concatenate(glosses), np.concatenate(gloss_true),
                                                      np.concatenate(cats) if cats else None,
                                                      np.concatenate(cat_true) if cat_true else None)

    def score_heads(self, gloss_pred: np.ndarray, gloss_true: np.ndarray, cat_pred: np.ndarray | None,
                    cat_true: np.ndarray | None) -> dict[str, float]:
        from studio.evaluation import classification_metrics

        result = classification_metrics(gloss_true.astype(np.int64), gloss_pred.astype(np.int64), len(self.classes))
        metrics = {"accuracy": float(result.accuracy), "macro_f1": float(result.macro_f1)}
        if self.categories:
            known = cat_true >= 0 if cat_true is not None else None
            if known is not None and known.any():
                cat = classification_metrics(cat_true[known].astype(np.int64), cat_pred[known].astype(np.int64),
                                             len(self.categories))
                metrics.update(category_accuracy=float(cat.accuracy), category_macro_f1=float(cat.macro_f1))
            else:
                metrics.update(category_accuracy=0.0, category_macro_f1=0.0)
        return metrics

    def score(self, predictions: np.ndarray, targets: np.ndarray) -> dict[str, float]:
        return self.score_heads(predictions, targets, None, None)


def _version(config: TrainConfig):  # noqa: ANN202
    from studio.keypoints.dataset import snapshot, version_info

    if not config.dataset:
        raise InvalidInput("config dataset is empty; expected the name of a keypoint dataset")
    if config.dataset_version is None:
        config.dataset_version = snapshot(config.dataset, note="taken for training")
    return version_info(config.dataset, config.dataset_version)


def _check_architecture(config: TrainConfig) -> None:
    from studio.nets import list_architectures, model_info

    names = [n for n in list_architectures("sequence") if model_info(n).input.kind == "keypoints"]
    if config.architecture not in names:
        raise InvalidInput(f"architecture {config.architecture!r} does not read keypoint sequences; expected one of "
                           f"{', '.join(names)}")
    if config.backbone == IMAGE_NET_DEFAULT_BACKBONE:
        config.backbone = ""
    if config.backbone:
        raise InvalidInput(f"{config.architecture} has no backbone; expected backbone '' (got {config.backbone!r})")


def _arrays(clips: list, length: int, glosses: list[str], categories: list[str]
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from studio.keypoints.layout import resample

    gloss_index = {g: i for i, g in enumerate(glosses)}
    category_index = {c: i for i, c in enumerate(categories)}
    frames = [resample(c.load(), length) for c in clips]
    dim = frames[0].shape[1] if frames else 0
    return (np.stack(frames) if frames else np.zeros((0, length, dim), np.float32),
            np.array([gloss_index[c.gloss] for c in clips], np.int64),
            np.array([category_index.get(c.category, -1) if c.category else -1 for c in clips], np.int64))


def prepare_sequence(config: TrainConfig) -> SequenceSetup:
    """The TaskSetup of ``config`` (task "sequence") from a keypoint dataset version (raw-frame
    architectures such as frame_cnn_gru: from a clip dataset, studio.training.frames)."""
    from studio.frame_clips import CLIP_ARCHITECTURES
    from studio.nets import create_model, preprocessing

    if config.architecture in CLIP_ARCHITECTURES:
        from studio.training.frames import prepare_frames

        return prepare_frames(config)
    _check_architecture(config)
    version = _version(config)
    layout = version.layout
    if not version.glosses:
        raise InvalidInput(f"keypoint dataset {data_version(config.dataset, version.version)} has no glosses "
                           "to learn")
    train_clips = version.split("train")
    val_clips = version.split("val")
    if not train_clips:
        raise InvalidInput(f"keypoint dataset {data_version(config.dataset, version.version)} has no clips in "
                           "the train split")
    length = config.sequence_length
    kwargs = dict(config.model_kwargs)
    for key, value in (("input_dim", layout.dim), ("num_categories", len(version.categories) or None)):
        if key in kwargs and kwargs[key] != value:
            raise InvalidInput(f"model_kwargs {key}={kwargs[key]!r} does not match the dataset "
                               f"({data_version(config.dataset, version.version)}: {key} {value})")
        kwargs[key] = value
    if "max_len" in kwargs and kwargs["max_len"] < length:
        raise InvalidInput(f"model_kwargs max_len={kwargs['max_len']} is below sequence_length {length}")
    model = create_model(config.architecture, num_classes=len(version.glosses), backbone=None,
                         pretrained=config.pretrained, **kwargs)
    train_x, train_g, train_c = _arrays(train_clips, length, version.glosses, version.categories)
    val_x, val_g, val_c = _arrays(val_clips, length, version.glosses, version.categories)
    train_set = SequenceDataset(train_x, train_g, train_c, augment=config.augment, seed=config.seed)
    val_set = SequenceDataset(val_x, val_g, val_c)
    weights = _class_weights(config, np.bincount(train_g, minlength=len(version.glosses)))
    gloss_loss = _gloss_loss(config, len(version.glosses), weights)
    classes = [{"name": g, "index": i, "color": None} for i, g in enumerate(version.glosses)]
    pre = {**preprocessing(config.architecture), "tensor_layout": "BTD", "layout": layout.name, "dim": layout.dim,
           "sequence_length": length, "keypoint_layout": layout.to_dict(),
           "resize": "resample each clip to sequence_length frames (linear in time)"}
    metric_names = ["accuracy", "macro_f1"] + (["category_accuracy", "category_macro_f1"] if version.categories else [])
    setup = SequenceSetup(model, train_set, val_set, SequenceLoss(gloss_loss, CATEGORY_WEIGHT), classes, pre,
                          metric_names, config.dataset, None, task="sequence", ignore_index=-1, image_input=False,
                          collate=collate_sequences,
                          extra_config={"model_kwargs": kwargs, "categories": list(version.categories),
                                        "layout": layout.to_dict(), "keypoint_dataset": config.dataset,
                                        "keypoint_dataset_version": version.version})
    setup.categories = list(version.categories)
    return setup


def _gloss_loss(config: TrainConfig, num_classes: int, weights: list[float] | None) -> nn.Module:
    from studio.training.losses import build_loss

    return build_loss(config.loss, num_classes, class_weights=weights, ignore_index=-1,
                      focal_gamma=config.focal_gamma, label_smoothing=config.label_smoothing, segmentation=False)
