"""Evaluate and Compare pages (AppTest) over two trained, evaluated UNet versions on a demo
dataset: metrics, heatmap, bars, the images of a confusion cell; deltas, refusals of versions
that cannot be compared, queueing missing evaluations, sending images to review."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.pages.conftest import APP
from tests.conftest import isolated_studio
from tests.test_inference import classifier_version, make_dataset, unet_version

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Two trained UNet-resnet18 versions (1 epoch, 64 px) evaluated on val; a third comparable
    version without evaluations; a UNet with other classes; a classifier."""
    from studio.evaluation.run import evaluate_version
    from studio.training.config import TrainConfig
    from studio.training.run import run_training

    with isolated_studio(tmp_path_factory.mktemp("studio")) as root:
        dv = make_dataset(root, n_images=6)
        trained = []
        for n, lr in enumerate((1e-3, 2e-3)):
            config = TrainConfig(architecture="unet", backbone="resnet18", dataset="shelves", dataset_version=1,
                                 epochs=1, image_size=64, batch_size=2, num_workers=0, lr=lr)
            trained.append(run_training(config, f"page-{n}").version)
        evals = [evaluate_version(v.id) for v in trained]
        yield {"root": root, "dv": dv, "a": trained[0], "b": trained[1], "evals": evals,
               "fresh": unet_version(root, dv, seed=5),
               "other_classes": unet_version(root, dv, classes=[{"name": "box", "index": 1, "color": None}]),
               "classifier": classifier_version(root, dv)}


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    return at


def choose(at: AppTest, key: str, value: Any) -> None:
    at.selectbox(key=key).set_value(value)
    at.run()
    assert not at.exception, at.exception


def test_evaluate_page_shows_metrics_heatmap_bars_and_the_images_of_a_cell(studio: dict[str, Any]) -> None:
    from studio.evaluation.views import get_evaluation, images_for_confusion

    at = open_page("app_pages/evaluate.py")
    choose(at, "eval_model", studio["a"].name)
    eval_id = studio["evals"][0]
    assert at.selectbox(key="eval_id").value == eval_id
    view = get_evaluation(eval_id)
    labels = [m.label for m in at.metric]
    assert labels == ["mIoU", "pixel accuracy", "mean Dice", "ms per image"]
    assert float(at.metric[0].value) == pytest.approx(view.summary["miou"], abs=5e-4)
    charts = at.get("plotly_chart")
    assert len(charts) == 2  # the confusion matrix and the per-class IoU bars
    # the accessible fallback: pick (ground truth, predicted) with the selectboxes
    cm = view.confusion
    gt, pred = (int(k) for k in np.unravel_index(int(np.argmax(cm)), cm.shape))
    at.selectbox(key=f"eval_gt_{eval_id}").set_value(gt)
    choose(at, f"eval_pred_{eval_id}", pred)
    hits = images_for_confusion(eval_id, gt, pred)
    assert hits
    table = next(d.value for d in at.dataframe if "file" in d.value.columns and "pixels" in d.value.columns)
    assert table["file"].tolist() == [v.file_name for v, _ in hits]
    assert table["pixels"].tolist() == [count for _, count in hits]
    assert any(f"predicted as **{view.class_names[pred]}**" in c.value for c in at.caption)
    opened = at.selectbox(key=f"eval_open_{eval_id}_{gt}_{pred}")
    assert opened.value == 0 and hits[0][0].file_name in opened.format_func(0)
    captions = [c for image in at.get("image") for c in image.captions]
    assert f"{hits[0][0].file_name}: ground truth (grey = ignored)" in captions  # side by side with
    assert f"{hits[0][0].file_name}: prediction" in captions  # the prediction and the cell's own pixels marked
    from studio.evaluation.inspect import confusion_mask, image_layers
    from studio.naming import counted

    _, gt_map, pred_map = image_layers(eval_id, hits[0][0].version_image_id)
    marked = int(confusion_mask(gt_map, pred_map, gt, pred).sum())
    assert marked == hits[0][1]  # exactly the pixels the cell counts for this image
    assert (f"{hits[0][0].file_name}: {counted(marked, 'pixel')} of ground truth {view.class_names[gt]} predicted as "
            f"{view.class_names[pred]} (magenta)") in captions
    version = studio["a"]
    note = next(i.value for i in at.info if i.value.startswith("best val mIoU"))  # training-time vs Evaluate, said
    assert f"evaluation #{eval_id} scores the same weights on val at {view.summary['miou']:.3f}" in note
    assert any(b.label == "Report (HTML, opens offline)" for b in at.get("download_button"))
    assert version.metrics["best_miou"] is not None
    assert sum(1 for c in captions if " · " in c) == min(view.image_count, 8)  # worst-first thumbnails
    worst = next(d.value for d in at.dataframe if list(d.value.columns) == ["file", "score"])
    assert worst["score"].tolist() == sorted(worst["score"].tolist())
    assert {b.label for b in at.get("download_button")} >= {"confusion_matrix.png", "per_class_metrics.csv",
                                                             "summary_metrics.csv", "predictions.csv"}


def test_evaluate_page_empty_state_queues_an_evaluation(studio: dict[str, Any]) -> None:
    from studio.jobs import list_jobs

    at = open_page("app_pages/evaluate.py")
    choose(at, "eval_model", studio["fresh"].name)
    assert any(f"No evaluation of {studio['fresh'].name} yet" in i.value for i in at.info)
    at.selectbox(key="eval_split").set_value("train")
    at.button(key="eval_queue").click()
    at.run()
    assert not at.exception and any("Evaluation queued" in s.value for s in at.success)
    job = next(j for j in list_jobs(kind="evaluate") if j.params["model"] == studio["fresh"].name)
    assert job.params["split"] == "train"


