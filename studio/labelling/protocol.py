"""The labelling canvas's message format, version 1 (plan/workbench.md "The message format").

Three directions, each a set of frozen dataclasses:

* Python -> canvas: :class:`CanvasData`, built by :func:`canvas_data`, sent as the
  component's ``data`` (``CanvasData.to_json()``).
* canvas -> server (HTTP JSON under ``data.api``): requests parsed by ``from_json`` (which
  raises ``InvalidInput`` naming the message, the field and what was expected: unknown
  fields, missing ones, types, shapes, ranges; studio.labelling.api_requests, re-exported
  here); replies serialised by ``to_json``.
* canvas -> Streamlit (component triggers): :func:`parse_event` -> one of
  :class:`ChangedEvent`, :class:`SelectEvent`, :class:`ClassEvent`, :class:`OpenEvent`.

Masks always cross as COCO compressed RLE ``{"size": [h, w], "counts": str}`` (column-major,
pycocotools' string form); coordinates are image pixels (x right, y down), boxes XYXY.
Only shapes and ranges are checked here; whether a mask fits its image, a class belongs to
the dataset etc. is checked by the workspace (studio.label_workspace) against the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from studio.errors import InvalidInput
from studio.labelling.api_requests import (
    MAX_POINTS,
    MAX_SECONDS,
    SOURCES,
    STATUSES,
    AcceptRequest,
    CreateClassRequest,
    MaskRef,
    PredictionRef,
    PredictRequest,
    Source,
    Status,
    UpdateRequest,
)
from studio.labelling.fields import RLE, fields, integer, optional_integer

VERSION = 1
DEFAULT_OPACITY = 0.45


# ------------------------------------------------------------------------------ replies


class _ClassLike(Protocol):
    id: int | None
    name: str
    color: str


class _AnnotationLike(Protocol):
    id: int
    class_id: int
    status: str
    source: str
    score: float | None
    rle: dict
    bbox: list[float]
    author: str
    version: int


@dataclass(frozen=True)
class ClassData:
    """A class as the canvas shows it. ``index`` is its 1-based place in the display order
    (key ``index`` picks it when <= 9), not the value in masks, which the canvas never needs."""

    id: int
    name: str
    index: int
    color: str

    @staticmethod
    def listed(classes: Sequence[_ClassLike]) -> tuple[ClassData, ...]:
        """``classes`` (in display order) numbered 1, 2, ..."""
        return tuple(ClassData(int(c.id), c.name, n, c.color) for n, c in enumerate(classes, start=1))  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "index": self.index, "color": self.color}


@dataclass(frozen=True)
class AnnotationData:
    """An annotation as the canvas draws it: mask as RLE, bbox [x, y, w, h]."""

    id: int
    class_id: int
    status: str
    source: str
    score: float | None
    rle: RLE
    bbox: tuple[float, float, float, float]
    author: str
    version: int = 1  # sent back with an edit: a stale one is refused (studio.annotations.StaleEdit)

    @staticmethod
    def of(view: _AnnotationLike) -> AnnotationData:
        return AnnotationData(view.id, view.class_id, view.status, view.source,
                              None if view.score is None else float(view.score), view.rle,
                              tuple(float(v) for v in view.bbox), view.author, int(view.version))  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "class_id": self.class_id, "status": self.status, "source": self.source,
                "score": self.score, "rle": self.rle, "bbox": list(self.bbox), "author": self.author,
                "version": self.version}


@dataclass(frozen=True)
class PredictReply:
    """Candidate masks (the segmenter's order) and scores; ``prediction`` names them for a
    later ``mask_input`` reference; ``ms``: server time of the prediction."""

    prediction: str
    masks: tuple[RLE, ...]
    scores: tuple[float, ...]
    ms: float

    def to_json(self) -> dict[str, Any]:
        return {"prediction": self.prediction, "masks": list(self.masks), "scores": list(self.scores),
                "ms": round(self.ms, 2)}


@dataclass(frozen=True)
class AnnotationReply:
    annotation: AnnotationData
    revision: int

    def to_json(self) -> dict[str, Any]:
        return {"annotation": self.annotation.to_json(), "revision": self.revision}


@dataclass(frozen=True)
class DeleteReply:
    deleted: int
    revision: int

    def to_json(self) -> dict[str, Any]:
        return {"deleted": self.deleted, "revision": self.revision}


@dataclass(frozen=True)
class ClassReply:
    """The new class and every class of the dataset in display order."""

    label: ClassData
    classes: tuple[ClassData, ...]
    revision: int

    def to_json(self) -> dict[str, Any]:
        return {"class": self.label.to_json(), "classes": [c.to_json() for c in self.classes],
                "revision": self.revision}


@dataclass(frozen=True)
class ErrorReply:
    """Every 4xx body: a sentence for people."""

    error: str

    def to_json(self) -> dict[str, Any]:
        return {"error": self.error}


# ---------------------------------------------------------------------- the canvas's data


@dataclass(frozen=True)
class ImageData:
    id: int
    url: str
    width: int
    height: int
    file_name: str
    status: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url, "width": self.width, "height": self.height,
                "file_name": self.file_name, "status": self.status}


@dataclass(frozen=True)
class DecoderData:
    """Where the browser gets SAM's exported decoder and the open image's embedding."""

    model_url: str
    embedding_url: str

    def to_json(self) -> dict[str, Any]:
        return {"model_url": self.model_url, "embedding_url": self.embedding_url}


@dataclass(frozen=True)
class SegmenterData:
    kind: Literal["sam", "fallback"]
    id: str
    name: str
    decoder: DecoderData | None  # None: every prompt goes through the server path

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "name": self.name,
                "decoder": None if self.decoder is None else self.decoder.to_json()}


@dataclass(frozen=True)
class PrefetchData:
    image_id: int
    url: str
    embedding_url: str | None

    def to_json(self) -> dict[str, Any]:
        return {"image_id": self.image_id, "url": self.url, "embedding_url": self.embedding_url}


@dataclass(frozen=True)
class CanvasData:
    """The component's ``data`` (see the module docstring)."""

    api: str
    assets: str
    image: ImageData | None
    classes: tuple[ClassData, ...]
    class_id: int | None
    annotations: tuple[AnnotationData, ...]
    revision: int
    segmenter: SegmenterData
    prefetch: tuple[PrefetchData, ...] = ()
    selected_id: int | None = None
    settings: dict[str, Any] = field(default_factory=lambda: {"opacity": DEFAULT_OPACITY})
    v: int = VERSION

    def to_json(self) -> dict[str, Any]:
        return {"v": self.v, "api": self.api, "assets": self.assets,
                "image": None if self.image is None else self.image.to_json(),
                "classes": [c.to_json() for c in self.classes], "class_id": self.class_id,
                "annotations": [a.to_json() for a in self.annotations], "revision": self.revision,
                "segmenter": self.segmenter.to_json(), "prefetch": [p.to_json() for p in self.prefetch],
                "selected_id": self.selected_id, "settings": dict(self.settings)}


class _ImageLike(Protocol):
    id: int
    file_name: str
    width: int
    height: int
    status: str


class _SegmenterLike(Protocol):
    id: str
    name: str
    kind: Literal["sam", "fallback"]


def canvas_data(*, api: str, assets: str, image: _ImageLike | None, classes: Sequence[_ClassLike],
                class_id: int | None, annotations: Sequence[_AnnotationLike], revision: int,
                segmenter: _SegmenterLike, prefetch: Sequence[_ImageLike] = (), selected_id: int | None = None,
                opacity: float = DEFAULT_OPACITY, browser_decoder: bool = True) -> CanvasData:
    """The canvas's data for one open image. URLs are built under ``api`` (the workspace's
    ``/studio-api/label/<token>``); SAM segmenters get a decoder entry (browser decoding)
    unless ``browser_decoder`` is False, the fallback none (server path)."""
    sam = segmenter.kind == "sam"

    def embedding_url(image_id: int) -> str | None:
        return f"{api}/embedding/{image_id}" if sam else None

    decoder = None
    if sam and browser_decoder and image is not None:
        decoder = DecoderData(f"{api}/decoder.onnx", f"{api}/embedding/{image.id}")
    return CanvasData(
        api=api, assets=assets,
        image=None if image is None else ImageData(image.id, f"{api}/image/{image.id}", image.width, image.height,
                                                   image.file_name, image.status),
        classes=ClassData.listed(classes), class_id=class_id,
        annotations=tuple(AnnotationData.of(a) for a in annotations), revision=revision,
        segmenter=SegmenterData(segmenter.kind, segmenter.id, segmenter.name, decoder),
        prefetch=tuple(PrefetchData(p.id, f"{api}/image/{p.id}", embedding_url(p.id)) for p in prefetch),
        selected_id=selected_id, settings={"opacity": float(opacity)})


# ------------------------------------------------------------------ canvas -> Streamlit


@dataclass(frozen=True)
class ChangedEvent:
    """Something was written over HTTP (accept, update, delete, new class): refresh the side panel."""

    revision: int


@dataclass(frozen=True)
class SelectEvent:
    annotation_id: int | None


@dataclass(frozen=True)
class ClassEvent:
    class_id: int


@dataclass(frozen=True)
class OpenEvent:
    image_id: int


CanvasEvent = ChangedEvent | SelectEvent | ClassEvent | OpenEvent


def parse_event(value: Any) -> CanvasEvent | None:
    """The component's trigger value -> an event; None for no event; InvalidInput otherwise."""
    if value is None:
        return None
    what = "canvas event"
    if not isinstance(value, dict) or "kind" not in value:
        raise InvalidInput(f"{what}: expected {{'kind': 'changed' | 'select' | 'class' | 'open', ...}}, "
                           f"got {value!r:.60}")
    kind = value["kind"]
    if kind == "changed":
        return ChangedEvent(integer(what, "revision", fields(what, value, ("kind", "revision"))["revision"], 0))
    if kind == "select":
        return SelectEvent(optional_integer(what, "annotation_id",
                                         fields(what, value, ("kind", "annotation_id"))["annotation_id"]))
    if kind == "class":
        return ClassEvent(integer(what, "class_id", fields(what, value, ("kind", "class_id"))["class_id"]))
    if kind == "open":
        return OpenEvent(integer(what, "image_id", fields(what, value, ("kind", "image_id"))["image_id"]))
    raise InvalidInput(f"{what}: kind must be changed, select, class or open, got {kind!r:.20}")


__all__ = [
    "MAX_POINTS", "MAX_SECONDS", "RLE", "SOURCES", "STATUSES", "VERSION", "AcceptRequest", "AnnotationData",
    "AnnotationReply", "CanvasData", "CanvasEvent", "ChangedEvent", "ClassData", "ClassEvent", "ClassReply",
    "CreateClassRequest", "DecoderData", "DeleteReply", "ErrorReply", "ImageData", "MaskRef", "OpenEvent",
    "PredictReply", "PredictRequest", "PredictionRef", "PrefetchData", "SegmenterData", "SelectEvent", "Source",
    "Status", "UpdateRequest", "canvas_data", "parse_event",
]
