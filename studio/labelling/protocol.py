"""The labelling canvas's message format, version 1 (plan/workbench.md "The message format").

Three directions, each a set of frozen dataclasses:

* Python -> canvas: :class:`CanvasData`, built by :func:`canvas_data`, sent as the
  component's ``data`` (``CanvasData.to_json()``).
* canvas -> server (HTTP JSON under ``data.api``): requests parsed by ``from_json`` (which
  raises ``InvalidInput`` naming the message, the field and what was expected: unknown
  fields, missing ones, types, shapes, ranges); replies serialised by ``to_json``.
* canvas -> Streamlit (component triggers): :func:`parse_event` -> one of
  :class:`ChangedEvent`, :class:`SelectEvent`, :class:`ClassEvent`, :class:`OpenEvent`.

Masks always cross as COCO compressed RLE ``{"size": [h, w], "counts": str}`` (column-major,
pycocotools' string form); coordinates are image pixels (x right, y down), boxes XYXY.
Only shapes and ranges are checked here; whether a mask fits its image, a class belongs to
the dataset etc. is checked by the workspace (studio.label_workspace) against the database.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from studio.errors import InvalidInput

VERSION = 1
MAX_POINTS = 64  # points of one prompt (an annotator clicks a handful)
MAX_SECONDS = 24 * 3600.0  # time spent on one object, as reported by the canvas
DEFAULT_OPACITY = 0.45
RLE = dict[str, Any]  # {"size": [h, w], "counts": str}
Source = Literal["sam", "fallback", "manual"]
Status = Literal["accepted", "rejected", "draft"]
SOURCES: tuple[Source, ...] = ("sam", "fallback", "manual")
STATUSES: tuple[Status, ...] = ("accepted", "rejected", "draft")
_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
_PREDICTION_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


# ------------------------------------------------------------------------ field readers


def _fields(what: str, value: Any, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """``value`` as a dict holding every ``required`` key and nothing outside required + optional."""
    expected = ", ".join([*required, *(f"{k} (optional)" for k in optional)])
    if not isinstance(value, dict):
        raise InvalidInput(f"{what}: expected a JSON object with {expected}; got {type(value).__name__}")
    unknown = sorted(str(k) for k in set(value) - set(required) - set(optional))
    if unknown:
        raise InvalidInput(f"{what}: unknown field(s) {', '.join(unknown)}; expected {expected}")
    missing = [k for k in required if k not in value]
    if missing:
        raise InvalidInput(f"{what}: missing field(s) {', '.join(missing)}; expected {expected}")
    return value


def _int(what: str, name: str, value: Any, minimum: int | None = 1) -> int:
    """An integer (JSON numbers like 3.0 are accepted, booleans are not), >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
        raise InvalidInput(f"{what}: {name} must be an integer, got {value!r:.40}")
    if minimum is not None and value < minimum:
        raise InvalidInput(f"{what}: {name} must be >= {minimum}, got {int(value)}")
    return int(value)


def _optional_int(what: str, name: str, value: Any, minimum: int | None = 1) -> int | None:
    return None if value is None else _int(what, name, value, minimum)


