"""``python -m backend.child JOB_ID``: run one job's body and record how it ended.

Started by the worker (``backend.tasks.run_job``); can also be run by hand to debug a job
(it then runs whatever the job's status, and only records if the job is running).
Exit status: 0 succeeded, 1 the body failed, 2 no such job.

When started by a worker (``STUDIO_WORKER_PID`` set), a watchdog thread ends this process
(and its process group) if that worker dies, after marking the job failed: a killed worker
never leaves a body running unsupervised.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
import traceback

from sqlmodel import col

from backend.kinds import get_body
from backend.tasks import POLL_S, WORKER_PID_ENV, orphan_reason
from studio.errors import NotFound, StudioError
from studio.jobs import JobContext, finish_job, get_job
from studio.tables import Job, JobStatus


def run(job_id: str) -> int:
    """Run job ``job_id``'s body in this process; the exit status (see the module docstring)."""
    try:
        job = get_job(job_id)
    except NotFound as exc:
        print(exc, file=sys.stderr)
        return 2
    ctx = JobContext(job.id, job.params)
    try:
        result = get_body(job.kind)(ctx)
        if result is not None and not isinstance(result, dict):
            raise TypeError(f"a job body returns a dict or None, got {type(result).__name__}")
        json.dumps(result)  # the result column is JSON: refuse anything else here, not at commit
    except Exception as exc:
        trace = traceback.format_exc()
        sys.stderr.write(trace)
        reason = str(exc) if isinstance(exc, StudioError) else f"{type(exc).__name__}: {exc}"
        if get_job(job_id).cancel_requested:  # the body stopped because it was asked to
            finish_job(job_id, JobStatus.cancelled, message=f"cancelled: {reason.splitlines()[0] if reason else ''}")
            return 1
        finish_job(job_id, JobStatus.failed, error=reason.splitlines()[0] if reason else type(exc).__name__,
                   log=col(Job.log) + trace)
        return 1
    finish_job(job_id, JobStatus.succeeded, result=result, progress=1.0, message=ctx.last_message or "done")
    return 0


def _watch_worker(job_id: str, worker_pid: int) -> None:
    """Mark the job failed and end this process group as soon as ``worker_pid`` is gone."""

    def watch() -> None:
        while os.getppid() == worker_pid:
            time.sleep(POLL_S)
        finish_job(job_id, JobStatus.failed, error=orphan_reason(os.getpid(), socket.gethostname()))
        print(f"worker {worker_pid} is gone: stopping", file=sys.stderr, flush=True)
        if os.getpgrp() == os.getpid():  # own session (as the worker starts us): take helpers too
            os.killpg(os.getpid(), signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="watch-worker", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m backend.child JOB_ID", file=sys.stderr)
        return 2
    if worker_pid := os.environ.get(WORKER_PID_ENV):
        _watch_worker(args[0], int(worker_pid))
    return run(args[0])


if __name__ == "__main__":
    sys.exit(main())
