"""Training data read from a dataset version (an immutable snapshot, never the live data).

Every random choice (shuffle order, augmentation) derives from (seed, epoch, sample index),
so a run resumed at an epoch boundary sees exactly the batches an uninterrupted run saw.

Image tensors are (3, S, S) float32, normalised with the model's mean/std; an image is
resized to fit S x S (aspect kept) and padded; padded label pixels are ``ignore_index``.
Semantic label maps are (S, S) int64: 0 = background, k = the class with index k, crowd
regions = ignore.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from studio import masks
from studio.errors import InvalidInput
from studio.images import load_rgb

PRELOAD_BUDGET_BYTES = 1_500_000_000  # images decoded once and kept when they fit in this


@dataclass
class Sample:
    """One image of a dataset version with its objects: (class index, RLE, iscrowd)."""

    key: str
    path: Path
    width: int
    height: int
    split: str
    objects: list[tuple[int, dict, bool]] = field(default_factory=list)


@dataclass
class VersionData:
    """What a trainer needs from a dataset version."""

    dataset: str
    version: int
    version_id: int
    classes: list[dict]  # [{name, index, color}] as the version froze them
    samples: list[Sample]

    def split(self, name: str) -> list[Sample]:
        return [s for s in self.samples if s.split == name]

    def train_val(self, val_fraction: float = 0.2) -> tuple[list[Sample], list[Sample]]:
        """The train and val samples; without val images, a deterministic ``val_fraction`` of
        train (by key hash) becomes val."""
        train, val = self.split("train"), self.split("val")
        if not val and len(train) > 1:
            val = [s for s in train if zlib.crc32(s.key.encode()) % 1000 < val_fraction * 1000] or train[-1:]
            train = [s for s in train if s not in val]
        if not train:
            raise InvalidInput(f"dataset {self.dataset} v{self.version} has no training images "
                               "(split 'train'); import or re-split some first")
        return train, val


def load_version(dataset: str, version: int) -> VersionData:
    """Read a dataset version (classes, images, accepted objects as frozen by the snapshot)."""
    from sqlmodel import select

    from studio.datasets import doc_from_version, get_dataset
    from studio.db import session_scope
    from studio.tables import DatasetVersion

    with session_scope() as session:
        doc = doc_from_version(session, dataset, version)
        ds = get_dataset(session, dataset)
        version_id = session.exec(select(DatasetVersion.id).where(DatasetVersion.dataset_id == ds.id,
                                                                  DatasetVersion.version == version)).one()
    index_of = {c.name: c.index for c in doc.classes}
    by_key = {i.key: Sample(i.key, i.path, i.width, i.height, i.split) for i in doc.images}  # type: ignore[arg-type]
    for a in doc.annotations:
        by_key[a.image_key].objects.append((index_of[a.class_name], a.rle, a.iscrowd))
    classes = [{"name": c.name, "index": c.index, "color": c.color} for c in doc.classes]
    return VersionData(dataset, version, int(version_id), classes, list(by_key.values()))


def label_map(sample: Sample, ignore_index: int = 255) -> np.ndarray:
    """(H, W) uint8 class-index map of a sample: larger objects painted first, so small ones
    stay visible where they overlap; crowd regions = ignore."""
    out = np.zeros((sample.height, sample.width), np.uint8)
    crowd = np.zeros_like(out, bool)
    order = sorted(sample.objects, key=lambda o: -masks.area(o[1]))
    for index, rle, iscrowd in order:
        mask = masks.decode(rle).astype(bool)
        if iscrowd:
            crowd |= mask
        else:
            out[mask] = index
    out[crowd] = ignore_index
    return out


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The RNG seed of one sample in one epoch (stable across processes and resumes)."""
    return (seed * 1_000_003 + epoch * 10_007 + index) % (2**31 - 1)


class EpochShuffle(Sampler[int]):
    """A permutation per epoch from (seed, epoch); ``set_epoch`` before iterating."""

    def __init__(self, n: int, seed: int, shuffle: bool = True) -> None:
        self.n, self.seed, self.shuffle, self.epoch = n, seed, shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):  # noqa: ANN204
        if not self.shuffle:
            return iter(range(self.n))
        return iter(np.random.default_rng([self.seed, self.epoch]).permutation(self.n).tolist())

    def __len__(self) -> int:
        return self.n


def build_augment(augment: dict[str, float], ignore_index: int):  # noqa: ANN201 (albumentations type)
    """albumentations pipeline from the config's ``augment`` dict (None when empty)."""
    import albumentations as A

    steps = []
    if augment.get("scale"):
        steps.append(A.Affine(scale=(float(augment["scale"]), 1.0), border_mode=cv2.BORDER_CONSTANT, fill=0,
                              fill_mask=ignore_index, p=0.5))
    if augment.get("hflip"):
        steps.append(A.HorizontalFlip(p=float(augment["hflip"])))
    if augment.get("vflip"):
        steps.append(A.VerticalFlip(p=float(augment["vflip"])))
    if augment.get("rotate"):
        steps.append(A.Rotate(limit=float(augment["rotate"]), border_mode=cv2.BORDER_CONSTANT, fill=0,
                              fill_mask=ignore_index, p=0.5))
    if augment.get("color_jitter"):
        s = float(augment["color_jitter"])
        steps.append(A.ColorJitter(brightness=s, contrast=s, saturation=s, hue=min(s / 4, 0.5), p=0.8))
    return A.Compose(steps, seed=0) if steps else None


