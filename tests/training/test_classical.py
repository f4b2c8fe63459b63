"""The classical classifier (HOG + LBP + colour histogram -> SVM / random forest) as a model family
like the others: vectorised features equal to scikit-image's HOG, a fitted model stored as plain
arrays (no pickle) and as ONNX, trained as a ``train`` job on the inline queue, registered,
evaluated (numpy and onnxruntime give the same scores), compared, exported; TorchScript refused.
Real scikit-learn, scikit-image, onnxruntime and SQLite; generated shelf scenes."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from studio.errors import InvalidInput
from studio.nets.classical import ClassicalClassifier
from studio.nets.classical_features import batch_features, feature_count, image_features
from studio.training.config import TrainConfig


def _images(n: int, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """Images of three classes told apart by colour and texture, of different sizes."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for i in range(n):
        label = i % 3
        image = rng.integers(0, 60, (int(rng.integers(20, 80)), int(rng.integers(20, 80)), 3), dtype=np.uint8)
        image[..., label] += 150
        if label == 1:
            image[::4] = 255  # stripes
        images.append(image)
        labels.append(label)
    return images, np.array(labels)


def test_features_are_batched_and_equal_scikit_image_hog() -> None:
    from skimage.feature import hog

    images, _ = _images(9)
    X = batch_features(images, 64, workers=2)
    assert X.shape == (9, feature_count(64)) == (9, 1802) and X.dtype == np.float32
    one_by_one = np.stack([image_features(im, 64) for im in images])
    np.testing.assert_array_equal(X, one_by_one)  # the batch (and the thread pool) changes nothing
    square = np.ascontiguousarray(images[0][:16, :16])
    big = np.kron(square, np.ones((4, 4, 1), np.uint8))  # 64x64: no resize blur in the way
    gray = (big.astype(np.float32) / 255.0) @ np.array([0.2125, 0.7154, 0.0721], np.float32)
    reference = hog(gray, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2), block_norm="L2-Hys")
    np.testing.assert_allclose(image_features(big, 64)[:1764], reference, atol=1e-5)
    for start, end in ((1764, 1774), (1774, 1786), (1786, 1794), (1794, 1802)):  # LBP, hue, sat, value histograms
        np.testing.assert_allclose(X[:, start:end].sum(1), 1.0, atol=1e-5)


@pytest.mark.parametrize("kind, classes", [("svm", 3), ("svm", 2), ("forest", 3), ("forest", 2)])
def test_saved_arrays_and_onnx_predict_what_the_fitted_model_does(tmp_path: Path, kind: str, classes: int) -> None:
    import onnxruntime as ort

    images, labels = _images(60)
    keep = labels < classes
    images, labels = [im for im, k in zip(images, keep) if k], labels[keep]
    model = ClassicalClassifier(kind, 32, n_estimators=10).fit(images, labels)
    X = model.features(images)
    probs = model.proba_from_features(X)
    assert (probs.argmax(1) == labels).mean() > 0.9
    if kind == "forest":  # the arrays reproduce scikit-learn's own forest
        np.testing.assert_allclose(probs, model.estimator_.predict_proba(X), atol=1e-12)
    loaded = ClassicalClassifier.load(model.save(tmp_path / "m.npz"))
    np.testing.assert_array_equal(loaded.proba_from_features(X), probs)
    with np.load(tmp_path / "m.npz", allow_pickle=False) as data:  # plain arrays only
        assert all(data[k].dtype != object for k in data.files)
    session = ort.InferenceSession(str(model.to_onnx(tmp_path / "m.onnx")), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(["probabilities"], {"features": X})[0], probs, atol=1e-5)


def test_a_pickled_or_foreign_file_is_refused(tmp_path: Path) -> None:
    np.savez(tmp_path / "evil.npz", format=np.array("studio.classical/2"), config=np.array([{"kind": "svm"}], object))
    with pytest.raises(InvalidInput, match="could not read it"):
        ClassicalClassifier.load(tmp_path / "evil.npz")
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    with pytest.raises(InvalidInput, match="expected format 'studio.classical/2'"):
        ClassicalClassifier.load(tmp_path / "other.npz")


