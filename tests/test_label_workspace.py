"""The Label page's state without the page: clicks and boxes through the real fallback
segmenter on demo scenes, undo / redo, accept (committed at once), refine, re-class,
reject, delete, review; and bad input (outside clicks, zero-size boxes, a vanished file,
a corrupt SAM checkpoint) as messages, never exceptions."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from studio import annotations as ann
from studio import masks


@pytest.fixture
def workspace(studio_env: dict[str, str], tmp_path: Path):  # noqa: ANN201
    from studio.datasets import ingest_doc
    from studio.demo import generate_demo
    from studio.label_workspace import LabelWorkspace
    from studio.segment import FallbackSegmenter

    doc = generate_demo(tmp_path / "demo", n_images=3, seed=0)
    truth = {a.image_key: [] for a in doc.annotations}
    for a in doc.annotations:
        truth[a.image_key].append(masks.decode(a.rle))
    doc.annotations = [a for a in doc.annotations if a.image_key != doc.images[0].key]  # image 0 unlabelled
    ingest_doc(doc, dataset="shelves")
    ws = LabelWorkspace("shelves", FallbackSegmenter(), author="tester")
    return ws, truth[doc.images[0].key]


def centre(mask: np.ndarray) -> tuple[int, int]:
    distance = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return int(x), int(y)


def click(ws, x: float, y: float, t: int, shown_width: float | None = None) -> bool:  # noqa: ANN001
    value = {"x": x, "y": y, "unix_time": t}
    if shown_width:
        value["width"] = shown_width
    return ws.handle_canvas(value)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_the_unlabelled_image_opens_first_and_a_click_gives_the_product(workspace) -> None:  # noqa: ANN001
    ws, truth = workspace
    assert ws.item is not None and ws.item.status == "unlabelled" and ws.counts.total == 3
    product = max(truth, key=lambda m: m.sum())
    x, y = centre(product)
    assert click(ws, x, y, 1)
    assert ws.session.candidates == 3 and iou(ws.session.mask, product) >= 0.9
    assert not click(ws, x, y, 1)  # the same event (rerun) is applied once

    half = click(ws, x / 2, y / 2, 2, shown_width=320)  # the browser drew the picture at half size
    assert half and ws.session.steps[-1].x == pytest.approx(x)


def test_undo_redo_clear_and_cycle(workspace) -> None:  # noqa: ANN001
    ws, truth = workspace
    x, y = centre(truth[0])
    click(ws, x, y, 1)
    first = ws.session.mask.copy()
    ws.positive = False
    click(ws, x + 1, y + 1, 2)
    assert len(ws.session.steps) == 2
    assert ws.undo() and np.array_equal(ws.session.mask, first)
    assert ws.redo() and len(ws.session.steps) == 2
    ws.clear()
    assert ws.session.mask is None and not ws.session.steps


def test_accept_commits_then_refine_reclass_reject_delete(workspace) -> None:  # noqa: ANN001
    ws, truth = workspace
    product = truth[0]
    x, y = centre(product)
    click(ws, x, y, 1)
    ws.class_id = ws.classes[2].id
    annotation_id = ws.accept()
    stored = next(a for a in ann.list_annotations(ws.item.id) if a.id == annotation_id)  # already in the DB
    assert (stored.source, stored.status, stored.author, stored.class_id) == ("fallback", "accepted", "tester",
                                                                              ws.classes[2].id)
    assert stored.seconds_spent > 0 and iou(stored.mask(), product) >= 0.9
    assert ws.item.status == "done" and ws.session.mask is None

    ws.select(annotation_id)  # refine: more clicks, accept replaces the mask
    ws.positive = True
    click(ws, *centre(truth[1]), 2)
    ws.accept()
    refined = next(a for a in ann.list_annotations(ws.item.id) if a.id == annotation_id)
    assert iou(refined.mask(), stored.mask()) < 1.0  # the same annotation, a new mask
    assert len(ann.list_annotations(ws.item.id)) == 1

    ws.update(annotation_id, class_id=ws.classes[0].id, status="rejected")
    assert ann.list_annotations(ws.item.id)[0].status == "rejected"
    ws.delete(annotation_id)
    assert ann.list_annotations(ws.item.id) == [] and ws.error is None


def test_review_requests_are_shown_and_cleared(workspace) -> None:  # noqa: ANN001
    ws, _ = workspace
    other = ws.items[1]
    ann.set_review([other.id], True, "check the jar")
    ws.refresh()
    assert ws.counts.review == 1
    ws.open(other.id)
    assert ws.item.status == "review" and ws.item.review_note == "check the jar"
    ws.mark_reviewed()
    assert ws.item.status != "review"


def test_bad_clicks_boxes_and_files_become_messages(workspace) -> None:  # noqa: ANN001
    ws, _ = workspace
    assert not click(ws, 5000, 10, 1) and "outside" in ws.error
    assert ws.accept() is None and "nothing to accept" in ws.error
    from studio.labelling import PromptStep

    assert not ws.apply(PromptStep.rectangle(10, 10, 10, 50)) and "x1 > x0" in ws.error  # zero-width box

    vanished = ws.items[2]
    Path(vanished.path).unlink()  # the file left the store
    ws.open(vanished.id)
    assert ws.image is None and "shelf" in ws.error and ws.render() is None
    assert ws.go(-1)  # the annotator can move on
    assert ws.image is not None


def test_a_corrupt_sam_checkpoint_is_a_message_not_a_crash(workspace, studio_env: dict[str, str]) -> None:  # noqa: ANN001
    from studio.config import get_settings
    from studio.label_workspace import LabelWorkspace
    from studio.segment import choose_segmenter
    from studio.segment.registry import clear_choices

    sam_dir = get_settings().sam_dir
    sam_dir.mkdir(parents=True, exist_ok=True)
    (sam_dir / "sam_vit_b_01ec64.pth").write_bytes(b"not a checkpoint at all")
    clear_choices()
    choice = choose_segmenter()
    ws = LabelWorkspace("shelves", choice.segmenter)
    assert not click(ws, 100, 100, 1)
    assert "sam_vit_b_01ec64.pth" in ws.error  # names the file; nothing raised
    clear_choices()
