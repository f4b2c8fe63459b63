"""Annotations of one image (studio/annotations.py): committed writes, validation, the queue."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from studio import annotations as ann
from studio.classes import list_classes
from studio.errors import InvalidInput, NotFound


@pytest.fixture
def shelves(studio_env: dict[str, str], tmp_path: Path) -> list[ann.ImageItem]:
    """A 3-image demo dataset whose first image loses its annotations (so it is unlabelled)."""
    from studio.datasets import ingest_doc
    from studio.demo import generate_demo

    doc = generate_demo(tmp_path / "demo", n_images=3, seed=2)
    first = doc.images[0].key
    doc.annotations = [a for a in doc.annotations if a.image_key != first]
    ingest_doc(doc, dataset="shelves")
    return ann.image_queue("shelves")


def _square(item: ann.ImageItem, x: int = 10, y: int = 20, size: int = 30) -> np.ndarray:
    mask = np.zeros((item.height, item.width), bool)
    mask[y : y + size, x : x + size] = True
    return mask


def test_queue_status_and_counts(shelves: list[ann.ImageItem]) -> None:
    assert [i.status for i in shelves] == ["unlabelled", "done", "done"]
    counts = ann.queue_counts(shelves)
    assert (counts.total, counts.done, counts.unlabelled, counts.draft, counts.review) == (3, 2, 1, 0, 0)
    assert all(i.exists for i in shelves)


def test_accept_is_committed_and_read_back_exactly(shelves: list[ann.ImageItem]) -> None:
    first = shelves[0]
    box = next(c for c in list_classes(dataset="shelves") if c.name == "box")
    mask = _square(first)
    annotation_id = ann.add_annotation(image_id=first.id, class_id=box.id, mask=mask, source="sam",
                                       author="ana", seconds_spent=4.2, score=0.93)
    from studio.db import get_engine

    get_engine().dispose()  # a fresh connection: what is read below was committed
    (view,) = ann.list_annotations(first.id)
    assert view.id == annotation_id and view.class_name == "box" and view.source == "sam"
    assert view.status == "accepted" and view.author == "ana" and view.seconds_spent == pytest.approx(4.2)
    assert view.area == 900 and view.bbox == [10.0, 20.0, 30.0, 30.0] and view.score == pytest.approx(0.93)
    assert np.array_equal(view.mask(), mask)
    assert ann.image_queue("shelves")[0].status == "done"


def test_reclass_refine_reject_delete(shelves: list[ann.ImageItem]) -> None:
    first = shelves[0]
    classes = {c.name: c for c in list_classes(dataset="shelves")}
    annotation_id = ann.add_annotation(image_id=first.id, class_id=classes["box"].id, mask=_square(first),
                                       source="fallback", status="draft", author="ana", seconds_spent=2)
    assert ann.image_queue("shelves")[0].status == "draft"
    bigger = _square(first, size=40)
    ann.update_annotation(annotation_id, class_id=classes["can"].id, mask=bigger, add_seconds=3)
    (view,) = ann.list_annotations(first.id)
    assert view.class_name == "can" and view.area == 1600 and view.seconds_spent == pytest.approx(5)
    ann.update_annotation(annotation_id, status="rejected")
    assert ann.image_queue("shelves")[0].status == "unlabelled"  # rejected work does not count
    assert ann.list_annotations(first.id, statuses=("accepted",)) == []
    ann.delete_annotation(annotation_id)
    assert ann.list_annotations(first.id) == []
    with pytest.raises(NotFound, match="deleted meanwhile"):
        ann.delete_annotation(annotation_id)


@pytest.mark.parametrize("bad, message", [
    ("wrong_shape", r"mask shape \(10, 10\): expected \(H, W\)"),  # mask of another size
    ("empty", "mask is empty"),  # nothing clicked
    ("foreign_class", "is not a class of this image's dataset"),  # class of another dataset
    ("source", "annotation source 'magic'"),  # unknown source
    ("status", "annotation status 'maybe'"),  # unknown status
])
def test_bad_annotations_are_refused_and_nothing_is_written(shelves: list[ann.ImageItem], bad: str,
                                                            message: str) -> None:
    first = shelves[0]
    box = next(c for c in list_classes(dataset="shelves") if c.name == "box")
    kwargs = {"image_id": first.id, "class_id": box.id, "mask": _square(first), "source": "sam", "status": "accepted"}
    if bad == "wrong_shape":
        kwargs["mask"] = np.ones((10, 10), bool)
    elif bad == "empty":
        kwargs["mask"] = np.zeros((first.height, first.width), bool)
    elif bad == "foreign_class":
        from studio.datasets import get_or_create_dataset
        from studio.db import session_scope
        from studio.tables import LabelClass

        with session_scope() as session:
            other = get_or_create_dataset(session, "other")
            label = LabelClass(dataset_id=other.id, name="x", index=1)
            session.add(label)
            session.flush()
            kwargs["class_id"] = label.id
    elif bad == "source":
        kwargs["source"] = "magic"
    else:
        kwargs["status"] = "maybe"
    with pytest.raises(InvalidInput, match=message):
        ann.add_annotation(**kwargs)
    assert ann.list_annotations(first.id) == []


def test_model_sources_are_accepted(shelves: list[ann.ImageItem]) -> None:
    first = shelves[0]
    box = next(c for c in list_classes(dataset="shelves") if c.name == "box")
    ann.add_annotation(image_id=first.id, class_id=box.id, mask=_square(first), source="model:unet_r18_v1.0.0",
                       status="draft", score=0.5)
    assert ann.list_annotations(first.id)[0].source == "model:unet_r18_v1.0.0"
    with pytest.raises(InvalidInput):
        ann.add_annotation(image_id=first.id, class_id=box.id, mask=_square(first), source="model:")


def test_next_in_queue_wraps_and_filters(shelves: list[ann.ImageItem]) -> None:
    a, b, c = shelves
    assert ann.next_in_queue(shelves, a.id).id == b.id
    assert ann.next_in_queue(shelves, c.id).id == a.id  # wraps around
    assert ann.next_in_queue(shelves, a.id, step=-1).id == c.id
    assert ann.next_in_queue(shelves, b.id, statuses=ann.TODO_STATUSES).id == a.id  # the only one left to do
    assert ann.next_in_queue(shelves, a.id, statuses=ann.TODO_STATUSES) is None  # nothing else to do
    assert ann.next_in_queue([], None) is None


def test_review_flag_puts_an_image_back_in_the_queue(shelves: list[ann.ImageItem]) -> None:
    done = shelves[1]
    assert ann.set_review([done.id], True, "model disagrees here") == 1
    item = ann.image_queue("shelves", statuses=("review",))
    assert [i.id for i in item] == [done.id] and item[0].review_note == "model disagrees here"
    ann.set_review([done.id], False)
    assert ann.image_queue("shelves")[1].status == "done"
    with pytest.raises(InvalidInput, match="image status"):
        ann.image_queue("shelves", statuses=("finished",))
