"""Classification metrics against scikit-learn on random labels, plus bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    precision_recall_fscore_support,
    top_k_accuracy_score,
)
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from studio.errors import InvalidInput
from studio.evaluation.classification import classification_metrics, top_k_accuracy


def _case(case: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    if case == "balanced":
        y_true = rng.integers(0, 5, 300)
        return y_true, np.where(rng.random(300) < 0.6, y_true, rng.integers(0, 5, 300)), 5
    if case == "absent-and-one-sided":
        y_true = rng.integers(0, 4, 120)  # classes 0..3 true; 4 only predicted; 5, 6 nowhere
        y_pred = np.where(rng.random(120) < 0.5, y_true, rng.integers(0, 5, 120))
        return y_true, y_pred, 7
    if case == "never-predicted":
        y_true = rng.integers(0, 3, 50)  # class 2 is true but never predicted
        return y_true, np.minimum(y_true, 1), 3
    if case == "single-sample":
        return np.array([2]), np.array([0]), 3
    raise AssertionError(case)


@pytest.mark.parametrize("zero_division", [0.0, math.nan])
@pytest.mark.parametrize("case", [
    "balanced",  # 5 classes, 60 % right
    "absent-and-one-sided",  # C = 7: class 4 only predicted (F1 0), classes 5, 6 absent from both (excluded from macro)
    "never-predicted",  # precision 0/0 for class 2 -> zero_division
    "single-sample",  # one wrong sample
])
def test_equals_sklearn(case: str, zero_division: float) -> None:
    rng = np.random.default_rng(len(case))
    y_true, y_pred, c = _case(case, rng)
    m = classification_metrics(y_true, y_pred, c, zero_division=zero_division)
    labels = list(range(c))
    assert (m.confusion == sk_confusion_matrix(y_true, y_pred, labels=labels)).all()
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=zero_division)
    np.testing.assert_allclose(m.precision, precision, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(m.recall, recall, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(m.f1, f1, atol=1e-12, equal_nan=True)
    assert (m.support == support).all()
    assert m.accuracy == pytest.approx(accuracy_score(y_true, y_pred), abs=1e-12)
    # no labels=: scikit-learn averages over the classes in y_true or y_pred, our rule too
    assert m.macro_f1 == pytest.approx(f1_score(y_true, y_pred, average="macro", zero_division=zero_division),
                                       abs=1e-12)
    assert m.weighted_f1 == pytest.approx(f1_score(y_true, y_pred, average="weighted",
                                                   zero_division=zero_division), abs=1e-12)


@pytest.mark.parametrize("k", [1, 2, 4])  # top-1 = argmax accuracy; k < C as scikit-learn requires
def test_top_k_equals_sklearn(k: int) -> None:
    rng = np.random.default_rng(k)
    scores = rng.random((200, 5))  # continuous: no ties, where tie rules could differ
    y_true = rng.integers(0, 5, 200)
    expected = top_k_accuracy_score(y_true, scores, k=k, labels=list(range(5)))
    assert top_k_accuracy(y_true, scores, k) == pytest.approx(expected, abs=1e-12)
    m = classification_metrics(y_true, scores.argmax(1), 5, scores=scores, top_k=(k,))
    assert m.top_k == {k: pytest.approx(expected, abs=1e-12)}
    assert m.summary()[f"top{k}_accuracy"] == pytest.approx(expected)
    if k == 1:
        assert m.top_k[1] == pytest.approx(m.accuracy)


def test_rows_and_summary() -> None:
    m = classification_metrics([0, 1, 1, 2], [0, 1, 2, 2], 4, ["a", "b", "c", "d"])
    # class b: TP 1, FN 1 -> recall 1/2, precision 1, F1 2/3; class d absent everywhere -> 0 (zero_division)
    rows = m.class_rows()
    assert rows[1] == {"class_index": 1, "name": "b", "iou": None, "dice": None, "precision": 1.0,
                       "recall": 0.5, "accuracy": None, "f1": pytest.approx(2 / 3), "support": 2}
    assert rows[3]["f1"] == 0.0 and rows[3]["support"] == 0
    assert m.summary() == pytest.approx({"accuracy": 0.75, "macro_f1": (1 + 2 / 3 + 2 / 3) / 3,
                                         "weighted_f1": (1 + 2 * 2 / 3 + 2 / 3) / 4})
    assert classification_metrics([3], [3], 4, zero_division=math.nan).class_rows()[0]["precision"] is None


@pytest.mark.parametrize("call, message", [
    (lambda: classification_metrics([0, 1], [0], 2), r"y_pred: expected shape \(2,\)"),  # lengths differ
    (lambda: classification_metrics([0, 2], [0, 1], 2), r"y_true: expected class indices 0..1, found \[2\]"),
    (lambda: classification_metrics([0, 1], [-1, 1], 2), r"y_pred: .* found \[-1\]"),  # negative label
    (lambda: classification_metrics([0.0, 1.0], [0, 1], 2), "expected integer class indices"),  # floats
    (lambda: classification_metrics([[0, 1]], [[0, 1]], 2), r"expected shape \(N,\)"),  # 2-D
    (lambda: classification_metrics([], [], 2), "at least one sample"),  # nothing to score
    (lambda: classification_metrics([0], [0], 0), "num_classes: expected an int >= 1"),  # no classes
    (lambda: classification_metrics([0], [0], 2, ["only one"]), "expected 2 names"),  # names
    (lambda: classification_metrics([0], [0], 2, zero_division=0.5), "zero_division"),  # not 0, 1 or nan
    (lambda: top_k_accuracy([0, 1], np.zeros((3, 2)), 1), "expected 2 rows"),  # scores rows != samples
    (lambda: top_k_accuracy([0], np.array([[0.5, math.nan]]), 1), "finite"),  # NaN score
    (lambda: top_k_accuracy([0], np.zeros((1, 2)), 0), "k: expected an int >= 1"),  # k = 0
])
def test_bad_input(call, message: str) -> None:  # noqa: ANN001
    with pytest.raises(InvalidInput, match=message):
        call()
