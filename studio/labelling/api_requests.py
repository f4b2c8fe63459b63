"""The canvas's HTTP requests (message format v1, plan/workbench.md "canvas -> server"),
parsed from JSON by ``from_json``: unknown and missing fields, types, shapes and ranges are
checked here, with errors naming what was expected; whether the image, class and mask fit
the dataset is the workspace's check (studio.label_workspace)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from studio.errors import InvalidInput
from studio.labelling.fields import RLE, choice, fields, integer, number, optional_integer, rle, xy

MAX_POINTS = 64  # points of one prompt (an annotator clicks a handful)
MAX_SECONDS = 24 * 3600.0  # time spent on one object, as reported by the canvas
Source = Literal["sam", "fallback", "manual"]
Status = Literal["accepted", "rejected", "draft"]
SOURCES: tuple[Source, ...] = ("sam", "fallback", "manual")
STATUSES: tuple[Status, ...] = ("accepted", "rejected", "draft")
_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
_PREDICTION_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


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
        body = fields(what, value, ("image_id", "points", "labels"), ("box", "multimask", "mask_input"))
        raw_points, raw_labels = body["points"], body["labels"]
        if not isinstance(raw_points, list) or len(raw_points) > MAX_POINTS:
            raise InvalidInput(f"{what}: points must be a list of at most {MAX_POINTS} [x, y] pairs, "
                               f"got {raw_points!r:.60}")
        points = tuple(xy(what, f"points[{i}]", p) for i, p in enumerate(raw_points))
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
            x0, y0, x1, y1 = (number(what, f"box[{i}]", v) for i, v in enumerate(raw))
            box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        if not points and box is None:
            raise InvalidInput(f"{what}: expected at least one point or a box")
        multimask = body.get("multimask", True)
        if not isinstance(multimask, bool):
            raise InvalidInput(f"{what}: multimask must be true or false, got {multimask!r:.20}")
        return PredictRequest(integer(what, "image_id", body["image_id"]), points, tuple(labels), box, multimask,
                              _mask_input(what, body.get("mask_input")))


def _mask_input(what: str, value: Any) -> PredictionRef | MaskRef | None:
    if value is None:
        return None
    if isinstance(value, dict) and "rle" in value:
        return MaskRef(rle(what, "mask_input.rle", fields(f"{what}: mask_input", value, ("rle",))["rle"]))
    ref = fields(f"{what}: mask_input", value, ("prediction", "candidate"))
    if not isinstance(ref["prediction"], str) or not _PREDICTION_RE.match(ref["prediction"]):
        raise InvalidInput(f"{what}: mask_input.prediction must be a prediction id from an earlier reply, "
                           f"got {ref['prediction']!r:.40}")
    return PredictionRef(ref["prediction"], integer(what, "mask_input.candidate", ref["candidate"], 0))


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
    version: int | None = None  # with annotation_id: the version the annotator edited (a stale edit is refused)

    @staticmethod
    def from_json(value: Any) -> AcceptRequest:
        what = "annotation"
        body = fields(what, value, ("image_id", "class_id", "rle", "source"),
                      ("seconds", "score", "annotation_id", "version"))
        score = body.get("score")
        return AcceptRequest(
            image_id=integer(what, "image_id", body["image_id"]),
            class_id=integer(what, "class_id", body["class_id"]),
            rle=rle(what, "rle", body["rle"]),
            source=choice(what, "source", body["source"], SOURCES),  # type: ignore[arg-type]
            seconds=number(what, "seconds", body.get("seconds", 0.0), 0.0, MAX_SECONDS),
            score=None if score is None else number(what, "score", score),
            annotation_id=optional_integer(what, "annotation_id", body.get("annotation_id")),
            version=optional_integer(what, "version", body.get("version")))


@dataclass(frozen=True)
class UpdateRequest:
    """``POST annotations/{id}``: a new class and / or status (at least one)."""

    class_id: int | None = None
    status: Status | None = None
    version: int | None = None  # the version the annotator saw (a stale edit is refused)

    @staticmethod
    def from_json(value: Any) -> UpdateRequest:
        what = "annotation update"
        body = fields(what, value, (), ("class_id", "status", "version"))
        class_id = optional_integer(what, "class_id", body.get("class_id"))
        status = body.get("status")
        if status is not None:
            status = choice(what, "status", status, STATUSES)
        if class_id is None and status is None:
            raise InvalidInput(f"{what}: expected class_id and / or status, got neither")
        return UpdateRequest(class_id, status, optional_integer(what, "version", body.get("version")))  # type: ignore[arg-type]


@dataclass(frozen=True)
class CreateClassRequest:
    """``POST classes``: a name (checked by studio.classes) and optionally a "#rrggbb" colour."""

    name: str
    color: str | None = None

    @staticmethod
    def from_json(value: Any) -> CreateClassRequest:
        what = "new class"
        body = fields(what, value, ("name",), ("color",))
        if not isinstance(body["name"], str):
            raise InvalidInput(f"{what}: name must be a string, got {type(body['name']).__name__}")
        color = body.get("color")
        if color is not None and (not isinstance(color, str) or not _COLOR_RE.match(color)):
            raise InvalidInput(f"{what}: color must be '#rrggbb', got {color!r:.20}")
        return CreateClassRequest(body["name"], color)
