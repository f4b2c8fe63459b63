"""The in-memory dataset every format converts to and from.

Importers build a ``DatasetDoc`` and validate it completely before anything touches the
database; exporters receive one read from the database. Masks are COCO RLE dicts with
``counts`` as a ``str`` (compressed), ``size`` = ``[height, width]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RLE = dict[str, Any]  # {"size": [h, w], "counts": str}


@dataclass(frozen=True)
class ClassRecord:
    name: str
    index: int  # value in masks / category id; unique within a doc
    color: str | None = None  # "#rrggbb"; None = assign one


@dataclass
class ImageRecord:
    key: str  # unique in the doc: the file name relative to the dataset root, "/" separated
    path: Path | None  # where the pixels are on disk (None: not available, e.g. JSON-only COCO)
    width: int
    height: int
    split: str = "train"


@dataclass
class AnnotationRecord:
    image_key: str
    class_name: str
    rle: RLE
    iscrowd: bool = False
    score: float | None = None
    source: str = "import"


@dataclass
class DatasetDoc:
    classes: list[ClassRecord] = field(default_factory=list)
    images: list[ImageRecord] = field(default_factory=list)
    annotations: list[AnnotationRecord] = field(default_factory=list)

    def class_by_name(self) -> dict[str, ClassRecord]:
        return {c.name: c for c in self.classes}

    def image_by_key(self) -> dict[str, ImageRecord]:
        return {i.key: i for i in self.images}

    def annotations_by_image(self) -> dict[str, list[AnnotationRecord]]:
        grouped: dict[str, list[AnnotationRecord]] = {i.key: [] for i in self.images}
        for ann in self.annotations:
            grouped.setdefault(ann.image_key, []).append(ann)
        return grouped


@dataclass
class ExportReport:
    """What an export wrote and how its read-back check went."""

    path: Path
    images: int
    annotations: int
    checked: int  # objects compared after re-reading the export
    min_iou: float  # 1.0 for exact (RLE / PNG) exports
    rle_fallbacks: int = 0  # polygon-mode COCO objects written as RLE because they have holes
    notes: list[str] = field(default_factory=list)
