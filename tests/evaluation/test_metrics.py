"""Semantic-segmentation metrics: a hand-worked example, parity with torchmetrics on random data
(ignore index, absent classes, batches, resized predictions), per-image views, bad input."""

from __future__ import annotations

import math
import zlib
from fractions import Fraction as F

import numpy as np
import pytest
import torch
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassJaccardIndex,
    MulticlassPrecision,
    MulticlassRecall,
)

from studio.errors import InvalidInput
from studio.evaluation.metrics import (
    ConfusionAccumulator,
    confusion_matrix,
    confusion_pairs,
    per_image_score,
    per_image_scores,
    resize_prediction,
    segmentation_metrics,
    worst_first,
)

IGNORE = 255

# --------------------------------------------------------------------------- hand-worked

# 3x3 image, C = 4 classes (class 3 occurs nowhere), one ignored pixel:
#   gt   = 0 0 1      pred = 0 1 1      pixel (gt -> pred): 0->0 0->1 1->1
#          1 2 255           1 1 0                          1->1 2->1 (ignored)
#          2 2 0             2 0 0                          2->2 2->0 0->0
HAND_GT = np.array([[0, 0, 1], [1, 2, IGNORE], [2, 2, 0]], np.uint8)
HAND_PRED = np.array([[0, 1, 1], [1, 1, 0], [2, 0, 0]], np.uint8)
# rows = gt:  class 0: ->0 twice, ->1 once; class 1: ->1 twice; class 2: ->0, ->1, ->2 once each
HAND_CM = [[2, 1, 0, 0],
           [0, 2, 0, 0],
           [1, 1, 1, 0],
           [0, 0, 0, 0]]
# TP = (2, 2, 1, 0); column sums (3, 4, 1, 0) -> FP = (1, 2, 0, 0); row sums (3, 2, 3, 0) -> FN = (1, 0, 2, 0)
HAND_IOU = [F(2, 4), F(2, 4), F(1, 3), None]  # TP / (TP + FP + FN); class 3 absent from both -> NaN
HAND_DICE = [F(4, 6), F(4, 6), F(2, 4), None]  # 2TP / (2TP + FP + FN)
HAND_PRECISION = [F(2, 3), F(2, 4), F(1, 1), None]  # TP / (TP + FP); class 3 never predicted -> NaN
HAND_RECALL = [F(2, 3), F(2, 2), F(1, 3), None]  # TP / (TP + FN); class 3 has no gt pixel -> NaN
HAND_MIOU = (F(1, 2) + F(1, 2) + F(1, 3)) / 3  # = 4/9: over the 3 present classes, class 3 excluded
HAND_MEAN_DICE = (F(2, 3) + F(2, 3) + F(1, 2)) / 3  # = 11/18
HAND_PIXEL_ACCURACY = F(5, 8)  # trace 5 of 8 counted pixels


def _same(actual: np.ndarray, expected: list[F | None]) -> bool:
    want = np.array([math.nan if v is None else float(v) for v in expected])
    return bool(np.allclose(actual, want, rtol=0, atol=1e-12, equal_nan=True))


