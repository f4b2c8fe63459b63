"""Model-ops job kinds: an evaluate job end to end through a real worker process (its child
process loads the real model), plus parameter checks of the other kinds."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.jobs import enqueue, wait
from studio.tables import JobStatus
from tests.backend.conftest import WorkerFactory
from tests.test_inference import make_dataset, unet_version


def test_evaluate_and_bench_jobs_run_on_the_worker(start_worker: WorkerFactory, tmp_path: Path) -> None:
    from studio.benchmarking import list_benchmarks
    from studio.evaluation.views import get_evaluation, list_evaluations

    dv = make_dataset(tmp_path, n_images=4)
    unet = unet_version(tmp_path, dv)
    start_worker()
    evaluate = enqueue("evaluate", {"model": unet.name, "split": "train"})
    bench = enqueue("bench", {"model": unet.id, "size": [64, 64], "warmup": 1, "iters": 2})
    job = wait(evaluate, timeout=180)
    assert job.status == JobStatus.succeeded, job.error or job.log[-2000:]
    assert job.progress == 1.0 and job.result["model"] == unet.name
    view = get_evaluation(job.result["evaluation_id"])
    assert view.summary == job.result["summary"] and view.image_count == job.result["image_count"] > 0
    assert [e.id for e in list_evaluations(unet.id)] == [view.id] and (view.folder / "predictions.csv").is_file()
    job = wait(bench, timeout=120)
    assert job.status == JobStatus.succeeded, job.error or job.log[-2000:]
    assert job.result["size"] == [64, 64] and job.result["latency_mean_ms"] > 0
    assert [b["id"] for b in list_benchmarks(unet.id)] == [job.result["benchmark_id"]]
    assert list_benchmarks(unet.id)[0]["job_id"] == bench


def test_job_params_are_checked(studio_env: dict[str, str]) -> None:
    from backend.kinds import get_body, known_kinds
    from studio.errors import InvalidInput
    from studio.jobs import JobContext

    assert {"evaluate", "prelabel", "export_model", "bench", "export"} <= set(known_kinds())
    with pytest.raises(InvalidInput, match="job params lack model"):
        get_body("evaluate")(JobContext("x", {"split": "val"}))
    with pytest.raises(InvalidInput, match="job params lack model, dataset"):
        get_body("prelabel")(JobContext("x", {}))