def test_evaluate_page_without_models(studio_env: dict[str, str]) -> None:
    at = open_page("app_pages/evaluate.py")
    assert any("No model versions yet" in i.value for i in at.info)
    at = open_page("app_pages/compare.py")
    assert any("Comparing needs two image model versions" in i.value for i in at.info)


def test_compare_page_shows_deltas_and_disagreements(studio: dict[str, Any]) -> None:
    from studio.evaluation.compare import compare_versions

    at = open_page("app_pages/compare.py")
    at.selectbox(key="cmp_a").set_value(studio["a"].name)
    choose(at, "cmp_b", studio["b"].name)
    assert not at.error, [e.value for e in at.error]
    comparison = compare_versions(studio["a"].id, studio["b"].id, evaluate_missing=False)
    metrics = at.dataframe[0].value
    assert metrics["metric"].tolist() == [m.metric for m in comparison.metrics]
    miou = next(m for m in comparison.metrics if m.metric == "miou")
    row = metrics[metrics["metric"] == "miou"].iloc[0]
    assert row["change"] == pytest.approx(miou.delta)
    assert row["trend"] == ("▲ better" if miou.improved else "▼ worse" if miou.regressed else "=")
    assert len(at.get("plotly_chart")) == 1  # per-class IoU change
    images = at.dataframe[1].value
    assert images["file"].tolist() == [i.file_name for i in comparison.images]
    assert at.selectbox(key="cmp_image").value == 0
    captions = [c for image in at.get("image") for c in image.captions]
    assert captions == ["ground truth (grey = ignored)", f"A: {studio['a'].name}", f"B: {studio['b'].name}",
                        "disagreement"]
    assert any("only A right" in m.value for m in at.markdown)


def test_compare_page_gates_b_against_production(studio: dict[str, Any]) -> None:
    from studio.production import production_version, promote

    at = open_page("app_pages/compare.py")
    at.selectbox(key="cmp_a").set_value(studio["a"].name)
    choose(at, "cmp_b", studio["b"].name)
    assert any("no version is in production for shelves / semantic yet; promote one first" in i.value
               for i in at.info)
    promote(studio["a"].name)
    at.number_input(key="cmp_max_drop").set_value(1.0)
    at.number_input(key="cmp_max_latency").set_value(1000.0)
    at.run()
    passed = next(s.value for s in at.success if "the gate against production" in s.value)
    assert passed.startswith(f"Passes the gate against production **{studio['a'].name}** on shelves (data v1) val")
    assert "✓ **metric**: mIoU " in passed and "✓ **latency**: " in passed
    at.button(key="cmp_promote").click()
    at.run()
    assert production_version("shelves", "semantic").id == studio["b"].id
    promote(studio["a"].name)
    at.number_input(key="cmp_max_drop").set_value(0.0)
    at.number_input(key="cmp_max_latency").set_value(0.0)
    at.run()
    failed = [e.value for e in at.error if "the gate against production" in e.value]
    from studio.production import gate

    verdict = gate(studio["b"].name, max_drop=0.0, max_latency=0.0)
    assert bool(failed) == (not verdict.passed)
    if failed:
        assert failed[0].startswith(f"Fails the gate against production **{studio['a'].name}**")
        assert all(reason in failed[0] for reason in verdict.reasons)


def test_compare_page_refuses_versions_that_differ(studio: dict[str, Any]) -> None:
    at = open_page("app_pages/compare.py")
    at.selectbox(key="cmp_a").set_value(studio["a"].name)
    choose(at, "cmp_b", studio["other_classes"].name)
    assert any("cannot compare models with different classes" in e.value for e in at.error)
    assert not at.dataframe
    choose(at, "cmp_b", studio["classifier"].name)
    assert any("expected two models of the same task" in e.value for e in at.error)


def test_compare_page_queues_missing_evaluations(studio: dict[str, Any]) -> None:
    from studio.jobs import list_jobs

    at = open_page("app_pages/compare.py")
    at.selectbox(key="cmp_a").set_value(studio["a"].name)
    choose(at, "cmp_b", studio["fresh"].name)
    assert any(f"No evaluation on this split yet for: {studio['fresh'].name}" in i.value for i in at.info)
    before = len(list_jobs(kind="evaluate"))
    at.button(key="cmp_queue").click()
    at.run()
    assert not at.exception, at.exception
    jobs = list_jobs(kind="evaluate")
    assert len(jobs) == before + 1
    assert {k: jobs[0].params[k] for k in ("model", "split", "dataset_version")} == \
        {"model": studio["fresh"].name, "split": "val", "dataset_version": studio["dv"]}


def test_send_to_review_flags_the_images(studio: dict[str, Any]) -> None:
    from sqlmodel import select

    from studio.db import session_scope
    from studio.evaluation.compare import compare_versions
    from studio.tables import Image

    at = open_page("app_pages/compare.py")
    at.selectbox(key="cmp_a").set_value(studio["a"].name)
    choose(at, "cmp_b", studio["b"].name)
    comparison = compare_versions(studio["a"].id, studio["b"].id, evaluate_missing=False)
    ids = [i.image_id for i in comparison.images]
    review = at.multiselect(key="cmp_review_ids")
    assert sorted(review.options) == sorted(i.file_name for i in comparison.images)
    review.set_value([ids[0]])
    at.text_input(key="cmp_review_note").set_value("A and B disagree")
    at.run()
    at.button(key="cmp_review").click()
    at.run()
    assert not at.exception, at.exception
    assert any("1 images sent to review" in t.value for t in at.toast)
    with session_scope() as session:
        flagged = session.exec(select(Image).where(Image.review_requested == True)).all()  # noqa: E712
        assert [(i.id, i.review_note) for i in flagged] == [(ids[0], "A and B disagree")]