def fit_square(image: np.ndarray, size: int, label: np.ndarray | None = None,
               ignore_index: int = 255) -> tuple[np.ndarray, np.ndarray | None, tuple[int, int]]:
    """Resize so the longer side is ``size`` (aspect kept) and pad bottom/right to size x size.
    Returns the padded image, label (padded with ``ignore_index``) and the content (h, w)."""
    h, w = image.shape[:2]
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    small = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    out = np.zeros((size, size, 3), np.uint8)
    out[:nh, :nw] = small
    lab = None
    if label is not None:
        lab = np.full((size, size), ignore_index, np.uint8)
        lab[:nh, :nw] = cv2.resize(label, (nw, nh), interpolation=cv2.INTER_NEAREST)
    return out, lab, (nh, nw)


def normalise(image: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float32 normalised."""
    x = image.astype(np.float32) / 255.0
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))


class _Preloaded:
    """Items computed once (when they fit the budget) and shared with forked workers."""

    def __init__(self, n: int, compute, item_bytes: int) -> None:  # noqa: ANN001
        self.compute = compute
        self.items: list | None = None
        if n * item_bytes <= PRELOAD_BUDGET_BYTES:
            self.items = [compute(i) for i in range(n)]

    def __getitem__(self, i: int):  # noqa: ANN204
        return self.items[i] if self.items is not None else self.compute(i)


class SegmentationDataset(Dataset):
    """(image (3,S,S) float32, label (S,S) int64) pairs for semantic segmentation."""

    def __init__(self, samples: list[Sample], size: int, mean: tuple[float, ...], std: tuple[float, ...], *,
                 augment: dict[str, float] | None = None, seed: int = 0, ignore_index: int = 255) -> None:
        self.samples, self.size, self.mean, self.std = samples, size, mean, std
        self.ignore_index, self.seed, self.epoch = ignore_index, seed, 0
        self.augment = build_augment(augment or {}, ignore_index)
        self._data = _Preloaded(len(samples), self._load, size * size * 4)

    def _load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        sample = self.samples[i]
        image, label, _ = fit_square(load_rgb(sample.path), self.size, label_map(sample, self.ignore_index),
                                     self.ignore_index)
        return image, label  # type: ignore[return-value]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, label = self._data[i]
        if self.augment is not None:
            self.augment.set_random_seed(sample_seed(self.seed, self.epoch, i))
            out = self.augment(image=image, mask=label)
            image, label = out["image"], out["mask"]
        return normalise(image, self.mean, self.std), torch.from_numpy(label.astype(np.int64))


def crop_box(bbox: list[float], width: int, height: int, margin: float = 0.1) -> tuple[int, int, int, int]:
    """An object's [x, y, w, h] box grown by ``margin`` on each side, clipped: (x0, y0, x1, y1)."""
    x, y, w, h = bbox
    mx, my = w * margin, h * margin
    x0, y0 = max(0, math.floor(x - mx)), max(0, math.floor(y - my))
    x1, y1 = min(width, math.ceil(x + w + mx)), min(height, math.ceil(y + h + my))
    return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)


class CropDataset(Dataset):
    """(image (3,S,S) float32, label int64) pairs: one per object, its box crop (with a 10%
    margin) resized to fit S x S; label = the position of its class in ``class_indices``."""

    def __init__(self, samples: list[Sample], class_indices: list[int], size: int, mean: tuple[float, ...],
                 std: tuple[float, ...], *, augment: dict[str, float] | None = None, seed: int = 0) -> None:
        position = {index: k for k, index in enumerate(class_indices)}
        self.items = [(s, masks.bbox(rle), position[index]) for s in samples
                      for index, rle, crowd in s.objects if not crowd and index in position]
        self.size, self.mean, self.std, self.seed, self.epoch = size, mean, std, seed, 0
        self.augment = build_augment({k: v for k, v in (augment or {}).items() if k != "scale"}, 0)
        self.labels = np.array([label for _, _, label in self.items], np.int64)
        self._data = _Preloaded(len(self.items), self._load, size * size * 3)

    def _load(self, i: int) -> np.ndarray:
        sample, bbox, _ = self.items[i]
        x0, y0, x1, y1 = crop_box(bbox, sample.width, sample.height)
        crop = load_rgb(sample.path)[y0:y1, x0:x1]
        return fit_square(crop, self.size)[0]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self._data[i]
        if self.augment is not None:
            self.augment.set_random_seed(sample_seed(self.seed, self.epoch, i))
            image = self.augment(image=image)["image"]
        return normalise(image, self.mean, self.std), torch.tensor(self.items[i][2])
