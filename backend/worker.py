"""The worker process (``studio worker``): recover orphaned jobs, then consume the queue.

Stopping: SIGINT (Ctrl-C) waits for running jobs to finish (a second Ctrl-C stops now);
SIGTERM stops now. Jobs stopped with the worker are marked failed with a reason, never
left "running".
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import IO

from backend.tasks import child_alive, orphan_reason, run_job, stop_running_jobs
from studio.jobs import finish_job, get_huey, list_jobs, set_task_runner
from studio.tables import JobStatus, utcnow

log = logging.getLogger(__name__)

# A running job without a child pid is given this long (its worker may be between marking
# it running and starting the child) before it counts as orphaned.
NO_PID_GRACE = timedelta(seconds=10)
MAX_POLL_DELAY_S = 1.0  # longest wait between two looks at an idle SQLite queue


def recover_orphans() -> list[str]:
    """Mark failed every job running on this host whose child process is gone (or that
    never got one); the ids of the jobs marked. Jobs of other hosts are left alone."""
    host = socket.gethostname()
    recovered = []
    for job in list_jobs(status=JobStatus.running, limit=100_000):
        if job.worker_host != host:
            continue
        if job.worker_pid is None:
            if job.started_at is not None and utcnow() - job.started_at < NO_PID_GRACE:
                continue
        elif child_alive(job.worker_pid, job.id):
            continue
        if finish_job(job.id, JobStatus.failed, error=orphan_reason(job.worker_pid, host)):
            log.warning("job %s (%s) was orphaned: marked failed", job.id, job.kind)
            recovered.append(job.id)
    return recovered


def run_worker(workers: int = 2) -> None:
    """Recover orphans, then run the huey consumer with ``workers`` threads until signalled
    (must be called from the main thread: the consumer installs signal handlers)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    recover_orphans()
    set_task_runner(run_job)
    huey = get_huey()
    consumer = huey.create_consumer(
        workers=workers, worker_type="thread", periodic=False, max_delay=MAX_POLL_DELAY_S
    )
    log.info("worker on %s: %d thread(s), queue %s", socket.gethostname(), workers, type(huey.storage).__name__)
    try:
        consumer.run()
    finally:
        stop_running_jobs()


def spawn_worker(
    workers: int = 2, *, env: dict[str, str] | None = None, log_file: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start ``run_worker(workers)`` in a new process (tests, smoke runs) with ``env`` (default:
    this one's), output appended to ``log_file``; stop it with ``terminate()`` (SIGTERM:
    running jobs are stopped and marked failed)."""
    command = [sys.executable, "-c", f"from backend.worker import run_worker; run_worker({int(workers)})"]

    def start(out: IO[bytes] | int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            command, env=dict(os.environ if env is None else env), stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT,
        )

    if log_file is None:
        return start(subprocess.DEVNULL)
    with log_file.open("ab") as out:
        return start(out)
