"""Semantic-segmentation metrics from confusion matrices (the field's definitions, DESIGN principle 9).

Conventions used throughout:

- A *label map* is an integer (or bool) array, ``(H, W)`` for one image or ``(N, H, W)`` for a
  batch; ground truth values are class indices ``0..C-1`` or ``ignore_index`` (255 by default:
  "unlabelled", those pixels count nowhere); predictions are class indices ``0..C-1`` everywhere.
- A *confusion matrix* ``cm`` is ``(C, C)`` int64, **rows = ground truth, columns = prediction**:
  ``cm[t, p]`` = pixels of class ``t`` predicted as ``p``. Matrices add: the dataset's matrix is the
  sum of the per-image ones ("pooled", as torchmetrics and mmsegmentation compute it).
- Per class ``c``: ``TP = cm[c, c]``, ``FP = column sum - TP``, ``FN = row sum - TP``.
- A class is *present* when it occurs in the ground truth or in the prediction
  (``TP + FP + FN > 0``). Means over classes (mIoU, mean Dice) are over present classes only:
  classes absent from both are excluded, not counted as 0 or 1. This is exactly torchmetrics
  >= 1.0 ``MulticlassJaccardIndex(average="macro")`` and mmsegmentation's ``nanmean``.
- Undefined values are NaN (never a division warning); ``SegmentationMetrics.class_rows`` turns
  them into None for storage.

Argument order is ``(gt, pred)`` here (torchmetrics takes ``(preds, target)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from studio.errors import InvalidInput

IGNORE_INDEX = 255
# Pixels per np.bincount call. bincount casts its input to int64; in blocks of 2^18 pixels
# (one 512x512 mask) that temporary stays in cache, while one call over 1,000 masks is ~3x
# slower per pixel (measured: benchmarks/evaluation.py).
_BLOCK = 1 << 18


# --------------------------------------------------------------------------- validation


def _check_num_classes(num_classes: Any) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise InvalidInput(f"num_classes: expected an int >= 1, got {num_classes!r}")
    return int(num_classes)


def _check_ignore_index(ignore_index: Any, num_classes: int) -> int | None:
    if ignore_index is None:
        return None
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise InvalidInput(f"ignore_index: expected an int or None, got {ignore_index!r}")
    if 0 <= ignore_index < num_classes:
        raise InvalidInput(f"ignore_index {ignore_index}: expected a value outside the class indices "
                           f"0..{num_classes - 1} (e.g. {255 if num_classes <= 255 else -1})")
    return int(ignore_index)


def _label_array(values: Any, what: str) -> np.ndarray:
    """``values`` as an integer ndarray (bool viewed as uint8); InvalidInput for other dtypes."""
    array = np.asarray(values)
    if array.dtype == np.bool_:
        return array.view(np.uint8)
    if array.dtype.kind not in "ui":
        raise InvalidInput(f"{what}: expected integer class indices, got dtype {array.dtype}"
                           + (" (take the argmax of the scores first)" if array.dtype.kind == "f" else ""))
    return array


def _bad_values(values: np.ndarray, limit: int = 10) -> list[int]:
    """The first ``limit`` distinct values of ``values`` (error messages only)."""
    return [int(v) for v in np.unique(values)[:limit]]


def _check_cm(cm: Any) -> np.ndarray:
    """``cm`` as a ``(C, C)`` int64 array of counts (C >= 1); InvalidInput otherwise."""
    array = np.asarray(cm)
    if array.ndim != 2 or array.shape[0] != array.shape[1] or array.shape[0] < 1:
        raise InvalidInput(f"confusion matrix: expected shape (C, C) with C >= 1, got {array.shape}")
    return _counts(array, "confusion matrix")


def _check_cms(cms: Any) -> np.ndarray:
    """Per-image matrices (a sequence of ``(C, C)`` or an ``(N, C, C)`` array) as ``(N, C, C)`` int64."""
    array = np.asarray(cms)
    if array.size == 0 and array.ndim < 3:  # np.asarray([]): no images
        array = array.reshape(0, 0, 0)
    if array.ndim != 3 or array.shape[1] != array.shape[2]:
        raise InvalidInput(f"per-image confusion matrices: expected shape (N, C, C), got {array.shape}")
    return _counts(array, "per-image confusion matrices")


def _counts(array: np.ndarray, what: str) -> np.ndarray:
    if array.dtype.kind == "f":
        if not np.isfinite(array).all() or (array != np.round(array)).any():
            raise InvalidInput(f"{what}: expected whole-number counts, got non-integral values")
    elif array.dtype.kind not in "ui":
        raise InvalidInput(f"{what}: expected integer counts, got dtype {array.dtype}")
    if array.size and array.min() < 0:
        raise InvalidInput(f"{what}: expected non-negative counts, got {array.min()}")
    return array.astype(np.int64, copy=False)


def _class_names(class_names: Sequence[str] | None, num_classes: int) -> tuple[str, ...]:
    if class_names is None:
        return tuple(f"class_{i}" for i in range(num_classes))
    names = tuple(str(n) for n in class_names)
    if len(names) != num_classes:
        raise InvalidInput(f"class_names: expected {num_classes} names (one per class), got {len(names)}")
    return names


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` as float64, NaN where ``den == 0`` (no warning)."""
    num = np.asarray(num, np.float64)
    den = np.asarray(den, np.float64)
    return np.divide(num, den, out=np.full(np.broadcast_shapes(num.shape, den.shape), np.nan), where=den != 0)


