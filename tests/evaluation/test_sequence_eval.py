"""studio.evaluation.run on a keypoint sequence model: a tiny SignGRU (gloss + category heads) trained
here on generated signs, evaluated on its own keypoint dataset version; everything stored must agree
with classification_metrics recomputed from the predictor's outputs."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sqlmodel import select

from tests.conftest import isolated_studio

GLOSSES, CLIPS, LENGTH = 6, 20, 16  # 6 glosses: both categories (round, straight)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """An isolated studio with keypoint dataset "signs" (v1) and a SignGRU trained on it (one torch thread:
    the net is tiny)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with isolated_studio(tmp_path_factory.mktemp("seq-eval")) as root:
            from studio.keypoints.dataset import add_clips, create_keypoint_dataset
            from studio.keypoints.synthetic import generate_signs
            from studio.training.config import TrainConfig
            from studio.training.run import run_training

            create_keypoint_dataset("signs", "hands_pose156")
            add_clips("signs", generate_signs(GLOSSES, CLIPS, LENGTH, "hands_pose156", seed=0))
            config = TrainConfig(task="sequence", architecture="sign_gru", dataset="signs", sequence_length=LENGTH,
                                 epochs=14, batch_size=8, lr=1e-2, augment={}, num_workers=0, seed=0,
                                 model_kwargs={"hidden_dim": 32, "num_layers": 1, "dropout": 0.0})
            outcome = run_training(config, "seq-eval")
            yield {"root": root, "version": outcome.version, "result": outcome.result}
    finally:
        torch.set_num_threads(threads)


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def _recompute(version: Any, clips: list[Any], categories: list[str]) -> tuple[Any, Any, np.ndarray]:
    from studio.evaluation import classification_metrics
    from studio.inference import load_predictor
    from studio.keypoints.layout import resample

    predictor = load_predictor(version)
    outs = [predictor.predict(resample(c.load(), LENGTH)) for c in clips]
    names = [c["name"] for c in version.classes]
    probs = np.stack([o["gloss"] for o in outs])
    y_true = np.array([names.index(c.gloss) for c in clips])
    gloss = classification_metrics(y_true, probs.argmax(1), len(names), names, scores=probs,
                                   top_k=(min(5, len(names)),))
    cat_pred = np.stack([o["category"] for o in outs]).argmax(1)
    cat_true = np.array([categories.index(c.category) for c in clips])
    category = classification_metrics(cat_true, cat_pred, len(categories), categories)
    return gloss, category, probs.argmax(1)