def test_hand_worked_3x3() -> None:
    cm = confusion_matrix(HAND_GT, HAND_PRED, num_classes=4)
    assert cm.dtype == np.int64 and cm.tolist() == HAND_CM
    m = segmentation_metrics(cm, ["bg", "cat", "dog", "cow"])
    assert _same(m.iou, HAND_IOU) and _same(m.dice, HAND_DICE)
    assert _same(m.precision, HAND_PRECISION) and _same(m.recall, HAND_RECALL)
    assert _same(m.accuracy, HAND_RECALL)  # mmsegmentation's per-class "Acc" is recall
    assert m.support.tolist() == [3, 2, 3, 0] and m.present.tolist() == [True, True, True, False]
    assert m.miou == pytest.approx(float(HAND_MIOU), abs=1e-12)
    assert m.mean_dice == pytest.approx(float(HAND_MEAN_DICE), abs=1e-12)
    assert m.pixel_accuracy == pytest.approx(float(HAND_PIXEL_ACCURACY), abs=1e-12)
    assert m.summary() == pytest.approx({"miou": 4 / 9, "pixel_accuracy": 5 / 8, "mean_dice": 11 / 18})
    rows = m.class_rows()
    assert [r["name"] for r in rows] == ["bg", "cat", "dog", "cow"]
    assert rows[3] == {"class_index": 3, "name": "cow", "iou": None, "dice": None, "precision": None,
                       "recall": None, "accuracy": None, "f1": None, "support": 0}
    assert rows[2]["iou"] == pytest.approx(1 / 3) and rows[2]["support"] == 3
    assert per_image_score(cm) == pytest.approx(4 / 9)


# --------------------------------------------------------------------------- torchmetrics parity