@pytest.fixture
def inline_shelves(studio_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Generated shelf scenes (five product classes) as dataset 'shelves'; jobs run inline."""
    from studio.datasets import ingest_doc
    from studio.demo import generate_demo
    from studio.jobs.queue import INLINE_URL
    from tests.conftest import reset_studio_caches

    monkeypatch.setenv("STUDIO_QUEUE_URL", INLINE_URL)
    reset_studio_caches()
    ingest_doc(generate_demo(tmp_path / "demo", n_images=16, seed=3, width=320, height=240), dataset="shelves")
    return "shelves"


def _classical(architecture: str, **overrides: object) -> TrainConfig:
    return TrainConfig.from_dict({"task": "classification", "architecture": architecture, "backbone": "",
                                  "dataset": "shelves", "image_size": 32, "model_kwargs": {}, **overrides})


def test_classical_models_train_as_jobs_and_are_evaluated_compared_and_exported(inline_shelves: str) -> None:
    from studio.evaluation.compare import compare_versions
    from studio.evaluation.views import get_evaluation
    from studio.exporting import export_onnx, export_torchscript
    from studio.jobs import enqueue, get_job, job_result
    from studio.jobs.kinds import EvaluateResult, EvaluateSpec, TrainOutcome, TrainSpec
    from studio.registry import downloads, get_model, model_file, sha256_of
    from studio.tables import JobStatus

    outcomes = {}
    for architecture in ("classical_svm", "classical_rf"):
        started = time.perf_counter()
        job_id = enqueue(TrainSpec(config=_classical(architecture, model_kwargs={"n_estimators": 50}
                                                     if architecture == "classical_rf" else {"C": 0.5})))
        job = get_job(job_id)
        assert job.status == JobStatus.succeeded, job.error
        outcome = job_result(job, TrainSpec)
        assert isinstance(outcome, TrainOutcome) and outcome.monitor == "accuracy" and outcome.epochs == 1
        print(f"\n{architecture}: fitted in {time.perf_counter() - started:.1f} s, val accuracy {outcome.best_metric:.3f}")
        assert outcome.best_metric >= 0.8, f"{architecture} val accuracy {outcome.best_metric:.3f}"
        outcomes[architecture] = outcome
    svm, forest = (get_model(outcomes[a].model) for a in ("classical_svm", "classical_rf"))
    assert svm.name.startswith("classical-svm_none_shelves_v1.0.0_") and svm.task == "classification"
    assert set(svm.files) == {"classical", "training_log"} and svm.checksum == sha256_of(model_file(svm, "classical"))
    assert [role for role, _ in downloads(svm)] == ["classical", "training_log"]
    assert svm.metrics["best_accuracy"] == pytest.approx(outcomes["classical_svm"].best_metric)

    evaluations = {}
    for version in (svm, forest):
        done = get_job(enqueue(EvaluateSpec(model=version.name)))
        assert done.status == JobStatus.succeeded, done.error
        result = job_result(done, EvaluateSpec)
        assert isinstance(result, EvaluateResult)
        evaluations[version.name] = result
    score = evaluations[svm.name].summary["accuracy"]
    assert score == pytest.approx(svm.metrics["val_accuracy"])  # evaluation scores what training measured

    comparison = compare_versions(svm.name, forest.name)
    accuracy = next(d for d in comparison.metrics if d.metric == "accuracy")
    assert accuracy.a == pytest.approx(score) and len(comparison.classes) == 5

    report = export_onnx(svm.name)
    assert report.registered and report.max_abs_diff <= report.tolerance and "onnx" in get_model(svm.id).files
    onnx_eval = get_evaluation(get_job(enqueue(EvaluateSpec(model=svm.name, runtime="onnx"))).result["evaluation_id"])
    assert onnx_eval.summary["accuracy"] == pytest.approx(score)  # onnxruntime classifies as the arrays do
    assert export_onnx(forest.name).registered
    with pytest.raises(InvalidInput, match="not a PyTorch network: there is nothing for TorchScript to trace"):
        export_torchscript(svm.name)
    from studio.benchmarking import benchmark

    for runtime in ("torch", "onnx"):  # features + classifier per batch of crops, like any version's forward pass
        timing = benchmark(svm.name, runtime, batch_size=4, size=32, warmup=1, iters=3)
        assert timing.latency_mean_ms > 0 and timing.size == (32, 32)


@pytest.mark.parametrize("overrides, message", [
    ({"backbone": "resnet18"}, "has no backbone"),  # a CNN setting on a classical model
    ({"image_size": 40}, "needs a multiple of 16"),  # HOG cells of 8 in blocks of 2
    ({"model_kwargs": {"gamma": 2}}, r"unknown model_kwargs \['gamma'\]"),  # not an SVM / forest option
    ({"monitor": "miou"}, "reports accuracy or macro_f1"),  # a metric it does not compute
])
def test_bad_classical_configs_are_refused_before_any_work(inline_shelves: str, overrides: dict, message: str) -> None:
    from studio.training.run import run_training

    with pytest.raises(InvalidInput, match=message):
        run_training(_classical("classical_svm", **overrides), "bad", register=False)
