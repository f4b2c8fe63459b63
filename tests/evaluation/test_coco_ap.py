"""COCO mask AP: self-score 1.0, perturbations move it the expected way, empty predictions,
parity with a plain pycocotools run on real COCO val2017 annotations, bad input."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from studio import masks
from studio.demo import DEMO_CLASSES, render_scene, scene_rng
from studio.errors import InvalidInput
from studio.evaluation.coco_ap import (
    SUMMARY_KEYS,
    PredictedInstance,
    coco_inputs_from_records,
    coco_mask_ap,
    coco_mask_eval,
)
from studio.formats.records import AnnotationRecord, DatasetDoc, ImageRecord

COCO_FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "labelbox_coco_val2017_instance_rle_panoptic"
CLASS_INDEX = {c.name: c.index for c in DEMO_CLASSES}


@pytest.fixture(scope="module")
def shelves() -> tuple[DatasetDoc, list[PredictedInstance]]:
    """4 synthetic 320x240 shelf scenes (44 products, exact masks) and their GT as predictions."""
    doc = DatasetDoc(classes=list(DEMO_CLASSES))
    truth = []
    for i in range(4):
        _, objects = render_scene(scene_rng(0, i), 320, 240)
        key = f"shelf_{i}.jpg"
        doc.images.append(ImageRecord(key, None, 320, 240, "val"))
        for name, mask in objects:
            doc.annotations.append(AnnotationRecord(key, name, masks.encode(mask)))
            truth.append(PredictedInstance(key, CLASS_INDEX[name], 1.0, mask))
    return doc, truth


def _erode(mask: np.ndarray, pixels: int) -> np.ndarray:
    return cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=pixels).astype(bool)


def _perturbed(truth: list[PredictedInstance], how: str) -> list[PredictedInstance]:
    if how == "erode-1":
        return [p._replace(mask=_erode(p.mask, 1)) for p in truth]
    if how == "erode-4":
        return [p._replace(mask=_erode(p.mask, 4)) for p in truth]
    if how == "shift-6":
        return [p._replace(mask=np.roll(p.mask, 6, axis=1)) for p in truth]
    if how == "missing-every-4th":
        return [p for n, p in enumerate(truth) if n % 4]
    if how == "confident-false-positives":
        box = np.zeros_like(truth[0].mask)
        box[:20, :20] = True  # the wall above the shelves: no product there
        return truth + [PredictedInstance(p.image_key, p.class_index, 2.0, box) for p in truth[::3]]
    if how == "wrong-class":
        return [p._replace(class_index=p.class_index % 5 + 1) for p in truth]
    raise AssertionError(how)


def _defined(result: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in result.items() if not math.isnan(v)}


def test_ground_truth_against_itself(shelves) -> None:  # noqa: ANN001
    doc, truth = shelves
    gt, results = coco_inputs_from_records(doc, truth)
    result = coco_mask_eval(gt, results)
    assert set(result.summary) == set(SUMMARY_KEYS)
    assert result.summary["ap"] == result.summary["ap50"] == result.summary["ap75"] == 1.0
    assert set(_defined(result.summary).values()) == {1.0}
    assert math.isnan(result.summary["ap_large"])  # no object above 96^2 px in these scenes: undefined, not -1
    assert result.per_class == {c.index: 1.0 for c in DEMO_CLASSES}
    json.dumps(gt), json.dumps(results)  # plain JSON (str counts), storable as is


@pytest.mark.parametrize("how, ap50_is_one", [
    ("erode-1", True),  # masks 1 px thinner: IoU still > .5 -> AP50 stays 1, the strict thresholds drop
    ("erode-4", False),  # 4 px thinner: small products fall below IoU .5 too
    ("shift-6", False),  # 6 px sideways: as above
    ("missing-every-4th", False),  # a quarter of the objects missed: recall 0.75 caps every AP
    ("confident-false-positives", False),  # wrong masks ranked above every right one
    ("wrong-class", False),  # right masks, wrong categories: nothing matches
])
def test_perturbed_predictions_score_lower(shelves, how: str, ap50_is_one: bool) -> None:  # noqa: ANN001
    doc, truth = shelves
    result = coco_mask_ap(*coco_inputs_from_records(doc, _perturbed(truth, how)))
    assert 0.0 <= result["ap"] < 1.0
    assert result["ap75"] <= result["ap50"] and result["ap"] <= result["ap50"]  # looser IoU threshold, higher AP
    assert (result["ap50"] == 1.0) is ap50_is_one
    if how == "wrong-class":
        assert set(_defined(result).values()) == {0.0}
    if how == "missing-every-4th":
        # precision 1 up to each class's recall, then nothing: AP50 = mean recall (to COCO's 1/101 recall grid)
        kept = _perturbed(truth, how)
        recall = [sum(p.class_index == c for p in kept) / sum(p.class_index == c for p in truth)
                  for c in CLASS_INDEX.values()]
        assert result["ap50"] == pytest.approx(np.mean(recall), abs=1 / 101)


def test_more_erosion_scores_lower(shelves) -> None:  # noqa: ANN001
    doc, truth = shelves
    aps = [coco_mask_ap(*coco_inputs_from_records(doc, [p._replace(mask=_erode(p.mask, k)) for p in truth]))["ap"]
           for k in (0, 1, 2, 4, 8)]
    assert aps[0] == 1.0 and all(a > b for a, b in zip(aps, aps[1:]))


def test_empty_predictions_score_zero(shelves) -> None:  # noqa: ANN001
    doc, _ = shelves
    gt, _ = coco_inputs_from_records(doc, [])
    result = coco_mask_eval(gt, [])
    assert set(_defined(result.summary).values()) == {0.0}
    assert result.per_class == {c.index: 0.0 for c in DEMO_CLASSES}
    no_objects = {**gt, "annotations": []}  # nothing to find either: every AP undefined
    assert all(math.isnan(v) for v in coco_mask_ap(no_objects, []).values())


@pytest.mark.parametrize("form", [
    "str",  # compressed RLE, counts str (the studio's own form)
    "bytes",  # compressed RLE, counts bytes (straight from pycocotools.mask.encode)
    "uncompressed",  # counts as a run-length int list
    "mask-array",  # (H, W) bool through coco_inputs_from_records
])
def test_rle_forms_score_the_same(shelves, form: str) -> None:  # noqa: ANN001
    doc, truth = shelves
    preds = _perturbed(truth, "erode-1")
    gt, reference = coco_inputs_from_records(doc, preds)
    if form == "mask-array":
        results = reference
    else:
        results = copy.deepcopy(reference)
        for r, p in zip(results, preds):
            if form == "bytes":
                r["segmentation"]["counts"] = r["segmentation"]["counts"].encode()
            elif form == "uncompressed":
                flat = p.mask.ravel(order="F").astype(np.int8)
                edges = np.flatnonzero(np.diff(np.concatenate(([0], flat, [1 - flat[-1]]))))
                r["segmentation"] = {"size": [240, 320], "counts": np.diff(np.concatenate(([0], edges))).tolist()}
    assert coco_mask_ap(gt, results) == coco_mask_ap(gt, reference)


def _plain_pycocotools(gt: dict, results: list[dict]) -> list[float]:
    """The textbook pycocotools run (loadRes + COCOeval), for comparison."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        evaluator = COCOeval(coco_gt, coco_gt.loadRes(copy.deepcopy(results)), iouType="segm")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return [float(v) for v in evaluator.stats[:6]]


