"""Training as a job on a real worker: epochs reach the database while it runs, cancel stops
it within a step, the re-queued job resumes from the last checkpoint; and the CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path

from studio.jobs import cancel, enqueue, get_job, job_result, retry, wait
from studio.tables import JobStatus
from tests.backend.conftest import WorkerFactory
from tests.backend.test_worker import wait_until
from tests.test_cli import studio
from tests.training.test_runs import load_demo, unet_config


def test_cancel_then_retry_resumes_from_the_last_checkpoint(start_worker: WorkerFactory, tmp_path: Path) -> None:
    from studio.jobs.kinds import TrainOutcome, TrainSpec
    from studio.training.config import TrainConfig
    from studio.training.history import epoch_rows

    version = load_demo(tmp_path, 6, 80)
    config = unet_config(version, epochs=40, image_size=64)
    start_worker()
    job_id = enqueue(TrainSpec(config=config))
    wait_until(lambda: len(epoch_rows(job_id)) >= 2, 120, "two epochs in the database")
    assert "ETA" in get_job(job_id).message
    started = time.monotonic()
    cancel(job_id)
    assert wait(job_id, timeout=10).status == JobStatus.cancelled
    assert time.monotonic() - started < 10
    done = len(epoch_rows(job_id))

    config_short = TrainConfig.from_dict({**config.to_dict(), "epochs": done + 1})  # one more epoch after the resume
    again = enqueue(TrainSpec(config=config_short, run_id=get_job(job_id).params["run_id"]))
    job = wait(again, timeout=120)
    assert job.status == JobStatus.succeeded, job.error
    outcome = job_result(job, TrainSpec)
    assert isinstance(outcome, TrainOutcome) and outcome.monitor == "miou"
    assert outcome.resumed_from >= done - 1 and outcome.epochs == done + 1
    assert [r["epoch"] for r in epoch_rows(again)] == list(range(1, done + 2))  # earlier epochs re-reported
    assert outcome.model.startswith("unet_resnet18_shelves_v1.0.0_")
    assert retry(again) != again  # a finished job can be queued again (same run id)


def test_cli_trains_here_and_manages_versions(tmp_path: Path) -> None:
    studio(tmp_path, "init", check=True)
    studio(tmp_path, "demo", "--images", "4", check=True)
    config = tmp_path / "train.yaml"
    config.write_text("architecture: unet\nbackbone: resnet18\nepochs: 1\nimage_size: 64\nbatch_size: 2\n"
                      "num_workers: 0\n")
    first = studio(tmp_path, "train", str(config), "--dataset", "shelves", "--here", check=True)
    result = json.loads(first.stdout[first.stdout.index("{"):])
    assert result["model"].startswith("unet_resnet18_shelves_v1.0.0_")
    studio(tmp_path, "train", str(config), "--dataset", "shelves", "--here", "--lr", "0.002", check=True)
    listing = studio(tmp_path, "models", "list", check=True).stdout
    assert "v1.0.0" in listing and "v1.1.0" in listing
    shown = json.loads(studio(tmp_path, "models", "show", result["model"], check=True).stdout)
    assert shown["task"] == "semantic" and shown["files"]["best"]
    cleaned = studio(tmp_path, "models", "cleanup", "--keep", "1", check=True).stdout
    assert f"removed {result['model']}" in cleaned
    assert result["model"] not in studio(tmp_path, "models", "list", check=True).stdout

    bad = studio(tmp_path, "train", "--arch", "unett", "--dataset", "shelves", "--here")
    assert bad.returncode == 1 and "unett" in bad.stderr
    typo = tmp_path / "typo.yaml"
    typo.write_text("epoch: 3\n")
    refused = studio(tmp_path, "train", str(typo), "--dataset", "shelves", "--here")
    assert refused.returncode == 1 and "did you mean epochs" in refused.stderr
