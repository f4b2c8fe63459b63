"""Training data read from a dataset version (an immutable snapshot, never the live data).

Every random choice (shuffle order, augmentation) derives from (seed, epoch, sample index),
so a run resumed at an epoch boundary sees exactly the batches an uninterrupted run saw.

Image tensors are (3, S, S) float32, normalised with the model's mean/std; an image is
resized to fit S x S (aspect kept) and padded; padded label pixels are ``ignore_index``.
Semantic label maps are (S, S) int64: 0 = background, k = the class with index k, crowd
regions = ignore. On a CUDA run the datasets hand out uint8 pixels and the last steps (flips,
colour jitter (studio/training/augment.py), normalisation: :func:`finish_batch`) run on the GPU; the decoded and resized
pixels of a version come from its input cache (studio/training/cache.py).
"""

from __future__ import annotations

import functools
import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from studio import masks
from studio.errors import InvalidInput
from studio.images import load_rgb
from studio.training.augment import GEOMETRIC, Photometric, apply_photometric, build_augment

if TYPE_CHECKING:
    from studio.training.cache import InputCache

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
    """A permutation per epoch from (seed, epoch); ``set_epoch`` before iterating. With
    ``tag_epoch`` it yields ``(epoch, index)`` pairs, for :class:`EpochItems`."""

    def __init__(self, n: int, seed: int, shuffle: bool = True, tag_epoch: bool = False) -> None:
        self.n, self.seed, self.shuffle, self.epoch, self.tag_epoch = n, seed, shuffle, 0, tag_epoch

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):  # noqa: ANN204
        order = (np.random.default_rng([self.seed, self.epoch]).permutation(self.n).tolist() if self.shuffle
                 else range(self.n))
        if self.tag_epoch:
            epoch = self.epoch
            return iter([(epoch, i) for i in order])
        return iter(order)

    def __len__(self) -> int:
        return self.n


