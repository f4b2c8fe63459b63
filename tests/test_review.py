"""Review (studio/review.py): the reviewer's queue, accept / reject with a note, per-annotator counts
and time spent. Real database: SQLite here, PostgreSQL in its pass."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from studio import annotations as ann
from studio import review
from studio.classes import list_classes
from studio.errors import InvalidInput
from studio.tables import utcnow


@pytest.fixture
def work(studio_env: dict[str, str], tmp_path: Path) -> dict:
    """Four unlabelled images: #1 two drafts by ana (4 s + 6 s), #2 one accepted by bo (20 s),
    #3 accepted by ana and sent to review, #4 untouched."""
    from studio.datasets import ingest_doc
    from studio.demo import generate_demo

    doc = generate_demo(tmp_path / "demo", n_images=4, seed=5)
    doc.annotations = []
    ingest_doc(doc, dataset="shelves")
    items = ann.image_queue("shelves")
    box = next(c.id for c in list_classes(dataset="shelves") if c.name == "box")

    def add(item: ann.ImageItem, author: str, status: str, seconds: float, size: int = 20) -> int:
        mask = np.zeros((item.height, item.width), bool)
        mask[5 : 5 + size, 5 : 5 + size] = True
        return ann.add_annotation(image_id=item.id, class_id=box, mask=mask, source="sam", status=status,
                                  author=author, seconds_spent=seconds)

    ids = {"d1": add(items[0], "ana", "draft", 4), "d2": add(items[0], "ana", "draft", 6, 30),
           "b1": add(items[1], "bo", "accepted", 20), "a3": add(items[2], "ana", "accepted", 10)}
    ann.set_review([items[2].id], True, "the model disagrees here")
    return {"items": items, "ids": ids}


def test_the_queue_holds_drafts_and_images_sent_to_review(work: dict) -> None:
    items = work["items"]
    queue = review.review_queue("shelves")
    assert [q.image_id for q in queue] == [items[2].id, items[0].id]  # sent to review first
    sent, drafts = queue
    assert sent.requested and sent.request_note == "the model disagrees here" and sent.authors == ("ana",)
    assert (drafts.drafts, drafts.accepted, drafts.requested) == (2, 0, False)


def test_accept_takes_the_drafts_and_clears_the_image(work: dict) -> None:
    items, ids = work["items"], work["ids"]
    result = review.decide(items[0].id, reviewer="rita", decision="accept", note="clean")
    assert sorted(result.changed) == sorted([ids["d1"], ids["d2"]])
    views = ann.list_annotations(items[0].id)
    assert {v.status for v in views} == {"accepted"} and {v.version for v in views} == {2}
    assert {v.updated_by for v in views} == {"rita"}
    item = ann.image_queue("shelves")[0]
    assert (item.status, item.review_state, item.review_reply) == ("done", "accepted", "clean")
    assert [q.image_id for q in review.review_queue("shelves")] == [items[2].id]


def test_reject_without_drafts_takes_the_accepted_ones_back_to_the_annotators(work: dict) -> None:
    items, ids = work["items"], work["ids"]
    result = review.decide(items[2].id, reviewer="rita", decision="reject", note="the can is a bottle")
    assert result.changed == (ids["a3"],)
    item = ann.image_queue("shelves")[2]
    assert (item.status, item.review_state, item.review_reply) == ("unlabelled", "rejected", "the can is a bottle")
    assert review.review_queue("shelves")[0].image_id == items[0].id  # only the drafts are left


def test_a_decision_on_chosen_annotations_and_a_stale_one(work: dict) -> None:
    items, ids = work["items"], work["ids"]
    ann.update_annotation(ids["d2"], status="draft", mask=None, expected_version=1, editor="ana")  # now version 2
    with pytest.raises(ann.StaleEdit, match="changed by ana"):
        review.decide(items[0].id, reviewer="rita", decision="accept", annotation_ids=[ids["d1"], ids["d2"]],
                      expected_versions={ids["d1"]: 1, ids["d2"]: 1})
    assert {v.status for v in ann.list_annotations(items[0].id)} == {"draft"}  # nothing written
    review.decide(items[0].id, reviewer="rita", decision="reject", annotation_ids=[ids["d1"]], note="not a box")
    assert {v.id: v.status for v in ann.list_annotations(items[0].id)} == {ids["d1"]: "rejected", ids["d2"]: "draft"}
    with pytest.raises(InvalidInput, match="not annotations of image"):
        review.decide(items[0].id, reviewer="rita", decision="accept", annotation_ids=[ids["b1"]])
    with pytest.raises(InvalidInput, match="decision 'maybe'"):
        review.decide(items[0].id, reviewer="rita", decision="maybe")


def test_per_annotator_counts_and_time_spent(work: dict) -> None:
    items = work["items"]
    review.decide(items[0].id, reviewer="rita", decision="accept")
    review.decide(items[2].id, reviewer="rita", decision="reject")
    stats = {s.name: s for s in review.annotator_stats("shelves")}
    assert set(stats) == {"ana", "bo", "rita"}
    ana, bo, rita = stats["ana"], stats["bo"], stats["rita"]
    assert (ana.annotations, ana.accepted, ana.rejected, ana.drafts, ana.images) == (3, 2, 1, 0, 2)
    assert ana.seconds == pytest.approx(20) and ana.seconds_per_annotation == pytest.approx(20 / 3)
    assert (ana.review_accepted, ana.review_rejected) == (2, 1)
    assert (bo.annotations, bo.accepted, bo.seconds, bo.review_accepted) == (1, 1, pytest.approx(20), 0)
    assert (rita.annotations, rita.decided) == (0, 3)
    assert [s.name for s in review.annotator_stats("shelves")] == ["ana", "bo", "rita"]
    assert review.annotator_stats("shelves", since=utcnow() + timedelta(minutes=1)) == []
    assert {s.name for s in review.annotator_stats()} == {"ana", "bo", "rita"}  # every dataset
