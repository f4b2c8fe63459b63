"""Classification metrics (image classifiers; sign-language sequence models, one call per head).

Definitions (scikit-learn's, checked against it in tests/evaluation):

- confusion: ``(C, C)`` int64, rows = true class, columns = predicted class.
- per class: precision = TP / (TP + FP), recall = TP / (TP + FN), F1 = 2TP / (2TP + FP + FN),
  support = true samples. A 0/0 gives ``zero_division`` (0.0 by default, as scikit-learn's
  ``zero_division=0``; pass ``float("nan")`` to keep undefined values visible).
- accuracy = correct / samples.
- macro F1 = mean F1 over the classes present in ``y_true`` or ``y_pred`` (absent from both:
  excluded, as for mIoU; this is scikit-learn's ``f1_score(average="macro")`` without ``labels``).
- weighted F1 = F1 averaged with weights = support.
- top-k accuracy (from scores): the true class is among the k highest scores; a score tied
  with the true class's counts in its favour (only strictly higher scores push it down).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from studio.errors import InvalidInput
from studio.evaluation.metrics import _check_num_classes, _class_names, _none_if_nan, _ratio


def _labels(values: Any, what: str, num_classes: int) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise InvalidInput(f"{what}: expected shape (N,), got {array.shape}")
    if array.size and array.dtype.kind not in "ui":
        raise InvalidInput(f"{what}: expected integer class indices, got dtype {array.dtype}")
    array = array.astype(np.int64, copy=False)
    bad = (array < 0) | (array >= num_classes)
    if bad.any():
        raise InvalidInput(f"{what}: expected class indices 0..{num_classes - 1}, "
                           f"found {np.unique(array[bad])[:10].tolist()}")
    return array


def top_k_accuracy(y_true: np.ndarray, scores: np.ndarray, k: int) -> float:
    """Share of samples whose true class is among the ``k`` highest ``scores``.

    y_true: ``(N,)`` int class indices; scores: ``(N, C)`` float (probabilities or logits).
    Ties with the true class's score count as hits. ``k >= C`` gives 1.0.
    """
    s = np.asarray(scores)
    if s.ndim != 2 or s.shape[0] < 1 or s.shape[1] < 1:
        raise InvalidInput(f"scores: expected shape (N, C) with N, C >= 1, got {s.shape}")
    if s.dtype.kind not in "uif" or not np.isfinite(s).all():
        raise InvalidInput(f"scores: expected finite numbers, got dtype {s.dtype}" +
                           (" with NaN/inf" if s.dtype.kind == "f" else ""))
    t = _labels(y_true, "y_true", s.shape[1])
    if t.shape[0] != s.shape[0]:
        raise InvalidInput(f"scores: expected {t.shape[0]} rows (one per sample), got {s.shape[0]}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidInput(f"k: expected an int >= 1, got {k!r}")
    true_score = s[np.arange(len(t)), t]
    higher = (s > true_score[:, None]).sum(axis=1)
    return float((higher < k).mean())


@dataclass(frozen=True)
class ClassificationMetrics:
    """Metrics of one classifier (or one head). Per-class arrays are ``(C,)``; see the module
    docstring for definitions."""

    confusion: np.ndarray
    class_names: tuple[str, ...]
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    accuracy: float
    macro_f1: float
    weighted_f1: float
    top_k: dict[int, float] = field(default_factory=dict)  # k -> top-k accuracy (when scores were given)

    def summary(self) -> dict[str, float | None]:
        """``{accuracy, macro_f1, weighted_f1, top{k}_accuracy...}`` for ``Evaluation.summary``."""
        out: dict[str, float | None] = {"accuracy": _none_if_nan(self.accuracy),
                                        "macro_f1": _none_if_nan(self.macro_f1),
                                        "weighted_f1": _none_if_nan(self.weighted_f1)}
        out.update({f"top{k}_accuracy": v for k, v in sorted(self.top_k.items())})
        return out

    def class_rows(self) -> list[dict[str, Any]]:
        """One dict per class with the ``EvaluationClass`` fields (iou, dice, accuracy: None)."""
        return [
            {"class_index": c, "name": name, "iou": None, "dice": None,
             "precision": _none_if_nan(self.precision[c]), "recall": _none_if_nan(self.recall[c]),
             "accuracy": None, "f1": _none_if_nan(self.f1[c]), "support": int(self.support[c])}
            for c, name in enumerate(self.class_names)
        ]


def classification_metrics(y_true: np.ndarray | Sequence[int], y_pred: np.ndarray | Sequence[int], num_classes: int,
                           class_names: Sequence[str] | None = None, *, scores: np.ndarray | None = None,
                           top_k: Sequence[int] = (5,), zero_division: float = 0.0) -> ClassificationMetrics:
    """Accuracy, macro / weighted F1, per-class precision / recall / F1 / support and the
    confusion matrix of ``(N,)`` int labels ``y_true`` and ``y_pred`` (N >= 1, values 0..C-1).

    scores: optional ``(N, C)`` class scores; then ``top_k`` accuracies are added for each k.
    Equal to scikit-learn ``precision_recall_fscore_support(labels=range(C),
    zero_division=...)``, ``f1_score(average="macro"/"weighted")`` and ``confusion_matrix``.
    """
    num_classes = _check_num_classes(num_classes)
    names = _class_names(class_names, num_classes)
    t = _labels(y_true, "y_true", num_classes)
    p = _labels(y_pred, "y_pred", num_classes)
    if t.shape != p.shape:
        raise InvalidInput(f"y_pred: expected shape {t.shape} to match y_true, got {p.shape}")
    if t.size == 0:
        raise InvalidInput("y_true: expected at least one sample, got none")
    if not isinstance(zero_division, (int, float)) or not (zero_division in (0, 1) or np.isnan(zero_division)):
        raise InvalidInput(f"zero_division: expected 0, 1 or nan, got {zero_division!r}")
    cm = np.bincount(t * num_classes + p, minlength=num_classes * num_classes).reshape(num_classes, num_classes)
    tp = np.diagonal(cm)
    fp, fn = cm.sum(axis=0) - tp, cm.sum(axis=1) - tp
    fill = float(zero_division)
    precision = np.nan_to_num(_ratio(tp, tp + fp), nan=fill)
    recall = np.nan_to_num(_ratio(tp, tp + fn), nan=fill)
    f1 = np.nan_to_num(_ratio(2 * tp, 2 * tp + fp + fn), nan=fill)
    support = tp + fn
    present, supported = (tp + fp + fn) > 0, support > 0
    top = {int(k): top_k_accuracy(t, scores, int(k)) for k in top_k} if scores is not None else {}
    return ClassificationMetrics(
        confusion=cm, class_names=names, precision=precision, recall=recall, f1=f1, support=support,
        accuracy=float(tp.sum() / t.size),
        macro_f1=float(f1[present].mean()),  # defined: a present class has 2TP + FP + FN > 0
        weighted_f1=float((f1[supported] * support[supported]).sum() / t.size),
        top_k=top,
    )
