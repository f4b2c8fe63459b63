"""Workers heartbeat; the jobs of a worker that stops beating go back on the queue exactly once;
lanes route model work to GPU workers; priorities order a lane; a worker refuses a store it
cannot see. Real SQLite (and PostgreSQL in the db pass), real worker processes where it matters."""

from __future__ import annotations

import os
import signal
import socket
from datetime import timedelta
from pathlib import Path

import psutil
import pytest

from studio.errors import StudioError
from studio.jobs import enqueue, get_job, wait
from studio.jobs.kinds import SleepSpec
from studio.tables import Job, JobStatus, Worker, utcnow
from tests.backend.conftest import WorkerFactory
from tests.backend.test_worker import running_child, wait_until

HOST = socket.gethostname()


def _running_job(job_id: str, worker_id: str | None, *, attempts: int = 1, cancel: bool = False,
                 started_ago: timedelta = timedelta(minutes=5)) -> None:
    from studio.db import session_scope

    with session_scope() as session:
        session.add(Job(id=job_id, kind="sleep", params={"seconds": 0, "steps": 1, "fail": False},
                        status=JobStatus.running, worker_id=worker_id, worker_host="elsewhere", attempts=attempts,
                        started_at=utcnow() - started_ago, cancel_requested=cancel))


def _worker(worker_id: str, seen_ago: timedelta) -> None:
    from studio.db import session_scope

    with session_scope() as session:
        session.add(Worker(id=worker_id, host="elsewhere", pid=1, lanes="gpu,cpu", devices="auto",
                           last_seen=utcnow() - seen_ago))


def test_reap_requeues_the_jobs_of_silent_workers_once(studio_env: dict[str, str]) -> None:
    from backend.heartbeat import reap
    from studio.jobs import MAX_ATTEMPTS

    _worker("alive", timedelta(seconds=1))
    _worker("silent", timedelta(minutes=2))
    # job: its worker -> what the reaper does
    _running_job("on-alive", "alive")  # beating: left alone
    _running_job("on-silent", "silent")  # requeued
    _running_job("on-gone", "nobody")  # worker row gone (machine lost long ago): requeued
    _running_job("no-worker-new", None, started_ago=timedelta(seconds=1))  # being started: left alone
    _running_job("tired", "silent", attempts=MAX_ATTEMPTS)  # too many attempts: failed
    _running_job("cancelled", "silent", cancel=True)  # the user asked to stop it: cancelled
    assert sorted(reap()) == ["cancelled", "on-gone", "on-silent", "tired"]
    assert reap() == []  # compare-and-set: a second reaper finds nothing to do
    assert get_job("on-alive").status == get_job("no-worker-new").status == JobStatus.running
    for job_id in ("on-silent", "on-gone"):
        job = get_job(job_id)
        assert job.status == JobStatus.queued and job.worker_id is None and job.queue_task_id
        assert "stopped answering" in job.message and "requeued after attempt 1" in job.log
    assert get_job("tired").status == JobStatus.failed and "gave up after 3 attempts" in get_job("tired").error
    assert get_job("cancelled").status == JobStatus.cancelled


def test_a_lost_attempt_cannot_write_over_the_next_one(studio_env: dict[str, str]) -> None:
    from studio.jobs import RowContext, finish_job, requeue, update_job

    _running_job("j", "w", attempts=1)
    assert requeue("j", "worker lost", attempt=1)
    update_job("j", only_if=[JobStatus.queued], status=JobStatus.running, attempts=2)  # attempt 2 starts
    late = RowContext("j", attempt=1)
    late.progress(1.0, "attempt 1 thinks it is done")
    assert not finish_job("j", JobStatus.succeeded, attempt=1, result={"slept": 0, "steps": 1})
    job = get_job("j")
    assert job.status == JobStatus.running and job.attempts == 2 and job.message != "attempt 1 thinks it is done"


@pytest.mark.parametrize(("gpus", "cpu", "multi", "expected"), [
    (None, None, False, [(("gpu", "cpu", "multi"), 2, None)]),  # plain `studio worker`: every lane, one process
    ("0,1", None, False, [(("gpu",), 1, "0"), (("gpu",), 1, "1")]),  # one process per GPU, pinned
    ("2", 3, False, [(("gpu",), 1, "2"), (("cpu",), 3, None)]),  # GPU work and CPU work apart
    (None, 4, False, [(("cpu",), 4, None)]),  # a CPU-only box that leaves model work to others
    ("0,1", None, True, [(("multi",), 1, None), (("gpu",), 1, "0"), (("gpu",), 1, "1")]),  # + DDP runs, unpinned
])
def test_worker_processes_are_planned_per_gpu(gpus: str | None, cpu: int | None, multi: bool,
                                              expected: list) -> None:
    from backend.worker import plan_processes, worker_env

    plan = plan_processes(gpus, cpu, multi_gpu=multi)
    assert [(p.lanes, p.threads, p.gpu) for p in plan] == expected
    assert [worker_env(p, {}).get("CUDA_VISIBLE_DEVICES") for p in plan] == [e[2] for e in expected]