def test_sequence_evaluation_matches_the_metrics_of_the_predictions(trained: dict[str, Any]) -> None:
    from studio.db import session_scope
    from studio.evaluation.run import evaluate_version
    from studio.evaluation.views import evaluation_images, get_evaluation, images_for_confusion, list_evaluations, worst_images
    from studio.keypoints.dataset import version_info
    from studio.tables import Evaluation, EvaluationClass, EvaluationImage

    version = trained["version"]
    info = version_info("signs", 1)
    val = info.split("val")
    assert val and info.categories == ["round", "straight"]
    reports: list[float] = []
    eval_id = evaluate_version(version.name, progress=lambda f, m: reports.append(f))  # the model's own v1
    assert reports[-1] == 1.0 and reports == sorted(reports)

    gloss, category, predicted = _recompute(version, val, info.categories)
    view = get_evaluation(eval_id)
    assert (view.task, view.split, view.dataset_version_id, view.image_count) == ("sequence", "val", None, len(val))
    assert view.summary["keypoint_dataset"] == "signs (data v1)"
    assert view.class_names == info.glosses and view.summary["ms_per_image"] > 0
    for key, value in gloss.summary().items():
        assert view.summary[key] == pytest.approx(value), key
    assert view.summary["accuracy"] == pytest.approx(trained["result"].best_metric)  # the best checkpoint
    assert view.summary["category_accuracy"] == pytest.approx(category.accuracy)
    assert view.summary["category_macro_f1"] == pytest.approx(category.macro_f1)
    assert view.summary["category_names"] == info.categories
    assert np.array_equal(np.array(view.summary["category_confusion_matrix"]), category.confusion)
    assert np.array_equal(view.confusion, gloss.confusion)
    assert int(view.confusion.sum()) == len(val) == int(np.sum(view.summary["category_confusion_matrix"]))
    assert view.class_rows == [{k: pytest.approx(v) if isinstance(v, float) else v for k, v in row.items()}
                               for row in gloss.class_rows()]
    print(f"\nsequence evaluation on {len(val)} val clips: gloss accuracy {view.summary['accuracy']:.3f}, "
          f"macro F1 {view.summary['macro_f1']:.3f}; category accuracy {view.summary['category_accuracy']:.3f}")

    with session_scope() as session:
        assert session.get(Evaluation, eval_id).dataset_version_id is None
        rows = session.exec(select(EvaluationImage).where(EvaluationImage.evaluation_id == eval_id)
                            .order_by(EvaluationImage.id)).all()
        assert len(session.exec(select(EvaluationClass).where(EvaluationClass.evaluation_id == eval_id)).all()) \
            == len(info.glosses)
    assert [r.file_name for r in rows] == [c.id for c in val]
    for row, clip, pred in zip(rows, val, predicted):
        assert row.version_image_id is None and row.score == float(info.glosses.index(clip.gloss) == pred)
        assert (row.labels["gloss"], row.labels["predicted"]) == (clip.gloss, info.glosses[pred])
        assert row.labels["category"] == clip.category and row.labels["predicted_category"] in info.categories

    # files: present and readable, the same numbers as the rows
    files = view.files
    for name in ("summary_metrics.csv", "per_class_metrics.csv", "predictions.csv", "confusion_matrix.csv",
                 "confusion_matrix.png", "category_confusion_matrix.csv", "category_confusion_matrix.png"):
        assert name in files, sorted(files)
    summary = {r["metric"]: r["value"] for r in _csv(files["summary_metrics.csv"])}
    assert float(summary["accuracy"]) == pytest.approx(view.summary["accuracy"])
    assert float(summary["category_accuracy"]) == pytest.approx(view.summary["category_accuracy"])
    assert summary["keypoint_dataset"] == "signs (data v1)" and "category_confusion_matrix" not in summary
    per_class = _csv(files["per_class_metrics.csv"])
    assert [r["name"] for r in per_class] == info.glosses
    assert [int(r["support"]) for r in per_class] == gloss.support.tolist()
    predictions = _csv(files["predictions.csv"])
    assert [(p["file_name"], p["gloss"], p["predicted"], int(p["correct"])) for p in predictions] == \
        [(r.file_name, r.labels["gloss"], r.labels["predicted"], int(r.score)) for r in rows]
    matrix = [[int(v) for v in list(r.values())[1:]] for r in _csv(files["category_confusion_matrix.csv"])]
    assert np.array_equal(np.array(matrix), category.confusion)
    from PIL import Image

    for name in ("confusion_matrix.png", "category_confusion_matrix.png"):
        with Image.open(files[name]) as image:
            assert image.format == "PNG" and image.size[0] > 100

    # the reading-back helpers work for clips too
    assert len(evaluation_images(eval_id)) == len(val)
    listed = next(e for e in list_evaluations(version.name) if e.id == eval_id)
    assert listed.dataset == "signs (data v1)" and listed.dataset_version_id is None
    g = int(np.argmax(np.diag(gloss.confusion)))
    hits = images_for_confusion(eval_id, g, g)
    assert len(hits) == int(gloss.confusion[g, g]) and all(v.labels["gloss"] == info.glosses[g] for v, _ in hits)
    worst = worst_images(eval_id, n=len(val))
    assert [v.score for v in worst] == sorted(v.score for v in worst)


def test_sequence_evaluation_reads_other_versions_and_refuses_what_it_cannot_score(trained: dict[str, Any]) -> None:
    from studio.errors import InvalidInput, NotFound
    from studio.evaluation.run import evaluate_version, evaluations_dir
    from studio.evaluation.views import get_evaluation
    from studio.keypoints.dataset import add_clips, create_keypoint_dataset, snapshot
    from studio.keypoints.synthetic import generate_signs

    version = trained["version"]
    before = sorted(p.name for p in evaluations_dir(version).iterdir()) if evaluations_dir(version).is_dir() else []
    with pytest.raises(InvalidInput, match=r"split 'test' of keypoint dataset signs \(data v1\) has no clips; expected at "
                                           r"least one \(its splits: train \d+, val \d+\)"):
        evaluate_version(version.name, split="test")
    with pytest.raises(NotFound, match="has no version 9"):
        evaluate_version(version.name, 9)
    # a later version of the same dataset, by number: fresh clips, a test split
    fresh = generate_signs(GLOSSES, 3, LENGTH, "hands_pose156", seed=5)
    add_clips("signs", [{"frames": f, "gloss": g, "category": c, "split": "test"} for f, g, c in fresh])
    assert snapshot("signs") == 2
    view = get_evaluation(evaluate_version(version.name, 2, "test"))
    assert view.summary["keypoint_dataset"] == "signs (data v2)" and view.image_count == len(fresh)
    assert int(view.confusion.sum()) == len(fresh) and "category_accuracy" in view.summary
    print(f"\nfresh test clips (signs v2 test, {len(fresh)}): gloss accuracy {view.summary['accuracy']:.3f}, "
          f"category accuracy {view.summary['category_accuracy']:.3f}")
    # another keypoint dataset whose glosses the model does not know
    create_keypoint_dataset("more", "hands_pose156")
    add_clips("more", [{"frames": f, "gloss": g, "category": c, "split": "val"}
                       for f, g, c in generate_signs(GLOSSES + 2, 1, LENGTH, "hands_pose156", seed=1)])
    snapshot("more")
    with pytest.raises(InvalidInput, match=r"more \(data v1\) val has glosses \[.+\] that model .+ does not know"):
        evaluate_version(version.name, 1, keypoint_dataset="more")
    after = sorted(p.name for p in evaluations_dir(version).iterdir())
    assert len(after) == len(before) + 1 and not [p for p in after if p.startswith(".tmp")]  # nothing half-written


