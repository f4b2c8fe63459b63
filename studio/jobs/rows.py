"""The ``job`` table: read rows, and change them with short compare-and-set transactions.

Every write is one short transaction (SQLite WAL is shared with the worker and its child
processes); state changes are compare-and-set (``UPDATE ... WHERE status``) so a cancel and
a worker starting the same job cannot both win.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from studio.db import get_row, session_scope
from studio.errors import InvalidInput
from studio.tables import Job, JobStatus, utcnow


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


def update_job(job_id: str, *, only_if: Iterable[JobStatus] | None = None, attempt: int | None = None,
               **values: Any) -> bool:
    """Set columns of one job in one transaction; with ``only_if``, only while its status is
    one of those, with ``attempt`` only while that is its attempt (compare-and-set: a lost
    attempt of a requeued job cannot write over the next one). True if the row was changed."""
    values = {k: (v.value if isinstance(v, JobStatus) else v) for k, v in values.items()}
    statement = update(Job).where(col(Job.id) == job_id).values(**values)
    if only_if is not None:
        statement = statement.where(col(Job.status).in_([JobStatus(s).value for s in only_if]))
    if attempt is not None:
        statement = statement.where(col(Job.attempts) == attempt)
    with session_scope() as session:
        return session.exec(statement).rowcount == 1


def finish_job(job_id: str, status: JobStatus, *, attempt: int | None = None, **values: Any) -> bool:
    """Move a running job (of ``attempt``, if given) to a final ``status`` (with ``finished_at``);
    False if it was not running (or is on another attempt)."""
    return update_job(job_id, only_if=[JobStatus.running], attempt=attempt, status=status, finished_at=utcnow(),
                      **values)


def append_log(job_id: str, text: str) -> None:
    """Append ``text`` (a newline is added when missing) to the job's ``log`` column."""
    if not text.endswith("\n"):
        text += "\n"
    update_job(job_id, log=col(Job.log) + text)