@pytest.mark.skipif(not COCO_FIXTURES.is_dir(), reason="../shared/fixtures not present")
@pytest.mark.parametrize("file, perturb", [
    ("rle.json", False),  # 221 polygons + 10 crowd regions (uncompressed RLE): self-score
    ("rle.json", True),  # same, predictions eroded by 2 px with scores by position
    ("instances.json", True),  # 62 polygon objects, eroded
])
def test_real_coco_equals_plain_pycocotools(file: str, perturb: bool) -> None:
    gt = json.loads((COCO_FIXTURES / file).read_text())
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
    results = []
    for n, ann in enumerate(a for a in gt["annotations"] if not a["iscrowd"]):
        mask = masks.decode(coco.annToRLE(ann))  # (pycocotools' annToMask warns under NumPy 2)
        if perturb:
            mask = _erode(mask, 2)
        results.append({"image_id": ann["image_id"], "category_id": ann["category_id"],
                        "segmentation": masks.encode(mask), "score": 1.0 - n / 1000})
    ours = coco_mask_ap(gt, results)
    theirs = _plain_pycocotools(gt, results)
    assert [(-1.0 if math.isnan(v) else v) for v in ours.values()] == pytest.approx(theirs, abs=1e-12)
    assert (ours["ap"] == 1.0) is (not perturb)