def test_two_sequence_versions_compare_on_the_keypoint_split(trained: dict[str, Any]) -> None:
    from studio.evaluation.compare import compare_versions
    from studio.evaluation.views import get_evaluation
    from studio.keypoints.dataset import version_info
    from studio.training.config import TrainConfig
    from studio.training.run import run_training

    config = TrainConfig(task="sequence", architecture="sign_gru", dataset="signs", dataset_version=1,
                         sequence_length=LENGTH, epochs=1, batch_size=8, lr=1e-3, augment={}, num_workers=0, seed=1,
                         model_kwargs={"hidden_dim": 32, "num_layers": 1, "dropout": 0.0})
    weak = run_training(config, "seq-eval-weak").version
    comparison = compare_versions(trained["version"], weak, split="val")
    view_a, view_b = get_evaluation(comparison.evaluation_a), get_evaluation(comparison.evaluation_b)
    assert view_a.summary["keypoint_dataset"] == view_b.summary["keypoint_dataset"] == "signs (data v1)"
    metrics = {m.metric: m for m in comparison.metrics}
    assert metrics["accuracy"].delta == pytest.approx(view_b.summary["accuracy"] - view_a.summary["accuracy"])
    assert "category_accuracy" in metrics and "category_confusion_matrix" not in metrics
    assert [c.name for c in comparison.classes] == view_a.class_names
    assert comparison.classes[0].a == pytest.approx(view_a.class_rows[0]["f1"])
    assert len(comparison.images) == view_a.image_count
    assert {i.file_name for i in comparison.images} == {c.id for c in version_info("signs", 1).split("val")}
    # the weak model gets some clips wrong: its stored numbers still follow from its predictions
    val = version_info("signs", 1).split("val")
    gloss, category, predicted = _recompute(weak, val, ["round", "straight"])
    assert 0 < gloss.accuracy < 1 and view_b.summary["accuracy"] == pytest.approx(gloss.accuracy)
    assert np.array_equal(view_b.confusion, gloss.confusion)
    assert np.array_equal(np.array(view_b.summary["category_confusion_matrix"]), category.confusion)
    assert view_b.summary["category_macro_f1"] == pytest.approx(category.macro_f1)
    scores = {i.file_name: i.score_b for i in comparison.images}
    assert [scores[c.id] for c in val] == [float(val[n].gloss == view_b.class_names[p]) for n, p in enumerate(predicted)]
    differ = sum(i.disagreement for i in comparison.images)
    print(f"\ncompare: accuracy {view_a.summary['accuracy']:.3f} vs {view_b.summary['accuracy']:.3f} (1 epoch), "
          f"{differ:.0f}/{len(comparison.images)} clips predicted differently")
    again = compare_versions(trained["version"], weak, 1, "val", evaluate_missing=False)  # reuses both evaluations
    assert (again.evaluation_a, again.evaluation_b) == (comparison.evaluation_a, comparison.evaluation_b)


def test_the_evaluate_page_shows_both_heads_of_a_sign_model(trained: dict[str, Any]) -> None:
    from streamlit.testing.v1 import AppTest

    from studio.evaluation.run import evaluate_version
    from tests.pages.conftest import APP

    evaluate_version(trained["version"].id)
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.switch_page("app_pages/evaluate.py")
    at.run()
    at.selectbox(key="eval_model").set_value(trained["version"].name)
    at.run()
    assert not at.exception, at.exception
    shown = {m.label for m in at.metric}
    assert {"accuracy", "category accuracy"} <= shown
    assert len(at.get("plotly_chart")) == 3  # gloss matrix, per-gloss F1, category matrix