def _none_if_nan(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


# --------------------------------------------------------------------------- resizing


def resize_prediction(pred: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a label map ``(h, w)`` or ``(N, h, w)`` to ``size = (H, W)``.

    Pixel centres are aligned: output pixel ``y`` reads source row
    ``floor((y + 0.5) * h / H)`` (same for columns), i.e. torch ``interpolate(mode="nearest-exact")``,
    PIL ``NEAREST`` and OpenCV ``INTER_NEAREST_EXACT``. Any dtype; the result keeps it. Class
    values are never mixed (no interpolation between labels).
    """
    array = np.asarray(pred)
    if array.ndim not in (2, 3):
        raise InvalidInput(f"prediction: expected shape (h, w) or (N, h, w), got {array.shape}")
    size = tuple(size) if isinstance(size, (tuple, list)) else ()
    if (len(size) != 2 or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in size)):
        raise InvalidInput(f"size: expected (H, W) with positive ints, got {size!r}")
    h, w = array.shape[-2:]
    out_h, out_w = int(size[0]), int(size[1])
    if (h, w) == (out_h, out_w):
        return array
    if h < 1 or w < 1:
        raise InvalidInput(f"prediction: expected at least 1x1 pixels to resize, got {h}x{w}")
    # exact integer form of floor((i + 0.5) * src / dst): no float rounding at the boundaries
    rows = (2 * np.arange(out_h, dtype=np.int64) + 1) * h // (2 * out_h)
    cols = (2 * np.arange(out_w, dtype=np.int64) + 1) * w // (2 * out_w)
    return np.take(np.take(array, rows, axis=-2), cols, axis=-1)


# --------------------------------------------------------------------------- confusion matrices


@dataclass(frozen=True)
class _Prepared:
    """Validated label maps ready for counting.

    codes: ground truth as row codes (same shape as pred); ``rows``: how many codes there can be.
    Codes ``0..C-1`` are the classes, ``ignore_row`` (if any) marks ignored pixels; any other code
    that shows up in the counts is a bad ground-truth value (in the uint8 fast path the code
    *is* the value, so the message can name it).
    """

    codes: np.ndarray
    pred: np.ndarray
    rows: int
    ignore_row: int | None


def _prepare(gt: Any, pred: Any, num_classes: int, ignore_index: int | None) -> _Prepared:
    g = _label_array(gt, "ground truth")
    p = _label_array(pred, "prediction")
    if g.ndim not in (2, 3):
        raise InvalidInput(f"ground truth: expected shape (H, W) or (N, H, W), got {g.shape}")
    if p.ndim != g.ndim or (g.ndim == 3 and p.shape[0] != g.shape[0]):
        expected = "(h, w)" if g.ndim == 2 else f"({g.shape[0]}, h, w)"
        raise InvalidInput(f"prediction: expected shape {expected} to match ground truth {g.shape}, got {p.shape}")
    p = resize_prediction(p, g.shape[-2:])
    _check_pred_range(p, num_classes)
    if g.dtype != np.uint8 and num_classes <= 255 and g.size and g.min() >= 0 and g.max() <= 255:
        g = g.astype(np.uint8)  # e.g. int64 from torch: one cheap cast, then the fast path
    if g.dtype == np.uint8 and num_classes <= 255:
        # fast path: the value is the row code; bad values are found from the counts themselves
        ignore_row = ignore_index if ignore_index is not None and 0 <= ignore_index <= 255 else None
        return _Prepared(g, p, 256, ignore_row)
    code_dtype = np.min_scalar_type(num_classes)  # holds 0..C (C = the ignore code)
    if g.size == 0 or (g.min() >= 0 and g.max() < num_classes):
        return _Prepared(g.astype(code_dtype, copy=False), p, num_classes, None)
    ignored = g == ignore_index if ignore_index is not None else np.zeros(g.shape, bool)
    bad = ~ignored & ((g < 0) | (g >= num_classes))
    if bad.any():
        raise _gt_error(_bad_values(g[bad]), num_classes, ignore_index)
    codes = np.where(ignored, num_classes, g).astype(code_dtype)
    return _Prepared(codes, p, num_classes + 1, num_classes)


def _check_pred_range(p: np.ndarray, num_classes: int) -> None:
    if p.size == 0:
        return
    if p.max() >= num_classes or (p.dtype.kind == "i" and p.min() < 0):
        bad = _bad_values(p[(p < 0) | (p >= num_classes)])
        raise InvalidInput(f"prediction: expected class indices 0..{num_classes - 1}, found {bad}")


def _gt_error(bad: list[int], num_classes: int, ignore_index: int | None) -> InvalidInput:
    ignore = f" or {ignore_index} (ignore)" if ignore_index is not None else ""
    return InvalidInput(f"ground truth: expected class indices 0..{num_classes - 1}{ignore}, found {bad}")


def _index_dtype(bins: int) -> type[np.unsignedinteger] | type[np.int64]:
    if bins <= 1 << 16:
        return np.uint16
    return np.uint32 if bins <= 1 << 32 else np.int64


def _count_flat(codes: np.ndarray, pred: np.ndarray, rows: int, num_classes: int) -> np.ndarray:
    """``(rows, C)`` int64 joint counts of 1-D ``codes`` and ``pred``, one bincount per block of
    ``_BLOCK`` pixels over ``code * C + pred`` in the smallest dtype that holds it."""
    bins = rows * num_classes
    dtype = _index_dtype(bins)
    total = np.zeros(bins, np.int64)
    for start in range(0, codes.size, _BLOCK):
        index = codes[start : start + _BLOCK].astype(dtype)
        index *= dtype(num_classes)
        np.add(index, pred[start : start + _BLOCK], out=index, casting="unsafe")  # pred checked: 0..C-1
        total += np.bincount(index, minlength=bins)
    return total.reshape(rows, num_classes)


def _finish(counts: np.ndarray, prepared: _Prepared, num_classes: int, ignore_index: int | None) -> np.ndarray:
    """The ``(C, C)`` block of the joint counts, after checking no bad ground-truth code occurred."""
    extra = counts[num_classes:].sum(axis=1)
    if prepared.ignore_row is not None:
        extra[prepared.ignore_row - num_classes] = 0
    if extra.any():
        raise _gt_error((np.flatnonzero(extra)[:10] + num_classes).tolist(), num_classes, ignore_index)
    return np.ascontiguousarray(counts[:num_classes])


def _image_matrices(prepared: _Prepared, num_classes: int, ignore_index: int | None) -> np.ndarray:
    """``(N, C, C)`` per-image matrices of a prepared ``(N, H, W)`` batch (validated before return)."""
    out = np.empty((prepared.codes.shape[0], num_classes, num_classes), np.int64)
    for i in range(prepared.codes.shape[0]):
        counts = _count_flat(prepared.codes[i].ravel(), prepared.pred[i].ravel(), prepared.rows, num_classes)
        out[i] = _finish(counts, prepared, num_classes, ignore_index)
    return out


def confusion_matrix(gt: np.ndarray, pred: np.ndarray, num_classes: int,
                     ignore_index: int | None = IGNORE_INDEX) -> np.ndarray:
    """Pooled ``(C, C)`` int64 confusion matrix (rows = ground truth, columns = prediction).

    gt: ``(H, W)`` or ``(N, H, W)`` integer/bool class indices ``0..C-1`` or ``ignore_index``
    (those pixels are skipped; None = no ignore value). pred: integer/bool ``0..C-1``, same
    ndim (and N); another spatial size is resized to the ground truth's with
    :func:`resize_prediction`. Equals torchmetrics ``MulticlassConfusionMatrix(C,
    ignore_index=...)(pred, gt)``. InvalidInput for other shapes or dtypes, out-of-range values
    (named in the message), ``num_classes < 1`` or an ``ignore_index`` that is a class index.
    """
    num_classes = _check_num_classes(num_classes)
    ignore_index = _check_ignore_index(ignore_index, num_classes)
    prepared = _prepare(gt, pred, num_classes, ignore_index)
    codes = prepared.codes.reshape(-1)  # a view when contiguous; blocks keep temporaries small
    counts = _count_flat(codes, prepared.pred.reshape(-1), prepared.rows, num_classes)
    return _finish(counts, prepared, num_classes, ignore_index)


class ConfusionAccumulator:
    """Pools confusion matrices image by image and hands back each image's own matrix.

    ``update(gt, pred)`` validates first and adds only then, so a bad image leaves the pooled
    matrix unchanged. ``pooled`` is ``(C, C)`` int64; ``images`` counts the images added.
    """

    def __init__(self, num_classes: int, ignore_index: int | None = IGNORE_INDEX) -> None:
        self.num_classes = _check_num_classes(num_classes)
        self.ignore_index = _check_ignore_index(ignore_index, self.num_classes)
        self._pooled = np.zeros((self.num_classes, self.num_classes), np.int64)
        self.images = 0

    def update(self, gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
        """Add one image ``(H, W)`` -> its ``(C, C)`` matrix, or a batch ``(N, H, W)`` -> ``(N, C, C)``
        (inputs as in :func:`confusion_matrix`)."""
        prepared = _prepare(gt, pred, self.num_classes, self.ignore_index)
        batch = prepared.codes.ndim == 3
        if not batch:
            prepared = _Prepared(prepared.codes[None], prepared.pred[None], prepared.rows, prepared.ignore_row)
        matrices = _image_matrices(prepared, self.num_classes, self.ignore_index)
        self._pooled += matrices.sum(axis=0)
        self.images += len(matrices)
        return matrices if batch else matrices[0]

    @property
    def pooled(self) -> np.ndarray:
        """The dataset's ``(C, C)`` int64 matrix so far (a copy)."""
        return self._pooled.copy()

    def reset(self) -> None:
        self._pooled[:] = 0
        self.images = 0


# --------------------------------------------------------------------------- metrics


def _stats(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(TP, FP, FN)`` per class of ``(..., C, C)`` matrices, each ``(..., C)`` int64."""
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    return tp, cm.sum(axis=-2) - tp, cm.sum(axis=-1) - tp


def _present_mean(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Mean of ``values`` over the ``present`` classes along the last axis; NaN if none is."""
    return _ratio(np.where(present, values, 0.0).sum(axis=-1), present.sum(axis=-1))


@dataclass(frozen=True)
class SegmentationMetrics:
    """Metrics of one pooled confusion matrix. Per-class arrays are ``(C,)``.

    iou = TP / (TP + FP + FN); dice = 2TP / (2TP + FP + FN) (= pixel F1): NaN when the class is
    absent from both ground truth and prediction. precision = TP / (TP + FP): NaN when the class
    is never predicted. recall = TP / (TP + FN): NaN when the class has no ground-truth pixel.
    accuracy = the per-class pixel accuracy of mmsegmentation ("Acc" column), which *is* recall.
    support = ground-truth pixels; predicted = pixels predicted as the class; present = in
    ground truth or prediction. miou / mean_dice = means over present classes;
    pixel_accuracy = trace / total (NaN for an all-zero matrix, as is miou).
    """

    confusion: np.ndarray
    class_names: tuple[str, ...]
    iou: np.ndarray
    dice: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    support: np.ndarray
    predicted: np.ndarray
    present: np.ndarray
    miou: float
    pixel_accuracy: float
    mean_dice: float

    @property
    def accuracy(self) -> np.ndarray:
        """Per-class pixel accuracy (mmsegmentation's definition) = recall."""
        return self.recall

    def summary(self) -> dict[str, float | None]:
        """``{miou, pixel_accuracy, mean_dice}`` for ``Evaluation.summary`` (None where undefined)."""
        return {"miou": _none_if_nan(self.miou), "pixel_accuracy": _none_if_nan(self.pixel_accuracy),
                "mean_dice": _none_if_nan(self.mean_dice)}

    def class_rows(self) -> list[dict[str, Any]]:
        """One dict per class with the ``EvaluationClass`` fields (NaN -> None; f1 None: see dice)."""
        return [
            {"class_index": c, "name": name, "iou": _none_if_nan(self.iou[c]), "dice": _none_if_nan(self.dice[c]),
             "precision": _none_if_nan(self.precision[c]), "recall": _none_if_nan(self.recall[c]),
             "accuracy": _none_if_nan(self.recall[c]), "f1": None, "support": int(self.support[c])}
            for c, name in enumerate(self.class_names)
        ]


def segmentation_metrics(cm: np.ndarray, class_names: Sequence[str] | None = None) -> SegmentationMetrics:
    """Per-class and summary metrics of a ``(C, C)`` confusion matrix (rows = ground truth);
    definitions in :class:`SegmentationMetrics`. mIoU equals torchmetrics
    ``MulticlassJaccardIndex(C, average="macro", ignore_index=255)`` on the same pixels."""
    cm = _check_cm(cm)
    names = _class_names(class_names, cm.shape[0])
    tp, fp, fn = _stats(cm)
    present = (tp + fp + fn) > 0
    iou = _ratio(tp, tp + fp + fn)
    dice = _ratio(2 * tp, 2 * tp + fp + fn)
    return SegmentationMetrics(
        confusion=cm, class_names=names, iou=iou, dice=dice,
        precision=_ratio(tp, tp + fp), recall=_ratio(tp, tp + fn),
        support=tp + fn, predicted=tp + fp, present=present,
        miou=float(_present_mean(iou, present)),
        pixel_accuracy=float(_ratio(np.trace(cm), cm.sum())),
        mean_dice=float(_present_mean(dice, present)),
    )


# --------------------------------------------------------------------------- per image


def per_image_scores(per_image_cms: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """``(N,)`` float64: each image's mIoU from its own ``(C, C)`` matrix (same present-class rule
    as :func:`segmentation_metrics`); NaN for an image with no counted pixel."""
    cms = _check_cms(per_image_cms)
    tp, fp, fn = _stats(cms)
    present = (tp + fp + fn) > 0
    return _present_mean(_ratio(tp, tp + fp + fn), present)


def per_image_score(cm: np.ndarray) -> float:
    """One image's mIoU from its ``(C, C)`` matrix (NaN when no pixel of it was counted)."""
    return float(per_image_scores(_check_cm(cm)[None])[0])


def worst_first(scores: np.ndarray | Sequence[float]) -> np.ndarray:
    """Indices ordering ``scores`` (``(N,)``) from worst (lowest) to best, NaN (unscorable) last;
    ties keep their input order."""
    values = np.asarray(scores, np.float64)
    if values.ndim != 1:
        raise InvalidInput(f"scores: expected shape (N,), got {values.shape}")
    return np.lexsort((values, np.isnan(values)))


def confusion_pairs(per_image_cms: np.ndarray | Sequence[np.ndarray], true_class: int, pred_class: int) -> np.ndarray:
    """Click-through from the cell ``(true_class, pred_class)`` of a pooled matrix: int64 indices
    of the images with at least one such pixel, most pixels first (ties: lower index first).
    ``per_image_cms``: ``(N, C, C)`` or a sequence of ``(C, C)``; the pixel counts are
    ``cms[indices, true_class, pred_class]``."""
    cms = _check_cms(per_image_cms)
    if len(cms) == 0:
        return np.zeros(0, np.int64)
    num_classes = cms.shape[1]
    for what, c in (("true_class", true_class), ("pred_class", pred_class)):
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 0 <= c < num_classes:
            raise InvalidInput(f"{what}: expected a class index 0..{num_classes - 1}, got {c!r}")
    counts = cms[:, true_class, pred_class]
    hits = np.flatnonzero(counts)
    return hits[np.argsort(-counts[hits], kind="stable")].astype(np.int64)