def _number(what: str, name: str, value: Any, low: float | None = None, high: float | None = None) -> float:
    """A finite number within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInput(f"{what}: {name} must be a finite number, got {value!r:.40}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise InvalidInput(f"{what}: {name} must be within [{low}, {high}], got {value}")
    return float(value)


def _choice(what: str, name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InvalidInput(f"{what}: {name} must be one of {', '.join(choices)}, got {value!r:.40}")
    return str(value)


def _rle(what: str, name: str, value: Any) -> RLE:
    """``{"size": [h, w], "counts": str}`` with h, w >= 1 (the runs are checked on decode)."""
    rle = _fields(f"{what}: {name}", value, ("size", "counts"))
    size = rle["size"]
    if (not isinstance(size, list) or len(size) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in size)):
        raise InvalidInput(f"{what}: {name}.size must be [height, width] (positive integers), got {size!r:.40}")
    if not isinstance(rle["counts"], str):
        raise InvalidInput(f"{what}: {name}.counts must be a COCO compressed RLE string, "
                           f"got {type(rle['counts']).__name__}")
    return {"size": [int(size[0]), int(size[1])], "counts": rle["counts"]}


def _xy(what: str, name: str, value: Any) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise InvalidInput(f"{what}: {name} must be [x, y], got {value!r:.40}")
    return _number(what, f"{name}[0]", value[0]), _number(what, f"{name}[1]", value[1])


# ----------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class PredictionRef:
    """``mask_input`` as a reference: candidate ``candidate`` of an earlier server-path
    prediction of this workspace (its low-res logits are kept server-side)."""

    prediction: str
    candidate: int


@dataclass(frozen=True)
class MaskRef:
    """``mask_input`` as a mask (a selected annotation, a brush-edited mask): RLE of the image's size."""

    rle: RLE


@dataclass(frozen=True)
class PredictRequest:
    """``POST predict``: points (N, 2) with labels (N,) 1 / 0, at most one box XYXY, all in
    image pixels; ``multimask``: 3 candidates (first step) or 1 (refinement)."""

    image_id: int
    points: tuple[tuple[float, float], ...]
    labels: tuple[int, ...]
    box: tuple[float, float, float, float] | None
    multimask: bool
    mask_input: PredictionRef | MaskRef | None

    @staticmethod
    def from_json(value: Any) -> PredictRequest:
        what = "predict request"
        body = _fields(what, value, ("image_id", "points", "labels"), ("box", "multimask", "mask_input"))
        raw_points, raw_labels = body["points"], body["labels"]
        if not isinstance(raw_points, list) or len(raw_points) > MAX_POINTS:
            raise InvalidInput(f"{what}: points must be a list of at most {MAX_POINTS} [x, y] pairs, "
                               f"got {raw_points!r:.60}")
        points = tuple(_xy(what, f"points[{i}]", p) for i, p in enumerate(raw_points))
        if not isinstance(raw_labels, list) or len(raw_labels) != len(points):
            raise InvalidInput(f"{what}: labels must be a list of {len(points)} values (one per point), "
                               f"got {raw_labels!r:.60}")
        labels = []
        for i, label in enumerate(raw_labels):
            if label not in (0, 1) or isinstance(label, bool):
                raise InvalidInput(f"{what}: labels[{i}] must be 1 (positive) or 0 (negative), got {label!r:.20}")
            labels.append(int(label))
        box = None
        if body.get("box") is not None:
            raw = body["box"]
            if not isinstance(raw, list) or len(raw) != 4:
                raise InvalidInput(f"{what}: box must be [x0, y0, x1, y1] or null, got {raw!r:.60}")
            x0, y0, x1, y1 = (_number(what, f"box[{i}]", v) for i, v in enumerate(raw))
            box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        if not points and box is None:
            raise InvalidInput(f"{what}: expected at least one point or a box")
        multimask = body.get("multimask", True)
        if not isinstance(multimask, bool):
            raise InvalidInput(f"{what}: multimask must be true or false, got {multimask!r:.20}")
        return PredictRequest(_int(what, "image_id", body["image_id"]), points, tuple(labels), box, multimask,
                              _mask_input(what, body.get("mask_input")))


def _mask_input(what: str, value: Any) -> PredictionRef | MaskRef | None:
    if value is None:
        return None
    if isinstance(value, dict) and "rle" in value:
        return MaskRef(_rle(what, "mask_input.rle", _fields(f"{what}: mask_input", value, ("rle",))["rle"]))
    ref = _fields(f"{what}: mask_input", value, ("prediction", "candidate"))
    if not isinstance(ref["prediction"], str) or not _PREDICTION_RE.match(ref["prediction"]):
        raise InvalidInput(f"{what}: mask_input.prediction must be a prediction id from an earlier reply, "
                           f"got {ref['prediction']!r:.40}")
    return PredictionRef(ref["prediction"], _int(what, "mask_input.candidate", ref["candidate"], 0))