@pytest.mark.parametrize(("gpus", "cpu", "message"), [
    ("0,0", None, "distinct GPU numbers"), ("a", None, "distinct GPU numbers"), (None, 0, "positive number"),
])
def test_bad_worker_plans_are_refused(gpus: str | None, cpu: int | None, message: str) -> None:
    from backend.worker import plan_processes

    with pytest.raises(StudioError, match=message):
        plan_processes(gpus, cpu)


def test_gpu_work_waits_for_a_gpu_worker_and_priorities_order_a_lane(studio_env: dict[str, str],
                                                                     tmp_path: Path) -> None:
    from backend.worker import spawn_worker
    from studio.jobs.kinds import EmbedSpec

    from studio.datasets import ingest_doc
    from studio.demo import generate_demo

    ingest_doc(generate_demo(tmp_path / "demo", n_images=1, seed=1), dataset="shelves")
    gpu_job = enqueue(EmbedSpec(dataset="shelves", segmenter="fallback"))
    assert get_job(gpu_job).lane == "gpu"
    low = enqueue(SleepSpec(seconds=0, steps=1))
    high = enqueue(_Urgent(seconds=0, steps=1))
    cpu_only = spawn_worker(1, lanes=("cpu",), log_file=tmp_path / "cpu.log")
    try:
        wait(low, timeout=30), wait(high, timeout=30)
        assert get_job(high).started_at <= get_job(low).started_at  # the higher priority went first
        assert get_job(gpu_job).status == JobStatus.queued  # no GPU-lane worker: it waits
    finally:
        cpu_only.terminate()
        cpu_only.wait(15)
    gpu_only = spawn_worker(1, lanes=("gpu",), log_file=tmp_path / "gpu.log")
    try:
        assert wait(gpu_job, timeout=60).status == JobStatus.succeeded
    finally:
        gpu_only.terminate()
        gpu_only.wait(15)


def test_a_worker_that_cannot_see_the_store_refuses_to_start(studio_env: dict[str, str], tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from backend.worker import check_store
    from studio.datasets import ingest_doc
    from studio.demo import generate_demo
    from tests.conftest import reset_studio_caches

    ingest_doc(generate_demo(tmp_path / "demo", n_images=2, seed=1), dataset="shelves")
    check_store()  # this machine sees it
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "elsewhere"))  # another machine, nothing mounted
    reset_studio_caches()
    with pytest.raises(StudioError, match="cannot see the image store: none of 2 sampled images"):
        check_store()


@pytest.mark.slow
def test_a_lost_machine_is_detected_and_its_job_finishes_elsewhere(start_worker: WorkerFactory,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """kill -9 of a worker *and* its job's process (as when a machine is lost: no watchdog
    survives): the other worker notices the silence and runs the job again."""
    monkeypatch.setenv("STUDIO_WORKER_TIMEOUT_S", "6")
    lost = start_worker()
    wait_until(lambda: _workers() >= 1, 10, "the first worker's heartbeat")
    job_id = enqueue(SleepSpec(seconds=3, steps=10))
    child = running_child(job_id)
    start_worker()
    wait_until(lambda: _workers() >= 2, 20, "the second worker's heartbeat (its own start-up checks done)")
    for pid in [child, lost.pid, *(p.pid for p in psutil.Process(child).children(recursive=True))]:
        os.kill(pid, signal.SIGKILL)
    lost.wait()
    job = wait(job_id, timeout=60)
    assert job.status == JobStatus.succeeded and job.attempts == 2
    assert "stopped answering" in job.log


def _workers() -> int:
    from sqlmodel import func, select

    from studio.db import session_scope

    with session_scope() as session:
        return session.exec(select(func.count()).select_from(Worker)).one()


from dataclasses import dataclass  # noqa: E402  (a test-only job kind below)
from typing import ClassVar  # noqa: E402

from studio.jobs import job_kind  # noqa: E402


@job_kind
@dataclass(frozen=True, kw_only=True)
class _Urgent(SleepSpec):
    """A sleep job that jumps the queue (tests priorities)."""

    kind: ClassVar[str] = "sleep_urgent"
    priority: ClassVar[int] = 10
