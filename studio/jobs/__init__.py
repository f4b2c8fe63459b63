"""Jobs: long work as typed specs, queued for workers (huey), recorded in the ``job`` table.

    from studio.jobs import enqueue, wait
    from studio.jobs.kinds import TrainSpec
    job_id = enqueue(TrainSpec(config=config))        # prepare, store, queue
    job = wait(job_id, timeout=600)                    # the row: status, progress, log, result

Modules: ``spec`` (the JobSpec base and JSON conversion), ``kinds`` (every job kind, one
module per feature), ``context`` (what a running job reports through), ``rows`` (the table),
``queue`` (huey, enqueue / cancel / retry / wait), ``runner`` (a row's spec run to its
recorded end, or a spec run here). The worker (``backend/``) supervises child processes
that call ``runner.execute``.
"""

from studio.jobs.context import JobContext, LocalContext, RowContext
from studio.jobs.queue import (INLINE_URL, LANES, MAX_ATTEMPTS, cancel, enqueue, get_huey, job_result, job_spec,
                               make_huey, requeue, retry, set_task_runner, wait)
from studio.jobs.rows import append_log, finish_job, get_job, list_jobs, update_job
from studio.jobs.runner import execute, run_here
from studio.jobs.spec import JobSpec, job_kind, known_kinds, load_spec

__all__ = ["INLINE_URL", "LANES", "MAX_ATTEMPTS", "requeue", "JobContext", "JobSpec", "LocalContext", "RowContext", "append_log", "cancel", "enqueue",
           "execute", "finish_job", "get_huey", "get_job", "job_kind", "job_result", "job_spec", "known_kinds",
           "list_jobs", "load_spec", "make_huey", "retry", "run_here", "set_task_runner", "update_job", "wait"]
