"""Queue interface: enqueue / inspect / cancel / wait for jobs (huey underneath).

Pages and the CLI call these functions; the worker (``backend/``) runs the jobs. The
``job`` table is the truth users see (status, progress, log, result); huey only carries
"run job X" messages from :func:`enqueue` to a worker.

How the task name is shared without import cycles: :func:`get_huey` builds the huey
instance for a queue URL and registers on it the single task :data:`RUN_JOB_TASK`
(``studio.jobs.run_job``). Its body is a one-line trampoline that imports
``backend.tasks.run_job`` only when a worker executes it, so the UI process never imports
the worker's code (psutil, subprocess handling), and both sides agree on the task name
because both build their huey instance with this one function. Job kinds live in
``backend.kinds``, imported lazily by :func:`enqueue` to validate the kind.

Every database write here is one short transaction (SQLite WAL is shared with the worker
and its child processes); state changes are compare-and-set (``UPDATE ... WHERE status``)
so a cancel and a worker starting the same job cannot both win.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from huey import Huey, RedisHuey, SqliteHuey
from huey.api import TaskWrapper
from sqlalchemy import update
from sqlmodel import col, select

from studio.config import get_settings
from studio.db import get_row, session_scope
from studio.errors import InvalidInput
from studio.tables import Job, JobStatus, utcnow

log = logging.getLogger(__name__)

RUN_JOB_TASK = "run_job"  # registered as "studio.jobs.run_job" (huey: "<module>.<name>")
HUEY_NAME = "studio"  # huey's queue name inside the storage (Redis key prefix, SQLite column)
PROGRESS_INTERVAL_S = 0.2  # JobContext.progress writes at most ~5 rows per second

# huey instance -> the run-job TaskWrapper make_huey registered on it
_RUN_JOB: WeakKeyDictionary[Huey, TaskWrapper] = WeakKeyDictionary()


# --- huey -------------------------------------------------------------------------------


def make_huey(queue_url: str) -> Huey:
    """A huey instance for ``sqlite:///path`` or ``redis://host:port/db`` (``rediss://`` too).

    The run-job task is registered on it, so any instance made here can enqueue and consume.
    """
    scheme = queue_url.split(":", 1)[0].lower() if ":" in queue_url else ""
    if scheme == "sqlite":
        path = queue_url.split("///", 1)[-1] if "///" in queue_url else ""
        if not path or path == ":memory:":
            raise InvalidInput(f"queue URL {queue_url!r}: expected sqlite:///path/to/queue.db (a file)")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        huey: Huey = SqliteHuey(name=HUEY_NAME, filename=path, results=False, timeout=30)
    elif scheme in ("redis", "rediss"):
        huey = RedisHuey(name=HUEY_NAME, url=queue_url, results=False)
    else:
        raise InvalidInput(
            f"queue URL {queue_url!r}: expected sqlite:///path/to/queue.db or redis://host:port/db"
        )
    _RUN_JOB[huey] = huey.task(name=RUN_JOB_TASK)(_run_job_task)
    return huey


@lru_cache(maxsize=4)
def get_huey(queue_url: str | None = None) -> Huey:
    """The huey instance of ``queue_url`` (default: the configured queue), cached per process
    (tests that change the settings call ``get_huey.cache_clear()``)."""
    return make_huey(queue_url or get_settings().resolved_queue_url)


def _run_job_task(job_id: str) -> None:
    """The huey task body: run job ``job_id`` (imported lazily: only workers need it)."""
    from backend.tasks import run_job

    run_job(job_id)


# --- rows -------------------------------------------------------------------------------


def get_job(job_id: str) -> Job:
    """The job row (a detached copy); NotFound if there is no such job."""
    with session_scope() as session:
        job = get_row(session, Job, job_id, f"no job with id {job_id!r}")
        session.expunge(job)
        return job


def list_jobs(*, status: JobStatus | str | None = None, kind: str | None = None, limit: int = 100) -> list[Job]:
    """Jobs newest first, optionally only those of one status and/or kind."""
    query = select(Job).order_by(col(Job.created_at).desc()).limit(limit)
    if status is not None:
        try:
            query = query.where(Job.status == JobStatus(status).value)
        except ValueError:
            raise InvalidInput(
                f"unknown job status {status!r}; expected one of: {', '.join(s.value for s in JobStatus)}"
            ) from None
    if kind is not None:
        query = query.where(Job.kind == kind)
    with session_scope() as session:
        jobs = list(session.exec(query))
        session.expunge_all()
        return jobs


def update_job(job_id: str, *, only_if: Iterable[JobStatus] | None = None, **values: Any) -> bool:
    """Set columns of one job in one transaction; with ``only_if``, only while its status is
    one of those (compare-and-set). True if the row was changed.

    Used by the worker side (``backend/``) too; ``JobStatus`` values are stored as strings.
    """
    values = {k: (v.value if isinstance(v, JobStatus) else v) for k, v in values.items()}
    statement = update(Job).where(col(Job.id) == job_id).values(**values)
    if only_if is not None:
        statement = statement.where(col(Job.status).in_([JobStatus(s).value for s in only_if]))
    with session_scope() as session:
        return session.exec(statement).rowcount == 1


def finish_job(job_id: str, status: JobStatus, **values: Any) -> bool:
    """Move a running job to a final ``status`` (with ``finished_at``); False if it was not running."""
    return update_job(job_id, only_if=[JobStatus.running], status=status, finished_at=utcnow(), **values)


def append_log(job_id: str, text: str) -> None:
    """Append ``text`` (a newline is added when missing) to the job's ``log`` column."""
    if not text.endswith("\n"):
        text += "\n"
    update_job(job_id, log=col(Job.log) + text)