def _random_case(case: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(gt, pred, C, ignore index); pred may have another spatial size (then it is resized)."""
    if case == "all-present":
        gt = rng.integers(0, 5, (64, 48), dtype=np.uint8)
        pred = np.where(rng.random(gt.shape) < 0.7, gt, rng.integers(0, 5, gt.shape)).astype(np.uint8)
        gt[rng.random(gt.shape) < 0.1] = IGNORE
        return gt, pred, 5, IGNORE
    if case == "absent-classes":
        gt = rng.integers(0, 4, (3, 40, 40), dtype=np.uint8)
        pred = rng.integers(0, 5, gt.shape, dtype=np.uint8)
        gt[:, :5] = IGNORE
        return gt, pred, 8, IGNORE
    if case == "int64-batch":
        gt = rng.integers(0, 6, (4, 33, 17)).astype(np.int64)
        pred = np.where(rng.random(gt.shape) < 0.5, gt, rng.integers(0, 6, gt.shape))
        gt[rng.random(gt.shape) < 0.2] = IGNORE
        return gt, pred, 6, IGNORE
    if case == "resized-pred":
        gt = np.repeat(np.repeat(rng.integers(0, 4, (12, 10), dtype=np.uint8), 4, 0), 4, 1)
        gt[gt == 3] = IGNORE
        pred = rng.integers(0, 4, (2 * 12 + 1, 2 * 10 - 3), dtype=np.uint8)
        return gt, pred, 4, IGNORE
    if case == "many-classes-int32":
        gt = rng.integers(0, 300, (70, 90)).astype(np.int32)
        pred = np.where(rng.random(gt.shape) < 0.5, gt, rng.integers(0, 300, gt.shape)).astype(np.int32)
        gt[:3] = -1  # 255 is a class here: ignore -1
        return gt, pred, 300, -1
    if case == "one-class-predicted":
        gt = rng.integers(0, 3, (20, 20), dtype=np.uint8)
        return gt, np.zeros_like(gt), 3, IGNORE
    raise AssertionError(case)


def _torch_resized(pred: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    t = torch.from_numpy(pred.astype(np.float32))
    t = t[None, None] if t.ndim == 2 else t[:, None]
    out = torch.nn.functional.interpolate(t, size=size, mode="nearest-exact")
    return out[0, 0].long() if pred.ndim == 2 else out[:, 0].long()


@pytest.mark.parametrize("case", [
    "all-present",  # (H, W) uint8, 10 % ignore, every class in gt and pred
    "absent-classes",  # (N, H, W), C = 8: class 4 only predicted, 5..7 absent from both (excluded from the mean)
    "int64-batch",  # int64 (as from torch argmax), 20 % ignore
    "resized-pred",  # prediction of another size: nearest resize must equal torch "nearest-exact"
    "many-classes-int32",  # C = 300 > 255: the generic (non-uint8) path
    "one-class-predicted",  # a degenerate model that predicts only class 0
])
def test_equals_torchmetrics(case: str) -> None:
    rng = np.random.default_rng(zlib.crc32(case.encode()))  # stable per case
    gt, pred, c, ignore = _random_case(case, rng)
    target = torch.from_numpy(gt.astype(np.int64))
    preds = _torch_resized(pred, gt.shape[-2:]) if pred.shape[-2:] != gt.shape[-2:] else torch.from_numpy(
        pred.astype(np.int64))

    def tm(metric: object) -> np.ndarray:
        return metric(preds, target).double().numpy()  # type: ignore[operator]

    cm = confusion_matrix(gt, pred, c, ignore_index=ignore)
    assert (cm == tm(MulticlassConfusionMatrix(c, ignore_index=ignore))).all()
    m = segmentation_metrics(cm)
    assert m.miou == pytest.approx(float(tm(MulticlassJaccardIndex(c, average="macro", ignore_index=ignore))),
                                   abs=1e-6)
    tm_iou = tm(MulticlassJaccardIndex(c, average="none", ignore_index=ignore))
    np.testing.assert_allclose(m.iou[m.present], tm_iou[m.present], atol=1e-6)
    assert (tm_iou[~m.present] == 0).all()  # torchmetrics reports 0 for a class absent from both; we say NaN
    assert np.isnan(m.iou[~m.present]).all()
    assert m.pixel_accuracy == pytest.approx(float(tm(MulticlassAccuracy(c, average="micro", ignore_index=ignore))),
                                             abs=1e-6)
    assert m.mean_dice == pytest.approx(float(tm(MulticlassF1Score(c, average="macro", ignore_index=ignore))),
                                        abs=1e-6)
    recall = tm(MulticlassRecall(c, average="none", ignore_index=ignore))
    precision = tm(MulticlassPrecision(c, average="none", ignore_index=ignore))
    np.testing.assert_allclose(m.recall[m.support > 0], recall[m.support > 0], atol=1e-6)
    np.testing.assert_allclose(m.precision[m.predicted > 0], precision[m.predicted > 0], atol=1e-6)
    # per image: each image's own mIoU is torchmetrics' macro Jaccard on that image alone
    acc = ConfusionAccumulator(c, ignore)
    per_image = acc.update(gt, pred)
    assert (acc.pooled == cm).all()
    if gt.ndim == 3:
        for i in range(len(gt)):
            single = MulticlassJaccardIndex(c, average="macro", ignore_index=ignore)(preds[i], target[i])
            assert per_image_scores(per_image)[i] == pytest.approx(float(single), abs=1e-6)


def test_all_ignored_is_nan_like_torchmetrics() -> None:
    gt = np.full((4, 4), IGNORE, np.uint8)
    pred = np.zeros((4, 4), np.uint8)
    cm = confusion_matrix(gt, pred, 3)
    assert not cm.any()
    m = segmentation_metrics(cm)
    assert math.isnan(m.miou) and math.isnan(m.pixel_accuracy) and math.isnan(m.mean_dice)
    theirs = MulticlassJaccardIndex(3, ignore_index=IGNORE)(torch.from_numpy(pred).long(), torch.from_numpy(gt).long())
    assert torch.isnan(theirs)  # torchmetrics: 0 / 0 weights -> nan as well
    assert m.summary() == {"miou": None, "pixel_accuracy": None, "mean_dice": None}
    assert math.isnan(per_image_score(cm))


def test_large_counts_stay_exact() -> None:
    """Counts above 2**24 (where float32 stops being exact) are int64 and exact."""
    gt = np.zeros((5000, 4000), np.uint8)  # 20 M pixels of class 0
    pred = gt.copy()
    pred[0, :7] = 1
    cm = confusion_matrix(gt, pred, 2)
    assert cm.tolist() == [[20_000_000 - 7, 7], [0, 0]]


# --------------------------------------------------------------------------- resizing


@pytest.mark.parametrize("src, dst", [
    ((4, 6), (8, 12)),  # upsample x2
    ((8, 12), (4, 6)),  # downsample /2
    ((7, 5), (3, 11)),  # non-integer ratios, one axis up, one down
    ((1, 1), (5, 3)),  # a single pixel fills the image
    ((100, 37), (37, 100)),  # transposed sizes
    ((3, 3), (3, 3)),  # same size: returned as is
])
def test_resize_prediction_matches_torch_nearest_exact(src: tuple[int, int], dst: tuple[int, int]) -> None:
    pred = np.random.default_rng(1).integers(0, 200, (2, *src)).astype(np.uint8)
    ours = resize_prediction(pred, dst)
    assert ours.shape == (2, *dst) and ours.dtype == np.uint8
    assert (ours == _torch_resized(pred, dst).numpy()).all()
    assert (resize_prediction(pred[0], dst) == ours[0]).all()


# --------------------------------------------------------------------------- accumulator, per image


def test_accumulator_per_image_and_pooled() -> None:
    rng = np.random.default_rng(5)
    gt = rng.integers(0, 4, (6, 20, 30), dtype=np.uint8)
    gt[:, 0] = IGNORE
    pred = rng.integers(0, 4, (6, 20, 30), dtype=np.uint8)
    one_by_one = ConfusionAccumulator(4)
    singles = np.stack([one_by_one.update(g, p) for g, p in zip(gt, pred)])
    batch = ConfusionAccumulator(4)
    together = batch.update(gt, pred)
    assert together.shape == (6, 4, 4) and (together == singles).all()
    for i in range(6):
        assert (singles[i] == confusion_matrix(gt[i], pred[i], 4)).all()
    assert (one_by_one.pooled == confusion_matrix(gt, pred, 4)).all() and one_by_one.images == 6
    assert (batch.pooled == singles.sum(0)).all()
    before = batch.pooled
    bad = gt[0].copy()
    bad[5, 5] = 9
    with pytest.raises(InvalidInput, match=r"found \[9\]"):
        batch.update(np.stack([gt[1], bad]), pred[:2])  # first image fine, second bad: nothing added
    assert (batch.pooled == before).all() and batch.images == 6
    batch.reset()
    assert not batch.pooled.any() and batch.images == 0


def test_per_image_ranking_and_click_through() -> None:
    rng = np.random.default_rng(11)
    gt = rng.integers(0, 3, (8, 16, 16), dtype=np.uint8)
    noise = rng.random(gt.shape) < np.linspace(0.0, 0.9, 8)[:, None, None]  # image i: more noise, worse
    pred = np.where(noise, rng.integers(0, 3, gt.shape), gt).astype(np.uint8)
    gt[3] = IGNORE  # image 3: nothing counted -> NaN, ranked last
    cms = ConfusionAccumulator(3).update(gt, pred)
    scores = per_image_scores(cms)
    assert scores[0] == 1.0 and math.isnan(scores[3])
    order = worst_first(scores)
    assert order[-1] == 3 and order[-2] == 0
    assert (np.diff(scores[order[:-1]]) >= 0).all()
    assert list(scores) == pytest.approx([per_image_score(cm) for cm in cms], nan_ok=True)
    for t, p in [(0, 1), (2, 0), (1, 1)]:
        counts = ((gt == t) & (pred == p)).sum(axis=(1, 2))  # straight from the masks
        ranked = confusion_pairs(list(cms), t, p)
        assert sorted(ranked.tolist()) == np.flatnonzero(counts).tolist()
        assert (np.diff(counts[ranked]) <= 0).all()  # most pixels first
    assert confusion_pairs(np.zeros((0, 3, 3), np.int64), 0, 1).tolist() == []  # no images
    assert confusion_pairs([], 0, 1).tolist() == [] and per_image_scores([]).shape == (0,)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("call, message", [
    # prediction batch of another length
    (lambda: confusion_matrix(np.zeros((2, 4, 4), np.uint8), np.zeros((3, 4, 4), np.uint8), 3),
     r"prediction: expected shape \(2, h, w\)"),
    # (H, W) ground truth with an (N, H, W) prediction
    (lambda: confusion_matrix(np.zeros((4, 4), np.uint8), np.zeros((1, 4, 4), np.uint8), 3),
     r"expected shape \(h, w\)"),
    # a flat vector is no label map
    (lambda: confusion_matrix(np.zeros(16, np.uint8), np.zeros(16, np.uint8), 3), r"\(H, W\) or \(N, H, W\)"),
    # float scores instead of class indices
    (lambda: confusion_matrix(np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.float32), 3), "argmax"),
    # predicted class 3 and 7 with C = 3
    (lambda: confusion_matrix(np.zeros((2, 2), np.uint8), np.array([[0, 3], [7, 1]], np.uint8), 3),
     r"prediction: expected class indices 0..2, found \[3, 7\]"),
    # a negative prediction
    (lambda: confusion_matrix(np.zeros((2, 2), np.int64), np.array([[0, -1], [1, 1]]), 3), r"found \[-1\]"),
    # predicting the ignore value is an error too
    (lambda: confusion_matrix(np.zeros((2, 2), np.uint8), np.full((2, 2), 255, np.uint8), 3), r"found \[255\]"),
    # gt value 4 (not a class, not ignore), uint8 fast path
    (lambda: confusion_matrix(np.array([[0, 4], [255, 1]], np.uint8), np.zeros((2, 2), np.uint8), 3),
     r"ground truth: expected class indices 0..2 or 255 \(ignore\), found \[4\]"),
    # gt -1 in an int64 map (generic path)
    (lambda: confusion_matrix(np.array([[0, -1], [255, 1]]), np.zeros((2, 2), np.uint8), 3), r"found \[-1\]"),
    # 255 is not ignored when ignore_index=None
    (lambda: confusion_matrix(np.array([[0, 255]], np.uint8), np.zeros((1, 2), np.uint8), 3, ignore_index=None),
     r"0..2, found \[255\]"),
    # no classes
    (lambda: confusion_matrix(np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8), 0), "num_classes: expected an int >= 1"),
    # the ignore value must not be a class
    (lambda: ConfusionAccumulator(3, ignore_index=1), "ignore_index 1: expected a value outside"),
    # resize to a zero size
    (lambda: resize_prediction(np.zeros((2, 2), np.uint8), (0, 3)), r"size: expected \(H, W\)"),
    # one name too few
    (lambda: segmentation_metrics(np.eye(3, dtype=np.int64), ["a", "b"]), "expected 3 names"),
    # not square
    (lambda: segmentation_metrics(np.zeros((3, 2), np.int64)), r"expected shape \(C, C\)"),
    # negative counts
    (lambda: segmentation_metrics(-np.eye(2, dtype=np.int64)), "non-negative"),
    # per-image matrices of the wrong rank
    (lambda: per_image_scores(np.zeros((3, 3), np.int64)), r"expected shape \(N, C, C\)"),
    # click-through to a class that does not exist
    (lambda: confusion_pairs(np.zeros((2, 3, 3), np.int64), 0, 3), r"pred_class: expected a class index 0..2"),
])
def test_bad_input(call, message: str) -> None:  # noqa: ANN001
    with pytest.raises(InvalidInput, match=message):
        call()


def test_no_division_warnings() -> None:
    with np.errstate(all="raise"):  # any 0/0 in the metric code would raise here
        m = segmentation_metrics(np.array([[5, 0, 0], [0, 0, 0], [2, 0, 0]]))
        per_image_scores(np.zeros((2, 3, 3), np.int64))
    assert np.isnan(m.iou[1]) and m.iou[2] == 0.0 and np.isnan(m.recall[1]) and np.isnan(m.precision[2])