class EpochItems(Dataset):
    """``dataset`` indexed by ``(epoch, index)`` (from ``EpochShuffle(tag_epoch=True)``): a
    loader worker that lives across epochs holds its own copy of the dataset, which never sees
    the trainer's ``set_epoch``; the epoch riding along with every index keeps each sample's
    augmentation a function of (seed, epoch, index), however many workers and resumes."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: tuple[int, int]):  # noqa: ANN204
        epoch, i = index
        set_epoch = getattr(self.dataset, "set_epoch", None)
        if set_epoch is not None:
            set_epoch(epoch)
        return self.dataset[i]


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
    """(H, W, 3) uint8 -> (3, H, W) float32 normalised: x / 255 - mean) / std as one multiply and
    one subtract per channel, in numpy (one thread: per sample, torch's thread pool only costs)."""
    std32 = np.asarray(std, np.float32)
    scale = (1.0 / (255.0 * std32)).astype(np.float32)
    offset = (np.asarray(mean, np.float32) / std32).astype(np.float32)
    out = np.empty((3, *image.shape[:2]), np.float32)
    for c in range(3):
        np.multiply(image[..., c], scale[c], out=out[c])
        out[c] -= offset[c]
    return torch.from_numpy(out)


def finish_batch(x: torch.Tensor, y: torch.Tensor, params: torch.Tensor | None, mean: tuple[float, ...],
                 std: tuple[float, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """The last steps of the input pipeline on a batch, on whatever device it is on: x (B, 3,
    H, W) uint8 -> float32 in [0, 1], flips and colour jitter (``params``, or none), normalised
    with ``mean`` / ``std``; y -> int64. A CUDA run calls it after the (4x smaller) uint8 copy to
    the GPU; a CPU run calls it in the loader workers, one sample at a time."""
    xf = x.float().div_(255.0)
    if params is not None:
        xf, y = apply_photometric(xf, y, params)
    m, s = _mean_std(tuple(mean), tuple(std), str(xf.device))
    assert y is not None
    return (xf - m) / s, y.long()


@functools.lru_cache(maxsize=16)
def _mean_std(mean: tuple[float, ...], std: tuple[float, ...], device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(1, C, 1, 1) float32 mean and std on ``device``, copied there once."""
    return (torch.tensor(mean, dtype=torch.float32, device=device)[None, :, None, None],
            torch.tensor(std, dtype=torch.float32, device=device)[None, :, None, None])


class _Preloaded:
    """Items computed once (when they fit the budget) and shared with forked workers."""

    def __init__(self, n: int, compute, item_bytes: int) -> None:  # noqa: ANN001
        self.compute = compute
        self.items: list | None = None
        if n * item_bytes <= PRELOAD_BUDGET_BYTES:
            self.items = [compute(i) for i in range(n)]

    def __getitem__(self, i: int):  # noqa: ANN204
        return self.items[i] if self.items is not None else self.compute(i)


class _ImageItems(Dataset):
    """What the image datasets share: augmentation on uint8 pixels and the output form.
    ``device_side`` False (a CPU run): albumentations does all of ``augment`` and items are
    finished here, ``(image (3,S,S) float32 normalised, label int64)``. True (a CUDA run):
    albumentations does the geometric part (scale, rotate) and items are ``(image (3,S,S) uint8,
    label uint8/int64, params (N_PARAMS,) float32)``: flips, colour jitter and normalisation
    happen on the GPU (:func:`finish_batch`), on a quarter of the bytes to pin and copy."""

    def __init__(self, size: int, mean: tuple[float, ...], std: tuple[float, ...], augment: dict[str, float],
                 seed: int, fill_mask: int, device_side: bool) -> None:
        self.size, self.mean, self.std, self.seed, self.epoch = size, mean, std, seed, 0
        here = {k: v for k, v in augment.items() if k in GEOMETRIC} if device_side else augment
        self.augment = build_augment(here, fill_mask)
        self.photometric = Photometric.from_augment(augment) if device_side else None
        self.device_side = device_side

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _pixels(self, i: int) -> tuple[np.ndarray, np.ndarray | None]:
        raise NotImplementedError

    def _target(self, i: int, label: np.ndarray | None, wide: bool) -> torch.Tensor:
        """The item's target; ``wide``: int64 (else a label map stays uint8 for the copy to the GPU)."""
        raise NotImplementedError

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        image, label = self._pixels(i)
        seed = sample_seed(self.seed, self.epoch, i)
        if self.augment is not None:
            self.augment.set_random_seed(seed)
            out = self.augment(image=image, mask=label) if label is not None else self.augment(image=image)
            image, label = out["image"], out.get("mask", label)
        if self.device_side:
            x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
            params = torch.from_numpy(self.photometric.draw(seed)) if self.photometric else None
            return (x, self._target(i, label, False),
                    params if params is not None else torch.tensor([0, 0, 1, 1, 1, 0], dtype=torch.float32))
        return normalise(image, self.mean, self.std), self._target(i, label, True)


class SegmentationDataset(_ImageItems):
    """(image (3,S,S) float32, label (S,S) int64) pairs for semantic segmentation (see
    :class:`_ImageItems` for ``device_side``). With ``cache`` (a :class:`~studio.training.cache.
    InputCache` of the samples' version at ``size``) the decoded, resized pixels and label maps
    come from its memory-mapped files; without, they are decoded here (kept in memory when
    they fit ``PRELOAD_BUDGET_BYTES``)."""

    def __init__(self, samples: list[Sample], size: int, mean: tuple[float, ...], std: tuple[float, ...], *,
                 augment: dict[str, float] | None = None, seed: int = 0, ignore_index: int = 255,
                 cache: InputCache | None = None, device_side: bool = False) -> None:
        super().__init__(size, mean, std, augment or {}, seed, ignore_index, device_side)
        self.samples, self.ignore_index, self.cache = samples, ignore_index, cache
        if cache is not None:
            if cache.size != size:
                raise ValueError(f"input cache at {cache.size}², expected {size}²")
            self.rows = [cache.row(s.key) for s in samples]
            self._data = None
            cache.images, cache.labels  # noqa: B018 (mapped now: forked loader workers inherit the maps)
        else:
            self._data = _Preloaded(len(samples), self._decode, size * size * 4)

    def _decode(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        sample = self.samples[i]
        image, label, _ = fit_square(load_rgb(sample.path), self.size, label_map(sample, self.ignore_index),
                                     self.ignore_index)
        return image, label  # type: ignore[return-value]

    def _pixels(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if self.cache is not None:
            row = self.rows[i]
            return np.array(self.cache.images[row]), np.array(self.cache.labels[row])
        return self._data[i]  # type: ignore[index]

    def label(self, i: int) -> np.ndarray:
        """(S, S) uint8 label map of sample ``i`` (not augmented)."""
        return self._pixels(i)[1]

    def _target(self, i: int, label: np.ndarray | None, wide: bool) -> torch.Tensor:
        assert label is not None
        return torch.from_numpy(label.astype(np.int64) if wide else np.ascontiguousarray(label))

    def __len__(self) -> int:
        return len(self.samples)


def crop_box(bbox: list[float], width: int, height: int, margin: float = 0.1) -> tuple[int, int, int, int]:
    """An object's [x, y, w, h] box grown by ``margin`` on each side, clipped: (x0, y0, x1, y1)."""
    x, y, w, h = bbox
    mx, my = w * margin, h * margin
    x0, y0 = max(0, math.floor(x - mx)), max(0, math.floor(y - my))
    x1, y1 = min(width, math.ceil(x + w + mx)), min(height, math.ceil(y + h + my))
    return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)


class CropDataset(_ImageItems):
    """(image (3,S,S) float32, label int64) pairs: one per object, its box crop (with a 10%
    margin) resized to fit S x S; label = the position of its class in ``class_indices``
    (see :class:`_ImageItems` for ``device_side``)."""

    def __init__(self, samples: list[Sample], class_indices: list[int], size: int, mean: tuple[float, ...],
                 std: tuple[float, ...], *, augment: dict[str, float] | None = None, seed: int = 0,
                 device_side: bool = False) -> None:
        super().__init__(size, mean, std, {k: v for k, v in (augment or {}).items() if k != "scale"}, seed, 0,
                         device_side)
        position = {index: k for k, index in enumerate(class_indices)}
        self.items = [(s, masks.bbox(rle), position[index]) for s in samples
                      for index, rle, crowd in s.objects if not crowd and index in position]
        self.labels = np.array([label for _, _, label in self.items], np.int64)
        self._data = _Preloaded(len(self.items), self._decode, size * size * 3)

    def _decode(self, i: int) -> np.ndarray:
        sample, bbox, _ = self.items[i]
        x0, y0, x1, y1 = crop_box(bbox, sample.width, sample.height)
        crop = load_rgb(sample.path)[y0:y1, x0:x1]
        return fit_square(crop, self.size)[0]

    def _pixels(self, i: int) -> tuple[np.ndarray, None]:
        return self._data[i], None

    def _target(self, i: int, label: np.ndarray | None, wide: bool) -> torch.Tensor:
        return torch.tensor(self.items[i][2])

    def __len__(self) -> int:
        return len(self.items)
