"""No silent overwrites (studio/annotations.py): annotation versions, a stale edit refused with what
changed (who, when, class / status / mask area before and after) and the refused change handed
back, nothing written; older callers (no expected_version) keep working. Real database: SQLite
here, PostgreSQL in its pass."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from studio import annotations as ann
from studio import masks
from studio.classes import list_classes
from studio.errors import Conflict, NotFound


@pytest.fixture
def image(studio_env: dict[str, str], tmp_path: Path) -> ann.ImageItem:
    from studio.datasets import ingest_doc
    from studio.demo import generate_demo

    doc = generate_demo(tmp_path / "demo", n_images=1, seed=4)
    doc.annotations = []
    ingest_doc(doc, dataset="shelves")
    return ann.image_queue("shelves")[0]


@pytest.fixture
def classes(image: ann.ImageItem) -> dict[str, int]:
    return {c.name: c.id for c in list_classes(dataset="shelves")}


def square(item: ann.ImageItem, size: int) -> np.ndarray:
    mask = np.zeros((item.height, item.width), bool)
    mask[10 : 10 + size, 10 : 10 + size] = True
    return mask


def test_versions_count_up_and_the_last_editor_is_kept(image: ann.ImageItem, classes: dict[str, int]) -> None:
    aid = ann.add_annotation(image_id=image.id, class_id=classes["box"], mask=square(image, 30), source="sam",
                             status="draft", author="ana")
    (view,) = ann.list_annotations(image.id)
    assert (view.version, view.updated_by) == (1, "ana")
    assert ann.update_annotation(aid, status="accepted", expected_version=1, editor="bo") == 2
    view = ann.get_annotation(aid)
    assert (view.version, view.updated_by, view.status, view.author) == (2, "bo", "accepted", "ana")


def test_a_stale_edit_is_refused_with_what_changed_and_nothing_is_written(image: ann.ImageItem,
                                                                         classes: dict[str, int]) -> None:
    aid = ann.add_annotation(image_id=image.id, class_id=classes["box"], mask=square(image, 30), source="sam",
                             status="draft", author="ana")
    seen = ann.get_annotation(aid)  # ana and bo both have version 1 on screen
    ann.update_annotation(aid, class_id=classes["can"], status="accepted", mask=square(image, 40),
                          expected_version=seen.version, editor="bo")
    mine = square(image, 25)
    with pytest.raises(ann.StaleEdit) as refused:
        ann.update_annotation(aid, class_id=classes["bottle"], mask=mine, expected_version=seen.version, editor="ana")
    error = refused.value
    assert isinstance(error, Conflict)
    message = str(error)
    for part in ("annotation", "changed by bo", "UTC", "version 1 -> 2", "class box -> can",
                 "status draft -> accepted", "mask area 900 -> 1600 px", "class -> bottle", "new mask of 625 px",
                 "was not saved; it is kept"):
        assert part in message, (part, message)
    assert error.changes == ["class box -> can", "status draft -> accepted", "mask area 900 -> 1600 px"]
    assert error.by == "bo" and error.current.class_name == "can" and error.current.version == 2
    # the refused change comes back whole: nothing typed is lost
    assert error.attempted["class_id"] == classes["bottle"]
    assert np.array_equal(masks.decode(error.attempted["rle"]).astype(bool), mine)
    body = error.to_dict()
    assert body["stale"] and body["current"]["version"] == 2 and body["attempted"]["rle"] == error.attempted["rle"]
    # nothing was written
    now = ann.get_annotation(aid)
    assert (now.class_name, now.status, now.area, now.version) == ("can", "accepted", 1600, 2)
    # applied again on the current version, it is saved
    assert ann.update_annotation(aid, class_id=classes["bottle"], expected_version=error.current.version,
                                 editor="ana") == 3


def test_a_stale_delete_is_refused_and_an_edit_of_a_deleted_one_says_who(image: ann.ImageItem,
                                                                          classes: dict[str, int]) -> None:
    aid = ann.add_annotation(image_id=image.id, class_id=classes["box"], mask=square(image, 30), source="sam",
                             author="ana")
    ann.update_annotation(aid, status="rejected", expected_version=1, editor="bo")
    with pytest.raises(ann.StaleEdit, match="status accepted -> rejected") as refused:
        ann.delete_annotation(aid, expected_version=1, editor="ana")
    assert refused.value.attempted == {"delete": True}
    assert ann.get_annotation(aid).version == 2  # still there
    ann.delete_annotation(aid, expected_version=2, editor="bo")
    with pytest.raises(ann.StaleEdit, match="deleted by bo at .* UTC") as refused:
        ann.update_annotation(aid, class_id=classes["can"], expected_version=2, editor="ana")
    assert refused.value.current is None and refused.value.attempted == {"class_id": classes["can"]}
    with pytest.raises(NotFound, match="deleted meanwhile by bo"):
        ann.delete_annotation(aid, editor="ana")


def test_older_callers_without_a_version_keep_working(image: ann.ImageItem, classes: dict[str, int]) -> None:
    """update_annotation / delete_annotation without expected_version (the label workspace today):
    the edit lands, and it still counts the version up so version-aware editors notice it."""
    aid = ann.add_annotation(image_id=image.id, class_id=classes["box"], mask=square(image, 30), source="sam",
                             author="ana")
    ann.update_annotation(aid, class_id=classes["can"])
    ann.update_annotation(aid, mask=square(image, 20), add_seconds=2)
    view = ann.get_annotation(aid)
    assert (view.class_name, view.area, view.version) == ("can", 400, 3)
    with pytest.raises(ann.StaleEdit, match="class box -> can"):
        ann.update_annotation(aid, status="draft", expected_version=1)
    ann.delete_annotation(aid)
    with pytest.raises(NotFound):
        ann.update_annotation(aid, status="draft")


def test_an_imported_annotation_without_history_still_gets_a_useful_message(image: ann.ImageItem,
                                                                           classes: dict[str, int]) -> None:
    """Rows written by imports or pre-labelling have no revision rows: the first edit records the
    version it replaces, so a later stale edit based on it can still say what changed."""
    from studio.db import session_scope
    from studio.tables import Annotation

    rle = masks.encode(square(image, 30))
    with session_scope() as session:
        row = Annotation(image_id=image.id, class_id=classes["box"], rle=rle, bbox=masks.bbox(rle),
                         area=masks.area(rle), source="import", status="accepted")
        session.add(row)
        session.flush()
        aid = row.id
    ann.update_annotation(aid, class_id=classes["can"], expected_version=1, editor="bo")
    with pytest.raises(ann.StaleEdit, match="class box -> can"):
        ann.update_annotation(aid, status="rejected", expected_version=1, editor="ana")


def test_concurrent_edits_of_one_version_exactly_one_lands(image: ann.ImageItem, classes: dict[str, int]) -> None:
    """Eight editors (threads, each its own connection) save an edit based on version 1 at once:
    one is written, seven are refused, and the stored row is the winner's."""
    aid = ann.add_annotation(image_id=image.id, class_id=classes["box"], mask=square(image, 30), source="sam",
                             author="ana")
    barrier = threading.Barrier(8)

    def edit(n: int) -> str:
        barrier.wait()
        try:
            ann.update_annotation(aid, mask=square(image, 10 + n), expected_version=1, editor=f"user{n}")
            return "saved"
        except ann.StaleEdit:
            return "refused"

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(edit, range(8)))
    assert sorted(results) == ["refused"] * 7 + ["saved"]
    winner = results.index("saved")
    view = ann.get_annotation(aid)
    assert (view.version, view.updated_by, view.area) == (2, f"user{winner}", (10 + winner) ** 2)


def test_a_class_merge_makes_older_edits_stale(image: ann.ImageItem, classes: dict[str, int]) -> None:
    from studio.classes import merge_classes

    aid = ann.add_annotation(image_id=image.id, class_id=classes["box"], mask=square(image, 30), source="sam",
                             author="ana")
    merge_classes(dataset="shelves", source="box", target="can")
    with pytest.raises(ann.StaleEdit, match="changed by a merge of box into can .*class box -> can"):
        ann.update_annotation(aid, status="rejected", expected_version=1, editor="bo")
    assert ann.get_annotation(aid).version == 2
