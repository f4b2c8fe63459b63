"""``python -m backend.child JOB_ID``: run one job's spec and record how it ended.

Started by the worker (``backend.tasks.run_job``); can also be run by hand to debug a job
(it then runs whatever the job's status, and only records if the job is running).
Exit status: 0 succeeded, 1 the job failed or was cancelled, 2 no such job. SIGTERM (the
worker's cancel) sets the job context's stop flag: long jobs stop at their next step.

When started by a worker (``STUDIO_WORKER_PID`` set), a watchdog thread ends this process
(and its process group) if that worker dies, after putting the job back on the queue: a
killed worker never leaves a body running unsupervised, nor its job stuck "running".
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time

from backend.tasks import POLL_S, WORKER_PID_ENV, orphan_reason
from studio.errors import NotFound, StudioError
from studio.jobs import RowContext, execute, get_job
from studio.jobs.queue import requeue
from studio.jobs.spec import spec_class


def run(job_id: str) -> int:
    """Run job ``job_id`` in this process; the exit status (see the module docstring)."""
    try:
        job = get_job(job_id)
    except NotFound as exc:
        print(exc, file=sys.stderr)
        return 2
    ctx = RowContext(job_id)
    try:
        cooperative = spec_class(job.kind).stops_cooperatively
    except StudioError:
        cooperative = False  # an unknown kind: execute() records the error
    if cooperative:  # else SIGTERM keeps its default: the process ends at once
        signal.signal(signal.SIGTERM, lambda *_: ctx.stop_event.set())
    return execute(job_id, ctx)


def _watch_worker(job_id: str, worker_pid: int) -> None:
    """Requeue the job and end this process group as soon as ``worker_pid`` is gone."""
    attempt = get_job(job_id).attempts

    def watch() -> None:
        while os.getppid() == worker_pid:
            time.sleep(POLL_S)
        requeue(job_id, orphan_reason(worker_pid, socket.gethostname()), attempt=attempt)
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
