"""The canvas's message format (version 1): requests parsed with errors that name the message,
the field and what was expected; replies and the component's data serialised as the spec
shows them; the component's triggers parsed into typed events."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from studio.errors import InvalidInput
from studio.labelling.protocol import (
    AcceptRequest,
    AnnotationData,
    AnnotationReply,
    ChangedEvent,
    ClassData,
    ClassEvent,
    ClassReply,
    CreateClassRequest,
    MaskRef,
    OpenEvent,
    PredictionRef,
    PredictReply,
    PredictRequest,
    SelectEvent,
    UpdateRequest,
    canvas_data,
    parse_event,
)

RLE = {"size": [4, 6], "counts": "52000"}


def test_a_full_predict_request() -> None:
    request = PredictRequest.from_json({"image_id": 12, "points": [[10, 20.5], [3, 4]], "labels": [1, 0],
                                        "box": [30, 40, 5, 6], "multimask": False,
                                        "mask_input": {"prediction": "a1b2", "candidate": 2}})
    assert request == PredictRequest(12, ((10.0, 20.5), (3.0, 4.0)), (1, 0), (5.0, 6.0, 30.0, 40.0), False,
                                     PredictionRef("a1b2", 2))  # the box's corners in any order
    by_mask = PredictRequest.from_json({"image_id": 1, "points": [], "labels": [], "box": [0, 0, 2, 2],
                                        "mask_input": {"rle": RLE}})
    assert by_mask.mask_input == MaskRef(RLE) and by_mask.multimask  # multimask defaults to true


@pytest.mark.parametrize(("body", "message"), [
    # not an object
    ([1, 2], "expected a JSON object"),
    # a field the format does not have, named with the list of expected ones
    ({"image_id": 1, "points": [[1, 1]], "labels": [1], "foo": 1}, "unknown field(s) foo; expected image_id"),
    # a required field missing
    ({"points": [[1, 1]], "labels": [1]}, "missing field(s) image_id"),
    # ids are positive integers, not booleans or fractions
    ({"image_id": True, "points": [[1, 1]], "labels": [1]}, "image_id must be an integer"),
    ({"image_id": 1.5, "points": [[1, 1]], "labels": [1]}, "image_id must be an integer"),
    ({"image_id": 0, "points": [[1, 1]], "labels": [1]}, "image_id must be >= 1"),
    # a point is two finite numbers
    ({"image_id": 1, "points": [[1]], "labels": [1]}, "points[0] must be [x, y]"),
    ({"image_id": 1, "points": [[1, float("nan")]], "labels": [1]}, "points[0][1] must be a finite number"),
    # too many points
    ({"image_id": 1, "points": [[1, 1]] * 65, "labels": [1] * 65}, "at most 64"),
    # one label per point, 1 or 0
    ({"image_id": 1, "points": [[1, 1]], "labels": []}, "labels must be a list of 1 values"),
    ({"image_id": 1, "points": [[1, 1]], "labels": [True]}, "labels[0] must be 1 (positive) or 0"),
    # nothing to segment
    ({"image_id": 1, "points": [], "labels": [], "box": None}, "at least one point or a box"),
    # multimask is a boolean
    ({"image_id": 1, "points": [[1, 1]], "labels": [1], "multimask": 1}, "multimask must be true or false"),
    # mask_input: a prediction reference or an RLE of the right form
    ({"image_id": 1, "points": [[1, 1]], "labels": [1], "mask_input": {"prediction": "x y", "candidate": 0}},
     "mask_input.prediction must be a prediction id"),
    ({"image_id": 1, "points": [[1, 1]], "labels": [1], "mask_input": {"prediction": "ab", "candidate": -1}},
     "mask_input.candidate must be >= 0"),
    ({"image_id": 1, "points": [[1, 1]], "labels": [1], "mask_input": {"rle": {"size": [0, 3], "counts": ""}}},
     "mask_input.rle.size must be [height, width]"),
])
def test_bad_predict_requests_name_what_was_expected(body: object, message: str) -> None:
    with pytest.raises(InvalidInput, match="predict request") as info:
        PredictRequest.from_json(body)
    assert message in str(info.value)


@pytest.mark.parametrize(("body", "message"), [
    # the source is one of the canvas's
    ({"source": "import"}, "source must be one of sam, fallback, manual"),
    # counts is the compressed string form
    ({"rle": {"size": [4, 6], "counts": [1, 2]}}, "rle.counts must be a COCO compressed RLE string"),
    # seconds within a day, not negative
    ({"seconds": -0.1}, "seconds must be within [0.0, 86400.0]"),
    # a score is a number or null
    ({"score": "high"}, "score must be a finite number"),
    # annotation_id is an id or null
    ({"annotation_id": "7"}, "annotation_id must be an integer"),
])
def test_bad_annotations_name_what_was_expected(body: dict, message: str) -> None:
    good = {"image_id": 1, "class_id": 2, "rle": RLE, "source": "sam"}
    with pytest.raises(InvalidInput, match="annotation") as info:
        AcceptRequest.from_json({**good, **body})
    assert message in str(info.value)
    assert AcceptRequest.from_json(good) == AcceptRequest(1, 2, RLE, "sam", 0.0, None, None)


def test_updates_and_new_classes() -> None:
    assert UpdateRequest.from_json({"status": "rejected"}) == UpdateRequest(None, "rejected")
    with pytest.raises(InvalidInput, match="expected class_id and / or status"):
        UpdateRequest.from_json({})
    with pytest.raises(InvalidInput, match="status must be one of accepted, rejected, draft"):
        UpdateRequest.from_json({"status": "done"})
    assert CreateClassRequest.from_json({"name": " jar ", "color": "#A0b1c2"}) == CreateClassRequest(" jar ", "#A0b1c2")
    with pytest.raises(InvalidInput, match="name must be a string"):
        CreateClassRequest.from_json({"name": 3})


def test_replies_serialise_as_the_spec_shows() -> None:
    view = SimpleNamespace(id=7, class_id=3, status="accepted", source="sam", score=0.93, rle=RLE,
                           bbox=[1, 2, 3, 4], author="ann", version=5)
    annotation = AnnotationData.of(view)
    assert AnnotationReply(annotation, 17).to_json() == {
        "annotation": {"id": 7, "class_id": 3, "status": "accepted", "source": "sam", "score": 0.93, "rle": RLE,
                       "bbox": [1.0, 2.0, 3.0, 4.0], "author": "ann", "version": 5}, "revision": 17}
    assert PredictReply("p1", (RLE,), (0.5,), 12.345).to_json() == {"prediction": "p1", "masks": [RLE],
                                                                    "scores": [0.5], "ms": 12.35}
    classes = ClassData.listed([SimpleNamespace(id=9, name="can", color="#e6194b", index=4),
                                SimpleNamespace(id=3, name="jar", color="#3cb44b", index=1)])
    assert [c.index for c in classes] == [1, 2]  # the display place (1-9 keys), not the mask index
    assert ClassReply(classes[1], classes, 2).to_json()["class"] == {"id": 3, "name": "jar", "index": 2,
                                                                     "color": "#3cb44b"}


def test_canvas_data_for_sam_and_fallback() -> None:
    image = SimpleNamespace(id=12, file_name="a.jpg", width=1920, height=2560, status="unlabelled")
    upcoming = SimpleNamespace(id=13, file_name="b.jpg", width=10, height=10, status="draft")
    sam = SimpleNamespace(kind="sam", id="sam-vit_b-01ec64d29a2f", name="SAM vit_b (CPU)")
    data = canvas_data(api="/studio-api/label/T", assets="/studio-api/assets", image=image, classes=[],
                       class_id=None, annotations=[], revision=3, segmenter=sam, prefetch=[upcoming]).to_json()
    assert json.loads(json.dumps(data)) == data  # plain JSON
    assert data["segmenter"]["decoder"] == {"model_url": "/studio-api/label/T/decoder.onnx",
                                            "embedding_url": "/studio-api/label/T/embedding/12"}
    assert data["prefetch"] == [{"image_id": 13, "url": "/studio-api/label/T/image/13",
                                 "embedding_url": "/studio-api/label/T/embedding/13"}]
    assert data["image"]["url"] == "/studio-api/label/T/image/12" and data["v"] == 1
    server_path = canvas_data(api="/a", assets="/s", image=image, classes=[], class_id=None, annotations=[],
                              revision=0, segmenter=sam, browser_decoder=False).to_json()
    assert server_path["segmenter"]["decoder"] is None


@pytest.mark.parametrize(("value", "event"), [
    (None, None),
    ({"kind": "changed", "revision": 4}, ChangedEvent(4)),
    ({"kind": "select", "annotation_id": None}, SelectEvent(None)),
    ({"kind": "select", "annotation_id": 7}, SelectEvent(7)),
    ({"kind": "class", "class_id": 3}, ClassEvent(3)),
    ({"kind": "open", "image_id": 12}, OpenEvent(12)),
])
def test_triggers_become_typed_events(value: object, event: object) -> None:
    assert parse_event(value) == event


@pytest.mark.parametrize(("value", "message"), [
    ({"kind": "zoom"}, "kind must be changed, select, class or open"),
    ({"kind": "class"}, "missing field(s) class_id"),
    ({"kind": "open", "image_id": 1, "extra": 2}, "unknown field(s) extra"),
    ("changed", "expected {'kind'"),
])
def test_bad_triggers_are_named(value: object, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_event(value)
    assert message in str(info.value)