def test_ground_truth_id_zero_is_not_lost(shelves) -> None:  # noqa: ANN001
    """pycocotools stores matched gt ids in a zero-filled array, so a gt with id 0 never counts
    as matched (a perfect prediction scores < 1); ids are renumbered before evaluation."""
    doc, truth = shelves
    gt, results = coco_inputs_from_records(doc, truth)
    gt["annotations"][0]["id"] = 0
    assert _plain_pycocotools(gt, results)[1] < 1.0  # the pitfall this guards against (AP50)
    assert coco_mask_ap(gt, results)["ap50"] == 1.0


def _gt_and_result(shelves):  # noqa: ANN001, ANN202
    doc, truth = shelves
    gt, results = coco_inputs_from_records(doc, truth[:1])
    return gt, results[0]


@pytest.mark.parametrize("change, message", [
    (lambda gt, r: r.update(image_id=999), "prediction #0: unknown image_id 999"),  # image not in gt
    (lambda gt, r: r.update(category_id=42), "prediction #0: unknown category_id 42"),  # category not in gt
    (lambda gt, r: r.update(score=math.nan), "finite number as 'score'"),  # NaN score
    (lambda gt, r: r.pop("score"), "expected the key 'score'"),  # no score
    (lambda gt, r: r["segmentation"].update(size=[10, 10]), r"RLE size \[10, 10\] disagrees"),  # wrong size
    (lambda gt, r: r["segmentation"].update(counts="!!"), "prediction #0"),  # garbage counts
    (lambda gt, r: gt["annotations"][0].update(category_id=42), "ground-truth annotation #0: unknown category_id"),
    (lambda gt, r: gt.pop("images"), "expected a list under 'images'"),  # not a COCO dict
])
def test_bad_coco_input(shelves, change, message: str) -> None:  # noqa: ANN001
    gt, result = _gt_and_result(shelves)
    change(gt, result)
    with pytest.raises(InvalidInput, match=message):
        coco_mask_ap(gt, [result])


@pytest.mark.parametrize("instance, message", [
    (("nope.jpg", 1, 0.9, np.zeros((240, 320), bool)), "unknown image key 'nope.jpg'"),  # image not in the doc
    (("shelf_0.jpg", 9, 0.9, np.zeros((240, 320), bool)), "unknown class index 9"),  # class not in the doc
    (("shelf_0.jpg", 1, 0.9, np.zeros((120, 160), bool)), r"expected a mask of shape \(240, 320\)"),  # size
    (("shelf_0.jpg", 1, 0.9, {"size": [240, 320]}), "expected 'segmentation' as an RLE dict"),  # RLE lacks counts
])
def test_bad_records(shelves, instance: tuple, message: str) -> None:  # noqa: ANN001
    doc, _ = shelves
    with pytest.raises(InvalidInput, match=message):
        coco_inputs_from_records(doc, [instance])
