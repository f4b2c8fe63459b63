"""Queue interface: enqueue / cancel / retry / wait (huey underneath).

Pages and the CLI build a typed spec (``studio.jobs.kinds``) and call :func:`enqueue`; a
worker runs it. The ``job`` table is the truth users see (status, progress, log, result);
huey only carries "run job X" messages from :func:`enqueue` to a worker.

No import of the worker: :func:`make_huey` registers the single task ``run_job`` on every
huey instance it builds, whose body calls the *task runner* the worker installs with
:func:`set_task_runner` when it starts (``backend.worker``: start the job's child process
and supervise it). So ``studio`` never imports ``backend``; ``backend`` imports ``studio``.

Queue URLs: ``sqlite:///path`` (default, a file beside the data), ``redis://host:port/db``,
and ``inline:`` — every job runs in the enqueuing process as soon as it is queued, through
the same runner a worker's child uses (tests and scripts; huey's ``immediate`` mode is the
model).

Lanes and priorities: each storage holds one queue per lane (:data:`LANES`): a job goes to
the lane its spec asks for (``JobSpec.lane()``: model work on "gpu", the rest on "cpu", training
on several GPUs on "multi"), so GPU workers (``studio worker --gpus``, each pinned to one GPU)
only take one-GPU work, CPU workers the rest, and ``--multi-gpu`` workers (unpinned) the runs
that need all of a machine's GPUs; within a
lane a higher ``JobSpec.queue_priority()`` runs first (huey's priority queues: SQLite, and
Redis >= 5 through ``PriorityRedisHuey``). :func:`requeue` puts a running job whose worker
vanished back on its lane (``backend.heartbeat``); its ``attempts`` fence off writes of the
lost attempt.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TypeVar
from weakref import WeakKeyDictionary

from huey import Huey, PriorityRedisHuey, SqliteHuey
from huey.api import TaskWrapper

from studio.config import get_settings
from studio.db import session_scope
from studio.errors import InvalidInput, StudioError
from studio.jobs.rows import append_log, finish_job, get_job, update_job
from studio.jobs.spec import JobSpec, load_spec
from studio.tables import Job, JobStatus, utcnow

log = logging.getLogger(__name__)

RUN_JOB_TASK = "run_job"  # registered as "studio.jobs.queue.run_job" (huey: "<module>.<name>")
HUEY_NAME = "studio"  # huey's queue names inside the storage: "studio-gpu", "studio-cpu"
LANES: tuple[str, ...] = ("gpu", "cpu", "multi")  # "multi": runs that take every GPU of a machine (DDP)
MAX_ATTEMPTS = 3  # a job whose worker vanished this many times is failed, not requeued
INLINE_URL = "inline:"  # STUDIO_QUEUE_URL that runs each job in the enqueuing process

R = TypeVar("R")

# huey instance -> the run-job TaskWrapper make_huey registered on it
_RUN_JOB: WeakKeyDictionary[Huey, TaskWrapper] = WeakKeyDictionary()
_task_runner: Callable[[str], None] | None = None


# --- huey -------------------------------------------------------------------------------


def make_huey(queue_url: str, lane: str = "cpu") -> Huey:
    """A huey instance for lane ``lane`` of ``sqlite:///path`` or ``redis://host:port/db``
    (``rediss://`` too). The run-job task is registered on it, so any instance made here can
    enqueue and consume.
    """
    if lane not in LANES:
        raise InvalidInput(f"queue lane {lane!r}: expected one of {', '.join(LANES)}")
    name = f"{HUEY_NAME}-{lane}"
    scheme = queue_url.split(":", 1)[0].lower() if ":" in queue_url else ""
    if scheme == "sqlite":
        path = queue_url.split("///", 1)[-1] if "///" in queue_url else ""
        if not path or path == ":memory:":
            raise InvalidInput(f"queue URL {queue_url!r}: expected sqlite:///path/to/queue.db (a file)")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        huey: Huey = SqliteHuey(name=name, filename=path, results=False, timeout=30)
    elif scheme in ("redis", "rediss"):
        huey = PriorityRedisHuey(name=name, url=queue_url, results=False)
    else:
        raise InvalidInput(f"queue URL {queue_url!r}: expected sqlite:///path/to/queue.db, "
                           f"redis://host:port/db or {INLINE_URL}")
    _RUN_JOB[huey] = huey.task(name=RUN_JOB_TASK)(_run_job_task)
    return huey


@lru_cache(maxsize=8)
def get_huey(queue_url: str | None = None, lane: str = "cpu") -> Huey:
    """The huey instance of lane ``lane`` of ``queue_url`` (default: the configured queue),
    cached per process (tests that change the settings call ``get_huey.cache_clear()``)."""
    return make_huey(queue_url or get_settings().resolved_queue_url, lane)


def set_task_runner(runner: Callable[[str], None] | None) -> None:
    """Install what a consumer does with a "run job X" message (the worker calls this once)."""
    global _task_runner
    _task_runner = runner


def _run_job_task(job_id: str) -> None:
    """The huey task body: hand job ``job_id`` to the installed task runner."""
    if _task_runner is None:
        raise StudioError("this process consumes the queue without a task runner; start workers with "
                          "`studio worker` (backend.worker installs it)")
    _task_runner(job_id)


def _inline() -> bool:
    return get_settings().resolved_queue_url.strip().lower() == INLINE_URL


# --- queue interface --------------------------------------------------------------------


def enqueue(spec: JobSpec) -> str:
    """Prepare ``spec`` (``JobSpec.prepare``), store it as a queued job and queue it for a
    worker; the job's id. With the inline queue the job has run when this returns.

    TypeError for anything but a spec. If the queue cannot be reached the job is marked
    failed and the error raised.
    """
    if not isinstance(spec, JobSpec) or not spec.kind:
        raise TypeError(f"enqueue expects a job spec (studio.jobs.kinds), got {type(spec).__name__}")
    spec = spec.prepare()
    job_id = uuid.uuid4().hex
    lane, priority = spec.lane(), spec.queue_priority()
    if _inline():
        with session_scope() as session:
            session.add(Job(id=job_id, kind=spec.kind, params=spec.to_params(), lane=lane, priority=priority))
        from studio.jobs.runner import run_inline_job

        run_inline_job(job_id)
        return job_id
    with session_scope() as session:
        session.add(Job(id=job_id, kind=spec.kind, params=spec.to_params(), lane=lane, priority=priority))
    try:
        _put_on_queue(job_id, lane, priority)
    except Exception as exc:
        update_job(job_id, status=JobStatus.failed, finished_at=utcnow(), error=f"could not queue the job: {exc}")
        raise
    return job_id


def _put_on_queue(job_id: str, lane: str, priority: int) -> None:
    """Put a "run job X" message on ``lane`` and record its task id (to revoke it while queued)."""
    huey = get_huey(lane=lane)
    task = _RUN_JOB[huey].s(job_id, priority=priority or None)  # a message with its own id, not yet queued
    update_job(job_id, queue_task_id=task.id)
    huey.enqueue(task)


def requeue(job_id: str, reason: str, *, attempt: int | None = None) -> bool:
    """Put a running job whose worker vanished back on its queue (compare-and-set: only while
    it is running, and with ``attempt`` only that attempt); after :data:`MAX_ATTEMPTS` attempts,
    or when a cancel was asked for, it ends instead (failed / cancelled). True if this call
    changed the job. The next attempt resumes where the spec can (training: from ``last.pt``)."""
    job = get_job(job_id)
    if job.status != JobStatus.running.value or (attempt is not None and job.attempts != attempt):
        return False
    if job.cancel_requested:
        return finish_job(job_id, JobStatus.cancelled, attempt=job.attempts, message=f"cancelled ({reason})")
    if job.attempts >= MAX_ATTEMPTS:
        return finish_job(job_id, JobStatus.failed, attempt=job.attempts,
                          error=f"{reason}; gave up after {job.attempts} attempts")
    if not update_job(job_id, only_if=[JobStatus.running], attempt=job.attempts, status=JobStatus.queued,
                      worker_id=None, worker_pid=None, message=f"requeued: {reason}"):
        return False
    append_log(job_id, f"requeued after attempt {job.attempts}: {reason}")
    if _inline():
        return True
    try:
        _put_on_queue(job_id, job.lane, job.priority)
    except Exception as exc:  # noqa: BLE001 (queue unreachable: the job must not stay queued forever)
        update_job(job_id, only_if=[JobStatus.queued], status=JobStatus.failed, finished_at=utcnow(),
                   error=f"{reason}; could not queue it again: {exc}")
        raise
    return True


def job_spec(job: Job | str) -> JobSpec:
    """The typed spec of a stored job (a row or its id)."""
    row = get_job(job) if isinstance(job, str) else job
    return load_spec(row.kind, row.params)


def job_result(job: Job | str, spec_type: type[JobSpec[R]]) -> R | None:
    """The typed result of a job of ``spec_type`` (None until it succeeded); InvalidInput when
    the job is of another kind."""
    row = get_job(job) if isinstance(job, str) else job
    if row.kind != spec_type.kind:
        raise InvalidInput(f"job {row.id} is a {row.kind!r} job, not {spec_type.kind!r}")
    if row.status != JobStatus.succeeded.value or row.result is None:
        return None
    return spec_type.result_from_json(row.result)


def cancel(job_id: str) -> Job:
    """Cancel a job: a queued one never runs; a running one is asked to stop (the worker ends
    its child process within about a second and marks it cancelled); a finished one is
    returned unchanged."""
    job = get_job(job_id)
    if update_job(job_id, only_if=[JobStatus.queued], status=JobStatus.cancelled, finished_at=utcnow()):
        if job.queue_task_id and not _inline():
            try:  # spares the worker a wake-up; the status alone already keeps the job from running
                get_huey(lane=job.lane).revoke_by_id(job.queue_task_id, revoke_once=True)
            except Exception as exc:  # noqa: BLE001 (queue unreachable: the cancel still holds)
                log.warning("job %s cancelled, but its queue entry could not be revoked: %s", job_id, exc)
    else:
        update_job(job_id, only_if=[JobStatus.running], cancel_requested=True)
    return get_job(job_id)


def retry(job_id: str) -> str:
    """Queue a finished (failed / cancelled / succeeded) job again with the same spec; the new
    job's id. Training jobs keep their ``run_id`` and dataset version, so they resume from the
    run's last checkpoint on the same data."""
    job = get_job(job_id)
    if not JobStatus(job.status).finished:
        raise InvalidInput(f"job {job_id} is still {job.status}; cancel it first or wait for it to end")
    return enqueue(job_spec(job))


def wait(job_id: str, timeout: float, poll: float = 0.2) -> Job:
    """Poll until the job has finished and return it; TimeoutError (naming its last status
    and progress) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        job = get_job(job_id)
        if JobStatus(job.status).finished:
            return job
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"job {job_id} ({job.kind}) still {job.status} after {timeout:g} s "
                f"at {job.progress:.0%}: {job.message or 'no message'}"
            )
        time.sleep(poll)


__all__ = ["INLINE_URL", "LANES", "MAX_ATTEMPTS", "cancel", "enqueue", "finish_job", "get_huey", "job_result",
           "job_spec", "make_huey", "requeue", "retry", "set_task_runner", "wait"]