# --- queue interface --------------------------------------------------------------------


def enqueue(kind: str, params: dict[str, Any]) -> str:
    """Create a queued job of ``kind`` with ``params`` (JSON) and queue it for a worker; its id.

    InvalidInput for an unknown kind (the message lists the known ones) or params that are
    not JSON. If the queue cannot be reached the job is marked failed and the error raised.
    """
    from backend.kinds import known_kinds

    kinds = known_kinds()
    if kind not in kinds:
        raise InvalidInput(f"unknown job kind {kind!r}; expected one of: {', '.join(kinds)}")
    try:
        json.dumps(params)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"job params must be JSON (str, numbers, lists, dicts): {exc}") from None

    huey = get_huey()
    job_id = uuid.uuid4().hex
    task = _RUN_JOB[huey].s(job_id)  # a task message with its own id, not yet queued
    with session_scope() as session:
        session.add(Job(id=job_id, kind=kind, params=params, queue_task_id=task.id))
    try:
        huey.enqueue(task)
    except Exception as exc:
        update_job(job_id, status=JobStatus.failed, finished_at=utcnow(), error=f"could not queue the job: {exc}")
        raise
    return job_id


def cancel(job_id: str) -> Job:
    """Cancel a job: a queued one never runs; a running one is asked to stop (the worker ends
    its child process within about a second and marks it cancelled); a finished one is
    returned unchanged."""
    job = get_job(job_id)
    if update_job(job_id, only_if=[JobStatus.queued], status=JobStatus.cancelled, finished_at=utcnow()):
        if job.queue_task_id:
            try:  # spares the worker a wake-up; the status alone already keeps the job from running
                get_huey().revoke_by_id(job.queue_task_id, revoke_once=True)
            except Exception as exc:  # noqa: BLE001 (queue unreachable: the cancel still holds)
                log.warning("job %s cancelled, but its queue entry could not be revoked: %s", job_id, exc)
    else:
        update_job(job_id, only_if=[JobStatus.running], cancel_requested=True)
    return get_job(job_id)


def retry(job_id: str) -> str:
    """Queue a finished (failed / cancelled / succeeded) job again with the same kind and
    params; the new job's id. Training jobs keep their ``run_id``, so they resume from the
    run's last checkpoint."""
    job = get_job(job_id)
    if not JobStatus(job.status).finished:
        raise InvalidInput(f"job {job_id} is still {job.status}; cancel it first or wait for it to end")
    return enqueue(job.kind, dict(job.params))


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


# --- job bodies -------------------------------------------------------------------------


class JobContext:
    """What a job body gets: its ``job_id`` and ``params``, and ``progress`` / ``log`` that
    write to the job's row. Progress writes are throttled to one per
    :data:`PROGRESS_INTERVAL_S`; the final one (fraction 1) and the latest value after a
    burst are always written (the latter by a timer), so the row never lags behind."""

    def __init__(self, job_id: str, params: dict[str, Any]) -> None:
        self.job_id = job_id
        self.params = params
        self.last_progress = 0.0
        self.last_message = ""
        self._last_write = float("-inf")
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def progress(self, fraction: float, message: str = "") -> None:
        """Report ``fraction`` done in [0, 1] with a short message (a ``ProgressFn``)."""
        with self._lock:
            self.last_progress = min(max(float(fraction), 0.0), 1.0)
            self.last_message = message
            wait_s = self._last_write + PROGRESS_INTERVAL_S - time.monotonic()
            if self.last_progress < 1.0 and wait_s > 0:
                if self._timer is None:
                    self._timer = threading.Timer(wait_s, self._flush)
                    self._timer.daemon = True
                    self._timer.start()
                return
        self._flush()

    def _flush(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._last_write = time.monotonic()
            update_job(self.job_id, only_if=[JobStatus.running], progress=self.last_progress, message=self.last_message)

    def log(self, line: str) -> None:
        """Append a line to the job's log (also printed to the child's log file)."""
        print(line, flush=True)
        append_log(self.job_id, line)
