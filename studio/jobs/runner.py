"""Running a job's spec: for a stored job (a worker's child process, the inline queue) or here.

:func:`execute` is the one path from a job row to its recorded end: load the typed spec,
run it with a :class:`RowContext`, store the typed result as JSON (or the error, one line,
with the traceback in the log). :func:`run_here` runs a spec in this process without a row
(``--here`` on the command line).
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from typing import TypeVar

from sqlmodel import col

from studio.errors import StudioError
from studio.jobs.context import JobContext, LocalContext, RowContext
from studio.jobs.rows import finish_job, get_job, update_job
from studio.jobs.spec import JobSpec, load_spec, to_json
from studio.progress import ProgressFn, null_progress
from studio.tables import Job, JobStatus, utcnow

R = TypeVar("R")


def execute(job_id: str, ctx: RowContext | None = None) -> int:
    """Run stored job ``job_id`` here and record how it ended: 0 succeeded, 1 failed or
    cancelled. The job must be running (its runner marked it); only the first record wins."""
    ctx = ctx or RowContext(job_id)
    job = get_job(job_id)
    attempt = ctx.attempt = job.attempts  # every write below is fenced to this attempt
    try:
        spec = load_spec(job.kind, job.params)
        result = to_json(spec.run(ctx))
        json.dumps(result)  # the result column is JSON: refuse anything else here, not at commit
    except Exception as exc:
        trace = traceback.format_exc()
        sys.stderr.write(trace)
        reason = str(exc) if isinstance(exc, StudioError) else f"{type(exc).__name__}: {exc}"
        first = reason.splitlines()[0] if reason else type(exc).__name__
        if get_job(job_id).cancel_requested:  # the body stopped because the user asked it to
            finish_job(job_id, JobStatus.cancelled, attempt=attempt, message=f"cancelled: {first}")
            return 1
        if ctx.should_stop():  # stopped by its worker shutting down: the worker records why
            return 1
        finish_job(job_id, JobStatus.failed, attempt=attempt, error=first, log=col(Job.log) + trace)
        return 1
    finish_job(job_id, JobStatus.succeeded, attempt=attempt, result=result, progress=1.0,
               message=ctx.last_message or "done")
    return 0


def run_inline_job(job_id: str) -> int:
    """The inline queue: mark the queued job running and execute it in this process."""
    if not update_job(job_id, only_if=[JobStatus.queued], status=JobStatus.running, started_at=utcnow(),
                      worker_host="inline", attempts=col(Job.attempts) + 1):
        return 1
    return execute(job_id)


def run_here(spec: JobSpec[R], progress: ProgressFn = null_progress,
             log: Callable[[str], None] | None = None, ctx: JobContext | None = None) -> R:
    """Prepare and run ``spec`` in this process, without a job row; its typed result."""
    return spec.prepare().run(ctx or LocalContext(progress, log))


__all__ = ["execute", "run_here", "run_inline_job"]
