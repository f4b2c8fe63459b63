"""What the worker does with one job: run its body in a child process and supervise it.

Task registration: the huey task itself is declared by ``studio.jobs.make_huey`` on every
huey instance it builds (``get_huey()`` in both the enqueuing process and the consumer, so
they agree on the name and the queue URL). Its body calls the task runner the worker
installs at start (``studio.jobs.set_task_runner(run_job)`` in ``backend.worker``). So
``studio`` never imports ``backend``, ``backend`` imports ``studio`` freely, and there is no
cycle and no module-level huey instance bound to a stale URL.

:func:`run_job` starts ``python -m backend.child JOB_ID`` in its own session (so a cancel
can stop the body and anything it spawned, and a Ctrl-C in the worker's terminal does not
reach it), appends its output to ``<jobs_dir>/<job_id>.log`` and polls every
:data:`POLL_S` for its exit or a cancel request.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import psutil
from sqlmodel import col, select

from studio.config import get_settings
from studio.db import session_scope
from studio.jobs import finish_job, get_job, update_job
from studio.jobs.queue import requeue
from studio.tables import Job, JobStatus, utcnow

log = logging.getLogger(__name__)

POLL_S = 0.2  # how often a running job's child and cancel flag are checked
TERM_GRACE_S = 3.0  # SIGTERM, then SIGKILL after this long
WORKER_PID_ENV = "STUDIO_WORKER_PID"  # the worker's pid, given to the child: it must not outlive it
LOG_TAIL_LINES = 20  # lines of the child's log quoted in the error of a crashed job

_shutdown = threading.Event()  # set by stop_running_jobs(): supervisors hand over and return
_children: dict[str, tuple[subprocess.Popen[bytes], int]] = {}  # job id -> (running child, its attempt)
_worker_id: str | None = None  # this process's Worker row (set_worker_id)
_children_lock = threading.Lock()


def orphan_reason(pid: int | None, host: str) -> str:
    """Why a job whose worker went away while it ran is put back on the queue (or failed,
    after ``studio.jobs.queue.MAX_ATTEMPTS`` attempts)."""
    return f"worker stopped while the job was running (pid {pid} on {host})"


def child_alive(pid: int, job_id: str) -> bool:
    """Whether ``pid`` is (still) the child process running ``job_id`` (a reused pid is not)."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return job_id in process.cmdline()
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def log_path(job_id: str) -> Path:
    """The file the job's child process writes its stdout/stderr to."""
    return get_settings().jobs_dir / f"{job_id}.log"


def claim(job_id: str, worker_id: str | None) -> int | None:
    """Mark a queued job running for this worker as its next attempt (compare-and-set); the
    attempt number, or None when the job is no longer queued (cancelled, or taken)."""
    if not update_job(job_id, only_if=[JobStatus.queued], status=JobStatus.running, started_at=utcnow(),
                      worker_host=socket.gethostname(), worker_id=worker_id, worker_pid=None,
                      attempts=col(Job.attempts) + 1):
        return None
    return get_job(job_id).attempts


def run_job(job_id: str) -> None:
    """Run a queued job to its end (the huey task body; see the module docstring)."""
    host = socket.gethostname()
    attempt = claim(job_id, _worker_id)
    if attempt is None:
        log.info("job %s is no longer queued (cancelled?); skipped", job_id)
        return
    path = log_path(job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("ab") as out:
            out.write(f"=== {utcnow().isoformat()} job {job_id} attempt {attempt} on {host} "
                      f"(worker pid {os.getpid()})\n".encode())
            out.flush()
            child = subprocess.Popen(
                [sys.executable, "-m", "backend.child", job_id],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, WORKER_PID_ENV: str(os.getpid())},
            )
    except OSError as exc:
        finish_job(job_id, JobStatus.failed, attempt=attempt, error=f"could not start the job's process: {exc}")
        return
    update_job(job_id, attempt=attempt, worker_pid=child.pid)
    log.info("job %s: attempt %d, child pid %d, log %s", job_id, attempt, child.pid, path)
    with _children_lock:
        _children[job_id] = (child, attempt)
    try:
        _supervise(job_id, attempt, child, path)
    finally:
        with _children_lock:
            _children.pop(job_id, None)


def _supervise(job_id: str, attempt: int, child: subprocess.Popen[bytes], path: Path) -> None:
    """Wait for the child to exit, stopping it on a cancel request; record what the child did not."""
    while True:
        try:
            returncode = child.wait(timeout=POLL_S)
            break
        except subprocess.TimeoutExpired:
            pass
        if _shutdown.is_set():
            return  # stop_running_jobs() stops the child and records the job
        if _cancel_requested(job_id):
            stop_process(child)
            finish_job(job_id, JobStatus.cancelled, attempt=attempt, message="cancelled")
            log.info("job %s cancelled", job_id)
            return
    if _shutdown.is_set():
        # Set before stop_running_jobs() signals the child: an exit seen now is (or may be)
        # that stop, which records the job with its own reason. Recording it here would race.
        return
    if not JobStatus(get_job(job_id).status).finished:
        finish_job(
            job_id,
            JobStatus.failed,
            attempt=attempt,
            error=f"the job's process exited with code {returncode} without recording a result; "
            f"last lines of {path}:\n{_tail(path)}",
        )
    log.info("job %s: child exited with code %d", job_id, returncode)


def _cancel_requested(job_id: str) -> bool:
    with session_scope() as session:
        return bool(session.exec(select(Job.cancel_requested).where(col(Job.id) == job_id)).first())


def stop_process(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM the child's process group, SIGKILL it after :data:`TERM_GRACE_S`; reaps the child."""
    for sig, grace in ((signal.SIGTERM, TERM_GRACE_S), (signal.SIGKILL, None)):
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            pass
        try:
            child.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def stop_running_jobs() -> None:
    """On worker shutdown: stop every child this process runs and put its job back on the
    queue (another worker, or this one restarted, continues it; training from ``last.pt``)."""
    host = socket.gethostname()
    with _children_lock:  # before the flag: a supervisor that sees it has its child listed here
        running = list(_children.items())
    _shutdown.set()
    for job_id, (child, attempt) in running:
        stop_process(child)
        requeue(job_id, orphan_reason(child.pid, host), attempt=attempt)
        log.warning("job %s stopped with the worker: back on the queue", job_id)


def set_worker_id(worker_id: str | None) -> None:
    """The ``Worker`` row of this process (backend.heartbeat), recorded on the jobs it claims."""
    global _worker_id
    _worker_id = worker_id


def _tail(path: Path, lines: int = LOG_TAIL_LINES, max_bytes: int = 16_384) -> str:
    """The last ``lines`` lines of a (possibly large) text file."""
    try:
        with path.open("rb") as f:
            f.seek(max(f.seek(0, os.SEEK_END) - max_bytes, 0))
            text = f.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(log unreadable: {exc})"
    return "\n".join(text.splitlines()[-lines:])
