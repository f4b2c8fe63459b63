"""The worker (backend/): child processes, cancel, crashes, and recovery after a worker dies.

Real worker processes run real child processes here; SQLite database and queue in tmp_path.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from backend.tasks import child_alive, log_path, orphan_reason
from backend.worker import recover_orphans
from studio.db import session_scope
from studio.errors import Conflict
from studio.jobs import cancel, enqueue, get_job, wait
from studio.jobs.kinds import ExportSpec, ImportSpec, SleepSpec
from studio.tables import Job, JobStatus, utcnow
from tests.backend.conftest import WorkerFactory

HOST = socket.gethostname()
LONG = SleepSpec(seconds=60, steps=60)  # a sleep job that runs until it is stopped


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``predicate`` until it returns something truthy (returned); AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
    return value


def running_child(job_id: str) -> int:
    """Wait until the job's child process runs its body; its pid."""
    pid = wait_until(lambda: get_job(job_id).worker_pid, 20, f"a child process for job {job_id}")
    wait_until(lambda: get_job(job_id).progress > 0, 20, "the body to report progress")
    return pid


def test_cancel_stops_the_running_child_within_2_s(start_worker: WorkerFactory) -> None:
    start_worker()
    job_id = enqueue(LONG)
    pid = running_child(job_id)
    started = time.monotonic()
    cancel(job_id)
    wait_until(lambda: not child_alive(pid, job_id), 2, f"child pid {pid} to end")
    assert time.monotonic() - started < 2
    assert wait(job_id, timeout=5).status == JobStatus.cancelled


def test_a_failing_body_records_its_error_and_traceback(start_worker: WorkerFactory) -> None:
    start_worker()
    job = wait(enqueue(SleepSpec(seconds=0.1, steps=2, fail=True)), timeout=20)
    assert job.status == JobStatus.failed
    assert job.error == "RuntimeError: failing on purpose at step 2/2 (params fail=true)"  # one line
    assert job.log.startswith("Traceback (most recent call last):")
    assert 'raise RuntimeError(f"failing on purpose' in job.log
    assert "RuntimeError: failing on purpose" in log_path(job.id).read_text()  # the child's stderr


def test_a_child_killed_without_recording_fails_with_its_log(start_worker: WorkerFactory) -> None:
    start_worker()
    job_id = enqueue(LONG)
    pid = running_child(job_id)
    os.kill(pid, signal.SIGKILL)  # e.g. the OOM killer: the body records nothing
    job = wait(job_id, timeout=10)
    assert job.status == JobStatus.failed
    assert job.error.startswith(f"the job's process exited with code -{signal.SIGKILL.value} without recording")
    assert f"job {job_id} attempt 1 on {HOST}" in job.error  # the log's last lines (the worker's header)


def test_a_worker_killed_mid_job_requeues_it_and_the_next_worker_finishes_it(start_worker: WorkerFactory) -> None:
    worker = start_worker()
    job_id = enqueue(SleepSpec(seconds=4, steps=20))
    pid = running_child(job_id)
    worker.send_signal(signal.SIGKILL)  # no chance to clean up
    worker.wait()
    wait_until(lambda: not child_alive(pid, job_id), 5, f"orphaned child pid {pid} to end")
    queued = get_job(job_id)  # the child's watchdog put it back on the queue
    assert queued.status == JobStatus.queued and queued.message == f"requeued: {orphan_reason(worker.pid, HOST)}"
    start_worker()
    job = wait(job_id, timeout=30)
    assert job.status == JobStatus.succeeded and job.attempts == 2
    assert "requeued after attempt 1" in job.log


def test_stopping_a_worker_puts_its_running_jobs_back_on_the_queue(start_worker: WorkerFactory) -> None:
    worker = start_worker()
    job_id = enqueue(LONG)
    pid = running_child(job_id)
    worker.terminate()  # SIGTERM: stop now
    assert worker.wait(10) == 0
    job = get_job(job_id)
    assert job.status == JobStatus.queued and job.attempts == 1
    assert job.message == f"requeued: {orphan_reason(pid, HOST)}" and job.worker_id is None
    assert not child_alive(pid, job_id)


def test_recover_orphans_requeues_only_jobs_whose_child_is_gone(studio_env: dict[str, str]) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    hour_ago = utcnow() - timedelta(hours=1)
    # id: (status, host, pid, started_at, requeued?)
    cases: dict[str, tuple[JobStatus, str, int | None, Any, bool]] = {
        "deadchild": (JobStatus.running, HOST, dead.pid, hour_ago, True),  # child gone
        "nopidold": (JobStatus.running, HOST, None, hour_ago, True),  # worker died before starting it
        "nopidnew": (JobStatus.running, HOST, None, utcnow(), False),  # a worker is starting it now
        "pidreused": (JobStatus.running, HOST, os.getpid(), hour_ago, True),  # pid now someone else's
        "alivechild": (JobStatus.running, HOST, None, hour_ago, False),  # pid set below: still running
        "otherhost": (JobStatus.running, "elsewhere", dead.pid, hour_ago, False),  # its heartbeat decides
        "queued": (JobStatus.queued, HOST, None, None, False),  # not running at all
    }
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "backend.child", "alivechild"])
    try:
        with session_scope() as session:
            for job_id, (status, host, pid, started_at, _) in cases.items():
                pid = alive.pid if job_id == "alivechild" else pid
                session.add(Job(id=job_id, kind="sleep", status=status, worker_host=host, worker_pid=pid,
                                started_at=started_at, attempts=1 if status == JobStatus.running else 0))
        wait_until(lambda: child_alive(alive.pid, "alivechild"), 5, "the stand-in child to start")
        recovered = recover_orphans()
        assert recover_orphans() == []  # idempotent
    finally:
        alive.kill()
        alive.wait()
    assert sorted(recovered) == sorted(job_id for job_id, case in cases.items() if case[4])
    for job_id, (status, _, pid, _, marked) in cases.items():
        job = get_job(job_id)
        assert job.status == (JobStatus.queued if marked else status), job_id
        if marked:
            assert job.message == f"requeued: {orphan_reason(pid, HOST)}" and job.queue_task_id


def test_import_and_export_jobs_run_on_the_worker(start_worker: WorkerFactory, tmp_path) -> None:  # noqa: ANN001
    """The first real job kinds: a generated demo dataset imported, then exported, by the worker."""
    from studio.datasets import dataset_stats
    from studio.demo import generate_demo
    from studio.formats.coco import save_coco

    source = tmp_path / "coco"
    save_coco(generate_demo(tmp_path / "demo", n_images=3, seed=1), source)
    start_worker()
    imported = wait(enqueue(ImportSpec(format="coco", source=source, dataset="shop", split="val")), timeout=60)
    assert imported.status == JobStatus.succeeded, imported.error
    stats = dataset_stats("shop")
    objects = sum(stats.annotations_by_class.values())
    assert imported.result["images_added"] == 3 == stats.total_images
    assert imported.result["annotations_added"] == objects > 0
    assert stats.images_by_split == {"val": 3}  # the job's split parameter reached the importer

    out = tmp_path / "export"
    exported = wait(enqueue(ExportSpec(format="yolo", dataset="shop", out=out)), timeout=60)
    assert exported.status == JobStatus.succeeded, exported.error
    assert exported.result["annotations"] == objects and (out / "data.yaml").is_file()
    with pytest.raises(Conflict, match="already exists"):  # no silent overwrite, refused before it is queued
        enqueue(ExportSpec(format="yolo", dataset="shop", out=out))
