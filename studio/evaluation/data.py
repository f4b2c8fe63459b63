"""The data an evaluation scores: a split of an image dataset version (items with their
ground-truth objects, label maps in the model's class indices) or of a sequence dataset version
(keypoint clips, or raw-frame clips for frame_cnn_gru)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlmodel import select

from studio.db import get_row, session_scope
from studio.errors import InvalidInput
from studio.evaluation.metrics import IGNORE_INDEX
from studio.naming import data_version
from studio.tables import (
    Dataset,
    DatasetVersion,
    ModelVersion,
    VersionImage,
)

@dataclass
class SplitItem:
    """One image of a dataset version's split with its ground-truth objects."""

    version_image_id: int
    image_id: int | None  # the live image (None when it has been deleted since)
    key: str
    path: Path
    width: int
    height: int
    objects: list[tuple[int, dict, bool]] = field(default_factory=list)  # (dataset class index, RLE, iscrowd)


@dataclass
class SplitData:
    """A split of a dataset version: its classes (as frozen) and items in image order."""

    dataset_version_id: int
    dataset: str
    version: int
    split: str
    classes: list[dict[str, Any]]
    items: list[SplitItem]

    @property
    def label(self) -> str:
        return data_version(self.dataset, self.version)


def load_split(dataset_version_id: int, split: str) -> SplitData:
    """The images of ``split`` of a dataset version with their accepted objects; InvalidInput
    when the split is empty (the message lists the splits it has)."""
    from studio.training.data import load_version

    with session_scope() as session:
        dv = get_row(session, DatasetVersion, dataset_version_id,
                     f"no dataset version {dataset_version_id}; see `studio datasets`")
        dataset = session.get(Dataset, dv.dataset_id)
        rows = session.exec(select(VersionImage.id, VersionImage.image_id, VersionImage.file_name)
                            .where(VersionImage.version_id == dataset_version_id)).all()
        name, number = dataset.name, dv.version  # type: ignore[union-attr]
    data = load_version(name, number)
    ids = {file_name: (vid, image_id) for vid, image_id, file_name in rows}
    items = [SplitItem(ids[s.key][0], ids[s.key][1], s.key, s.path, s.width, s.height, list(s.objects))
             for s in data.samples if s.split == split]
    if not items:
        raise InvalidInput(f"split {split!r} of dataset version {dataset_version_id} ({data_version(name, number)}) has no images; "
                           f"expected at least one (its splits: {_split_counts((s.split for s in data.samples), 'images')})")
    return SplitData(dataset_version_id, name, number, split, data.classes, items)


def _split_counts(splits: Iterable[str], things: str) -> str:
    """"train 8, val 2" for the split of each item; "no <things> at all" when there are none."""
    return ", ".join(f"{k} {v}" for k, v in sorted(Counter(splits).items())) or f"no {things} at all"


def class_lut(model_classes: Sequence[dict[str, Any]], dataset_classes: Sequence[dict[str, Any]],
              what: str = "the model") -> np.ndarray:
    """(256,) uint8 map from dataset label values to the model's class indices by NAME
    (0 -> 0, 255 -> 255). InvalidInput naming dataset classes the model does not know."""
    by_name = {c["name"]: int(c["index"]) for c in model_classes}
    unknown = sorted(c["name"] for c in dataset_classes if c["name"] not in by_name)
    if unknown:
        raise InvalidInput(f"the dataset version has classes {unknown} that {what} does not know; expected only "
                           f"classes of {what}: {sorted(by_name)}")
    lut = np.full(256, IGNORE_INDEX, np.uint8)
    lut[0] = 0
    for c in dataset_classes:
        if 0 <= int(c["index"]) < 255:
            lut[int(c["index"])] = by_name[c["name"]]
    return lut


def ground_truth(item: SplitItem, lut: np.ndarray) -> np.ndarray:
    """(H, W) uint8 label map of an item in the model's class indices (255 = ignore)."""
    from studio.training.data import Sample, label_map

    sample = Sample(item.key, item.path, item.width, item.height, "", item.objects)
    return lut[label_map(sample, IGNORE_INDEX)]


@dataclass
class SequenceSplit:
    """A split of a sequence dataset version, what sequence models are evaluated on: keypoint
    clips (``input_kind`` "keypoints", ``dim`` values per frame) for keypoint sequence models, or
    raw-frame clips of a studio.frame_clips dataset ("clip", ``dim`` 0) for frame_cnn_gru."""

    dataset: str
    version: int
    split: str
    glosses: list[str]
    categories: list[str]
    dim: int
    clips: list[Any]  # studio.keypoints.dataset.Clip | studio.frame_clips.FrameClip
    input_kind: str = "keypoints"

    @property
    def label(self) -> str:
        return data_version(self.dataset, self.version)


def _model_sequence_dataset(version: ModelVersion) -> tuple[str | None, int | None]:
    """The sequence dataset (name, version number) a sequence model was trained on, as its config records it."""
    config = version.config if isinstance(version.config, dict) else {}
    name = config.get("keypoint_dataset") or config.get("dataset") or None
    number = config.get("keypoint_dataset_version")
    if number is None:
        number = config.get("dataset_version")
    return (str(name) if name else None), (int(number) if number is not None else None)


def load_sequence_split(version: ModelVersion, split: str, dataset_version: int | None = None,
                        dataset: str | None = None) -> SequenceSplit:
    """The clips of ``split`` of a sequence dataset version for the sequence model ``version``:
    ``dataset`` (default: the model's; a keypoint dataset, or a raw-frame clip dataset for
    frame_cnn_gru) at version NUMBER ``dataset_version`` (default: the model's when the dataset
    is the model's). InvalidInput when none is known or the split is empty (naming the splits
    it has)."""
    from studio.frame_clips import CLIP_ARCHITECTURES

    frames = version.architecture in CLIP_ARCHITECTURES
    kind = "clip dataset" if frames else "keypoint dataset"
    own_name, own_number = _model_sequence_dataset(version)
    name = dataset or own_name
    if not name:
        raise InvalidInput(f"model {version.name} records no {kind}; pass one (keypoint_dataset=...)")
    number = dataset_version if dataset_version is not None else (own_number if name == own_name else None)
    if number is None:
        raise InvalidInput(f"model {version.name} records no version of {kind} {name!r}; pass a version "
                           "number (--dataset-version N)")
    if frames:  # a FrameVersion and a KeypointVersion answer the same questions
        from studio.frame_clips import version_info as frame_version

        info: Any = frame_version(name, int(number))
        dim = 0
    else:
        from studio.keypoints.dataset import version_info

        info = version_info(name, int(number))
        dim = info.layout.dim
    clips = info.split(split)
    if not clips:
        raise InvalidInput(f"split {split!r} of {kind} {data_version(name, info.version)} has no clips; expected at "
                           f"least one (its splits: {_split_counts((c.split for c in info.clips), 'clips')})")
    return SequenceSplit(name, info.version, split, list(info.glosses), list(info.categories), dim, clips,
                         "clip" if frames else "keypoints")
