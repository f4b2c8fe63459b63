"""Model-ops job kinds: an evaluate job end to end through a real worker process (its child
process loads the real model), plus parameter checks of the other kinds."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.jobs import enqueue, job_result, wait
from studio.jobs.kinds import BenchSpec, EvaluateSpec
from studio.tables import JobStatus
from tests.backend.conftest import WorkerFactory
from tests.test_inference import make_dataset, unet_version


def test_evaluate_and_bench_jobs_run_on_the_worker(start_worker: WorkerFactory, tmp_path: Path) -> None:
    from studio.benchmarking import list_benchmarks
    from studio.evaluation.views import get_evaluation, list_evaluations

    dv = make_dataset(tmp_path, n_images=4)
    unet = unet_version(tmp_path, dv)
    start_worker()
    evaluate = enqueue(EvaluateSpec(model=unet.name, split="train"))
    bench = enqueue(BenchSpec(model=str(unet.id), size=(64, 64), warmup=1, iters=2))
    job = wait(evaluate, timeout=180)
    assert job.status == JobStatus.succeeded, job.error or job.log[-2000:]
    result = job_result(job, EvaluateSpec)
    assert job.progress == 1.0 and result.model == unet.name
    view = get_evaluation(result.evaluation_id)
    assert view.summary == result.summary and view.image_count == result.image_count > 0
    assert [e.id for e in list_evaluations(unet.id)] == [view.id] and (view.folder / "predictions.csv").is_file()
    job = wait(bench, timeout=120)
    assert job.status == JobStatus.succeeded, job.error or job.log[-2000:]
    outcome = job_result(job, BenchSpec)
    assert outcome.result.size == (64, 64) and outcome.result.latency_mean_ms > 0
    assert [b["id"] for b in list_benchmarks(unet.id)] == [outcome.benchmark_id]
    assert list_benchmarks(unet.id)[0]["job_id"] == bench


@pytest.mark.parametrize(("kind", "params", "message"), [
    # a missing field is named
    ("evaluate", {"split": "val"}, r"evaluate job: missing field\(s\) model"),
    ("prelabel", {}, r"prelabel job: missing field\(s\) model, dataset"),
    # an unknown field is named, with the closest known one
    ("bench", {"model": "m", "iter": 3}, r"unknown field\(s\) iter \(did you mean iters\?\)"),
    # a wrong type names the field and what was expected
    ("bench", {"model": "m", "batch_size": "two"}, "bench job field batch_size: 'two'; expected an integer"),
    ("export_model", {"model": "m", "format": "tflite"}, "expected one of 'onnx', 'torchscript'"),
    # values are validated too
    ("prelabel", {"model": "m", "dataset": "d", "min_score": 2}, "expected 0 <= min_score <= 1"),
    ("evaluate", {"model": " "}, "model is empty"),
])
def test_job_params_are_checked(kind: str, params: dict, message: str) -> None:
    from studio.errors import InvalidInput
    from studio.jobs import known_kinds, load_spec

    assert {"evaluate", "prelabel", "export_model", "bench", "export"} <= set(known_kinds())
    with pytest.raises(InvalidInput, match=message):
        load_spec(kind, params)


def test_an_unknown_model_is_refused_before_anything_is_queued(studio_env: dict[str, str]) -> None:
    from studio.errors import NotFound
    from studio.jobs import list_jobs

    with pytest.raises(NotFound, match="no model version 'nope'"):
        enqueue(EvaluateSpec(model="nope"))
    assert list_jobs() == []
