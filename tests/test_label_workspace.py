"""The Label page's server-side state: the queue, the server path (predict through the real
fallback segmenter on demo scenes, refinement by reference or by mask), writes committed at
once (accept, replace, re-class, re-status, delete, new class), the revision counter, the
canvas's data, and bad input (a brush stroke outside the image, an empty mask, another
dataset's class or image, an image gone from the store, a corrupt SAM checkpoint, an
unusable cached embedding) as clear errors with nothing written."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from studio import annotations as ann
from studio import classes as class_ops
from studio import masks
from studio.errors import InvalidInput, NotFound
from studio.labelling.protocol import AcceptRequest, CreateClassRequest, PredictRequest, UpdateRequest


@pytest.fixture
def workspace(studio_env: dict[str, str], tmp_path: Path):  # noqa: ANN201
    """Three demo scenes, the first one unlabelled; (workspace, true masks of image 0)."""
    from studio.datasets import ingest_doc
    from studio.demo import generate_demo
    from studio.label_workspace import LabelWorkspace
    from studio.segment import FallbackSegmenter

    doc = generate_demo(tmp_path / "demo", n_images=3, seed=0)
    truth = {a.image_key: [] for a in doc.annotations}
    for a in doc.annotations:
        truth[a.image_key].append(masks.decode(a.rle).astype(bool))
    doc.annotations = [a for a in doc.annotations if a.image_key != doc.images[0].key]  # image 0 unlabelled
    ingest_doc(doc, dataset="shelves")
    ws = LabelWorkspace("shelves", FallbackSegmenter(), author="tester")
    return ws, truth[doc.images[0].key]


def centre(mask: np.ndarray) -> tuple[int, int]:
    distance = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return int(x), int(y)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def predict(ws, **body) -> object:  # noqa: ANN001
    return ws.predict(PredictRequest.from_json({"image_id": ws.item.id, **body}))


def accept_body(ws, mask: np.ndarray, **extra) -> AcceptRequest:  # noqa: ANN001
    return AcceptRequest.from_json({"image_id": ws.item.id, "class_id": ws.classes[0].id,
                                    "rle": masks.encode(mask), "source": "fallback", "seconds": 2.5, **extra})


def test_the_unlabelled_image_opens_first_and_a_click_gives_the_product(workspace) -> None:  # noqa: ANN001
    ws, truth = workspace
    assert ws.item.status == "unlabelled" and ws.counts.total == 3 and ws.revision == 1
    product = max(truth, key=lambda m: m.sum())
    x, y = centre(product)
    reply = predict(ws, points=[[x, y]], labels=[1], multimask=True)
    assert len(reply.masks) == 3 and len(reply.scores) == 3 and reply.ms > 0
    best = masks.decode(reply.masks[int(np.argmax(reply.scores))]).astype(bool)
    assert iou(best, product) >= 0.9

    # refine by reference: the chosen candidate's logits go back in with a negative click elsewhere
    refined = predict(ws, points=[[x, y], [5, 5]], labels=[1, 0], multimask=False,
                      mask_input={"prediction": reply.prediction, "candidate": int(np.argmax(reply.scores))})
    assert len(refined.masks) == 1 and iou(masks.decode(refined.masks[0]).astype(bool), product) >= 0.9
    # ... or by mask (a selected annotation, a brush-edited mask)
    by_mask = predict(ws, points=[[x, y]], labels=[1], multimask=False, mask_input={"rle": masks.encode(product)})
    assert iou(masks.decode(by_mask.masks[0]).astype(bool), product) >= 0.9


def test_mask_input_references_are_checked(workspace) -> None:  # noqa: ANN001
    from studio.label_workspace import KEEP_PREDICTIONS

    ws, truth = workspace
    x, y = centre(truth[0])
    first = predict(ws, points=[[x, y]], labels=[1])
    with pytest.raises(InvalidInput, match=r"candidates 0\.\.2"):
        predict(ws, points=[[x, y]], labels=[1], mask_input={"prediction": first.prediction, "candidate": 3})
    with pytest.raises(InvalidInput, match="no longer kept"):
        predict(ws, points=[[x, y]], labels=[1], mask_input={"prediction": "feedfeed", "candidate": 0})
    for _ in range(KEEP_PREDICTIONS):
        predict(ws, points=[[x, y]], labels=[1], multimask=False)
    with pytest.raises(InvalidInput, match=f"keeps the last {KEEP_PREDICTIONS}"):
        predict(ws, points=[[x, y]], labels=[1], mask_input={"prediction": first.prediction, "candidate": 0})


def test_accept_commits_then_replace_reclass_reject_delete(workspace) -> None:  # noqa: ANN001
    ws, truth = workspace
    product = truth[0]
    reply = ws.accept(accept_body(ws, product, score=0.8))
    stored = {a.id: a for a in ann.list_annotations(ws.item.id)}[reply.annotation.id]  # already in the DB
    assert (stored.source, stored.status, stored.author, stored.class_id) == ("fallback", "accepted", "tester",
                                                                              ws.classes[0].id)
    assert stored.seconds_spent == 2.5 and stored.score == 0.8 and np.array_equal(stored.mask(), product)
    assert reply.revision == 2 and reply.annotation.rle == stored.rle and reply.annotation.bbox == tuple(stored.bbox)
    ws.refresh()
    assert ws.item.status == "done"

    touched = product.copy()
    ys, _ = np.nonzero(product)
    touched[: int(np.median(ys))] = False  # a brush edit (eraser) replaces the mask of the same annotation
    replaced = ws.accept(accept_body(ws, touched, source="manual", annotation_id=reply.annotation.id, seconds=1.0))
    (only,) = ann.list_annotations(ws.item.id)
    assert only.id == reply.annotation.id and np.array_equal(only.mask(), touched)
    assert only.source == "manual" and only.seconds_spent == 3.5 and replaced.revision == 3

    other = ws.classes[2].id
    updated = ws.update(only.id, UpdateRequest.from_json({"class_id": other, "status": "rejected"}))
    assert (updated.annotation.class_id, updated.annotation.status, updated.revision) == (other, "rejected", 4)
    deleted = ws.delete(only.id)
    assert deleted.deleted == only.id and deleted.revision == 5 and ann.list_annotations(ws.item.id) == []
    with pytest.raises(NotFound, match="deleted meanwhile"):
        ws.delete(only.id)


def test_a_new_class_becomes_current_and_bumps_the_revision(workspace) -> None:  # noqa: ANN001
    ws, _ = workspace
    before = ws.revision
    reply = ws.create_class(CreateClassRequest.from_json({"name": "cereal", "color": "#123456"}))
    assert reply.label.name == "cereal" and reply.label.color == "#123456" and ws.class_id == reply.label.id
    assert [c.name for c in reply.classes][-1] == "cereal" and reply.revision == before + 1
    with pytest.raises(InvalidInput, match="already has a class"):
        ws.create_class(CreateClassRequest.from_json({"name": "cereal"}))
    assert ws.revision == before + 1


def test_bad_masks_classes_and_images_are_refused_with_nothing_written(workspace, tmp_path: Path) -> None:  # noqa: ANN001
    from studio.datasets import ingest_doc
    from studio.demo import generate_demo

    ws, truth = workspace
    h, w = truth[0].shape
    stroke = np.zeros((h, w + 7), bool)  # a brush stroke that ran past the right edge, unclipped
    stroke[10:20, w - 5:] = True
    with pytest.raises(InvalidInput, match=rf"mask size \[{h}, {w + 7}\].*expected \[{h}, {w}\].*clipped"):
        ws.accept(accept_body(ws, stroke))
    with pytest.raises(InvalidInput, match="mask is empty"):
        ws.accept(accept_body(ws, np.zeros((h, w), bool)))

    ingest_doc(generate_demo(tmp_path / "other", n_images=1, seed=3), dataset="other")
    foreign_class = class_ops.list_classes(dataset="other")[0].id
    foreign_image = ann.image_queue("other")[0].id
    with pytest.raises(InvalidInput, match="not a class of this image's dataset"):
        ws.accept(AcceptRequest.from_json({"image_id": ws.item.id, "class_id": foreign_class,
                                           "rle": masks.encode(truth[0]), "source": "sam"}))
    with pytest.raises(NotFound, match="not in dataset 'shelves'"):
        predict(ws, image_id=foreign_image, points=[[10, 10]], labels=[1])
    with pytest.raises(InvalidInput, match="outside the image"):
        predict(ws, points=[[w + 50, 10]], labels=[1])
    labelled = ws.items[1]
    theirs = ann.list_annotations(labelled.id)[0].id
    with pytest.raises(InvalidInput, match=f"belongs to image {labelled.id}"):
        ws.accept(accept_body(ws, truth[0], annotation_id=theirs))
    assert ann.list_annotations(ws.item.id) == [] and ws.revision == 1  # nothing written


def test_an_image_gone_from_the_store_is_a_message_and_the_page_moves_on(workspace) -> None:  # noqa: ANN001
    ws, _ = workspace
    vanished = ws.items[2]
    Path(vanished.path).unlink()
    ws.refresh()
    assert not ws.open(vanished.id) and "missing from the image store" in ws.error
    with pytest.raises(NotFound, match=f"{vanished.file_name} is missing"):
        ws.image_path(vanished.id)
    with pytest.raises(NotFound, match="missing"):
        predict(ws, image_id=vanished.id, points=[[10, 10]], labels=[1])
    assert ws.canvas_data(api="/a", assets="/s").image is None  # the canvas shows nothing, no crash
    assert ws.go(-1) and ws.error is None and ws.item.id != vanished.id


def test_canvas_data_follows_the_message_format(workspace) -> None:  # noqa: ANN001
    ws, truth = workspace
    ws.accept(accept_body(ws, truth[0]))
    data = ws.canvas_data(api="/studio-api/label/tok", assets="/studio-api/assets").to_json()
    assert set(data) == {"v", "api", "assets", "image", "classes", "class_id", "annotations", "revision",
                         "segmenter", "prefetch", "selected_id", "settings"}
    assert data["v"] == 1 and data["revision"] == ws.revision == 2
    assert data["image"] == {"id": ws.item.id, "url": f"/studio-api/label/tok/image/{ws.item.id}", "width": 640,
                             "height": 480, "file_name": ws.item.file_name, "status": "done"}
    assert [(c["name"], c["index"]) for c in data["classes"]] == [("box", 1), ("jar", 2), ("bottle", 3), ("can", 4),
                                                                  ("tape", 5)]  # display order, 1-9 keys
    assert data["segmenter"] == {"kind": "fallback", "id": "fallback-grabcut-v1", "name": ws.segmenter.name,
                                 "decoder": None}
    (annotation,) = data["annotations"]
    assert set(annotation) == {"id", "class_id", "status", "source", "score", "rle", "bbox", "author", "version"}
    assert all(p["embedding_url"] is None for p in data["prefetch"])  # the fallback has no browser decoding
    assert data["settings"] == {"opacity": 0.45} and data["selected_id"] is None


def test_review_requests_and_drafts(workspace) -> None:  # noqa: ANN001
    ws, truth = workspace
    other = ws.items[1]
    ann.set_review([other.id], True, "check the jar")
    ws.refresh()
    assert ws.counts.review == 1
    ws.open(other.id)
    assert ws.item.status == "review" and ws.item.review_note == "check the jar"
    ws.mark_reviewed()
    assert ws.item.status != "review"
    ws.go(-1)
    ann.add_annotation(image_id=ws.item.id, class_id=ws.classes[0].id, mask=truth[0], source="import", status="draft")
    assert ws.accept_drafts() == 1 and ann.list_annotations(ws.item.id)[0].status == "accepted"


def test_writes_from_many_threads_keep_one_revision_each(workspace) -> None:  # noqa: ANN001
    ws, truth = workspace
    errors: list[BaseException] = []

    def write(mask: np.ndarray) -> None:
        try:
            ws.accept(accept_body(ws, mask))
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(m,)) for m in truth]
    for t in threads:
        t.start()
    for _ in range(5):
        ws.refresh()  # the script thread meanwhile
    for t in threads:
        t.join()
    assert not errors and ws.revision == 1 + len(truth) and len(ann.list_annotations(ws.item.id)) == len(truth)


def test_an_unusable_cached_embedding_is_recomputed(workspace, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    from studio.config import get_settings
    from studio.labelling.embeddings import embedding_problem
    from studio.segment.base import Embedding
    from studio.segment.cache import get_cache

    ws, truth = workspace
    monkeypatch.setenv("STUDIO_EMBEDDING_MEMORY_ITEMS", "0")  # every read goes to the disk, as after a restart
    get_settings.cache_clear()
    cache = get_cache()
    wrong = Embedding(ws.segmenter.id, (10, 10), {"lab": np.zeros((10, 10, 3), np.uint8)})
    cache.put(ws.item.content_hash, wrong)  # an entry of another image size under this image's hash
    x, y = centre(truth[0])
    assert predict(ws, points=[[x, y]], labels=[1]).masks  # dropped and recomputed, not a crash
    assert cache.get(ws.segmenter.id, ws.item.content_hash)[0].image_size == (480, 640)

    path = cache.path_for(ws.segmenter.id, ws.item.content_hash)
    path.write_bytes(path.read_bytes()[:300])  # truncated on disk
    assert predict(ws, points=[[x, y]], labels=[1]).masks

    sam_like = type("S", (), {"kind": "sam"})()
    bad = Embedding("sam-x", (4, 4), {"features": np.zeros((1, 256, 64, 32), np.float32),
                                      "input_size": np.array([4, 4], np.int32)})
    assert "expected features (1, 256, 64, 64)" in embedding_problem(sam_like, bad, (4, 4))


def test_a_corrupt_sam_checkpoint_is_a_message_not_a_crash(workspace) -> None:  # noqa: ANN001
    from studio.config import get_settings
    from studio.label_workspace import LabelWorkspace
    from studio.segment import choose_segmenter
    from studio.segment.registry import clear_choices

    sam_dir = get_settings().sam_dir
    sam_dir.mkdir(parents=True, exist_ok=True)
    (sam_dir / "sam_vit_b_01ec64.pth").write_bytes(b"not a checkpoint at all")
    clear_choices()
    try:
        ws = LabelWorkspace("shelves", choose_segmenter().segmenter)
        with pytest.raises(InvalidInput, match="sam_vit_b_01ec64.pth"):  # names the file (HTTP 400)
            predict(ws, points=[[100, 100]], labels=[1])
    finally:
        clear_choices()


def test_the_canvas_triggers_move_the_page_state(workspace) -> None:  # noqa: ANN001
    from studio.labelling.protocol import parse_event

    ws, truth = workspace
    ws.handle_event(parse_event({"kind": "class", "class_id": ws.classes[3].id}))
    assert ws.class_id == ws.classes[3].id
    with pytest.raises(InvalidInput, match="not a class of dataset 'shelves'"):
        ws.handle_event(parse_event({"kind": "class", "class_id": 9999}))
    reply = ws.accept(accept_body(ws, truth[0]))
    ws.handle_event(parse_event({"kind": "select", "annotation_id": reply.annotation.id}))
    assert ws.canvas_data(api="/a", assets="/s").selected_id == reply.annotation.id
    ws.handle_event(parse_event({"kind": "changed", "revision": reply.revision}))
    assert ws.item.status == "done" and ws.counts.unlabelled == 0
    ws.handle_event(parse_event({"kind": "open", "image_id": ws.items[2].id}))
    assert ws.item.id == ws.items[2].id and ws.selected_id is None