@dataclass(frozen=True)
class AcceptRequest:
    """``POST annotations``: store ``rle`` (the image's size) as an accepted annotation of
    ``class_id``, or with ``annotation_id`` replace that annotation's mask (refine / brush)."""

    image_id: int
    class_id: int
    rle: RLE
    source: Source
    seconds: float = 0.0
    score: float | None = None
    annotation_id: int | None = None

    @staticmethod
    def from_json(value: Any) -> AcceptRequest:
        what = "annotation"
        body = _fields(what, value, ("image_id", "class_id", "rle", "source"), ("seconds", "score", "annotation_id"))
        score = body.get("score")
        return AcceptRequest(
            image_id=_int(what, "image_id", body["image_id"]),
            class_id=_int(what, "class_id", body["class_id"]),
            rle=_rle(what, "rle", body["rle"]),
            source=_choice(what, "source", body["source"], SOURCES),  # type: ignore[arg-type]
            seconds=_number(what, "seconds", body.get("seconds", 0.0), 0.0, MAX_SECONDS),
            score=None if score is None else _number(what, "score", score),
            annotation_id=_optional_int(what, "annotation_id", body.get("annotation_id")))


@dataclass(frozen=True)
class UpdateRequest:
    """``POST annotations/{id}``: a new class and / or status (at least one)."""

    class_id: int | None = None
    status: Status | None = None

    @staticmethod
    def from_json(value: Any) -> UpdateRequest:
        what = "annotation update"
        body = _fields(what, value, (), ("class_id", "status"))
        class_id = _optional_int(what, "class_id", body.get("class_id"))
        status = body.get("status")
        if status is not None:
            status = _choice(what, "status", status, STATUSES)
        if class_id is None and status is None:
            raise InvalidInput(f"{what}: expected class_id and / or status, got neither")
        return UpdateRequest(class_id, status)  # type: ignore[arg-type]


@dataclass(frozen=True)
class CreateClassRequest:
    """``POST classes``: a name (checked by studio.classes) and optionally a "#rrggbb" colour."""

    name: str
    color: str | None = None

    @staticmethod
    def from_json(value: Any) -> CreateClassRequest:
        what = "new class"
        body = _fields(what, value, ("name",), ("color",))
        if not isinstance(body["name"], str):
            raise InvalidInput(f"{what}: name must be a string, got {type(body['name']).__name__}")
        color = body.get("color")
        if color is not None and (not isinstance(color, str) or not _COLOR_RE.match(color)):
            raise InvalidInput(f"{what}: color must be '#rrggbb', got {color!r:.20}")
        return CreateClassRequest(body["name"], color)


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

    @staticmethod
    def of(view: _AnnotationLike) -> AnnotationData:
        return AnnotationData(view.id, view.class_id, view.status, view.source,
                              None if view.score is None else float(view.score), view.rle,
                              tuple(float(v) for v in view.bbox), view.author)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "class_id": self.class_id, "status": self.status, "source": self.source,
                "score": self.score, "rle": self.rle, "bbox": list(self.bbox), "author": self.author}


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
        return ChangedEvent(_int(what, "revision", _fields(what, value, ("kind", "revision"))["revision"], 0))
    if kind == "select":
        return SelectEvent(_optional_int(what, "annotation_id",
                                         _fields(what, value, ("kind", "annotation_id"))["annotation_id"]))
    if kind == "class":
        return ClassEvent(_int(what, "class_id", _fields(what, value, ("kind", "class_id"))["class_id"]))
    if kind == "open":
        return OpenEvent(_int(what, "image_id", _fields(what, value, ("kind", "image_id"))["image_id"]))
    raise InvalidInput(f"{what}: kind must be changed, select, class or open, got {kind!r:.20}")
