"""studio.evaluation.run: evaluate real (random-init) model versions on a real demo dataset
version; everything stored must agree with itself and with the metric functions."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlmodel import select

from tests.test_inference import (
    classifier_version,
    make_dataset,
    unet_version,
    yolo_version,
)

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def setup(module_studio: Path) -> dict[str, Any]:
    dv = make_dataset(module_studio, n_images=6)
    return {"dv": dv, "root": module_studio, "unet": unet_version(module_studio, dv)}


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_semantic_evaluation_is_consistent_and_complete(setup: dict[str, Any]) -> None:
    from studio.db import session_scope
    from studio.evaluation import segmentation_metrics
    from studio.evaluation.data import ground_truth, load_split
    from studio.evaluation.run import evaluate_version
    from studio.evaluation.views import get_evaluation, list_evaluations
    from studio.inference import load_predictor
    from studio.tables import Evaluation, EvaluationClass, EvaluationImage

    reports: list[float] = []
    eval_id = evaluate_version(setup["unet"].name, progress=lambda f, m: reports.append(f))
    assert reports[-1] == 1.0 and reports == sorted(reports)
    view = get_evaluation(eval_id)
    assert view.dataset_version_id == setup["dv"] and view.split == "val" and view.task == "semantic"
    assert view.class_names == ["background", "box", "jar", "bottle", "can", "tape"]
    assert len(view.class_rows) == 6 and [r["class_index"] for r in view.class_rows] == list(range(6))
    assert 0.0 <= view.summary["miou"] <= 1.0 and view.summary["ms_per_image"] > 0
    with session_scope() as session:
        images = session.exec(select(EvaluationImage).where(EvaluationImage.evaluation_id == eval_id)).all()
        assert session.get(Evaluation, eval_id).image_count == len(images) == 2  # the demo's val split
        assert len(session.exec(select(EvaluationClass).where(EvaluationClass.evaluation_id == eval_id)).all()) == 6
    per_image = np.array([i.confusion for i in images])
    assert np.array_equal(per_image.sum(0), view.confusion)  # pooled == sum of the per-image matrices
    assert view.summary == pytest.approx(
        {**segmentation_metrics(view.confusion).summary(), "ms_per_image": view.summary["ms_per_image"]})

    # the stored predictions are the predictor's, and the stored matrices follow from them
    data = load_split(setup["dv"], "val")
    predictor = load_predictor(setup["unet"].id)
    from studio.evaluation import confusion_matrix
    from studio.evaluation.data import class_lut
    from studio.evaluation.views import load_prediction
    from studio.images import load_rgb

    lut = class_lut(setup["unet"].classes, data.classes)
    for item, row in zip(data.items, images):
        stored = load_prediction(eval_id, item.key)
        assert stored is not None and np.array_equal(stored, predictor.predict(load_rgb(item.path)).labels)
        gt = ground_truth(item, lut)
        assert np.array_equal(confusion_matrix(gt, stored, 6), np.array(row.confusion))
        assert int(np.array(row.confusion).sum()) == int((gt != 255).sum())

    files = view.files
    for name in ("summary_metrics.csv", "per_class_metrics.csv", "predictions.csv", "confusion_matrix.csv",
                 "confusion_matrix.png"):
        assert name in files, name
    assert files["confusion_matrix.png"].read_bytes()[:4] == b"\x89PNG"
    summary = {r["metric"]: r["value"] for r in _csv(files["summary_metrics.csv"])}
    assert float(summary["miou"]) == pytest.approx(view.summary["miou"])
    assert len(_csv(files["per_class_metrics.csv"])) == 6 and len(_csv(files["predictions.csv"])) == 2
    assert [e.id for e in list_evaluations(setup["unet"].name)] == [eval_id]


def test_click_through_and_worst_first(setup: dict[str, Any]) -> None:
    from studio.evaluation.run import evaluate_version
    from studio.evaluation.views import get_evaluation, images_for_confusion, worst_images

    eval_id = evaluate_version(setup["unet"].id, split="train", save_predictions=False)
    view = get_evaluation(eval_id)
    cm = view.confusion
    t, p = np.unravel_index(np.argmax(cm - np.diag(np.diag(cm)) if (cm - np.diag(np.diag(cm))).any() else cm),
                            cm.shape)
    hits = images_for_confusion(eval_id, int(t), int(p))
    assert sum(count for _, count in hits) == cm[t, p]
    assert [count for _, count in hits] == sorted((count for _, count in hits), reverse=True)
    assert all(image.image_path is not None and image.image_path.is_file() for image, _ in hits)
    worst = worst_images(eval_id, 3)
    scores = [w.score for w in worst]
    assert len(worst) == 3 and scores == sorted(scores)
    assert all(w.prediction_path is None for w in worst)  # save_predictions=False


def test_instance_and_classification_evaluations(setup: dict[str, Any]) -> None:
    from studio.evaluation.run import evaluate_version
    from studio.evaluation.views import get_evaluation

    yolo = yolo_version(setup["root"], setup["dv"])
    view = get_evaluation(evaluate_version(yolo.name))
    assert {"ap", "ap50", "ap75", "miou"} <= set(view.summary)
    assert view.summary["ap"] is None or 0.0 <= view.summary["ap"] <= 1.0
    assert "ap" in view.class_rows[1] and view.confusion.shape == (6, 6)

    classifier = classifier_version(setup["root"], setup["dv"])
    view = get_evaluation(evaluate_version(classifier.name))
    assert {"accuracy", "macro_f1", "weighted_f1"} <= set(view.summary)
    assert view.confusion.shape == (5, 5) and view.image_count == 2
    rows = _csv(view.files["predictions.csv"])
    assert len(rows) == int(view.confusion.sum())
    assert view.summary["accuracy"] == pytest.approx(np.trace(view.confusion) / view.confusion.sum())


def test_refusals_leave_nothing_behind(setup: dict[str, Any]) -> None:
    from studio.db import session_scope
    from studio.errors import InvalidInput
    from studio.evaluation.run import evaluate_version, evaluations_dir
    from studio.tables import Evaluation

    with session_scope() as session:
        before = len(session.exec(select(Evaluation)).all())
    with pytest.raises(InvalidInput, match=r"split 'test' of dataset version \d+ \(shelves \(data v1\)\) has no images; "
                                           r"expected at least one \(its splits: train 4, val 2\)"):
        evaluate_version(setup["unet"].id, split="test")
    other = unet_version(setup["root"], None, classes=[{"name": "box", "index": 1, "color": None}])
    with pytest.raises(InvalidInput, match="records no dataset version"):
        evaluate_version(other.id)
    with pytest.raises(InvalidInput, match=r"classes \['bottle', 'can', 'jar', 'tape'\] that model .* does not know"):
        evaluate_version(other.id, dataset_version_id=setup["dv"])
    with session_scope() as session:
        assert len(session.exec(select(Evaluation)).all()) == before
    assert not [p for p in evaluations_dir(setup["unet"]).iterdir() if p.name.startswith(".tmp")]
