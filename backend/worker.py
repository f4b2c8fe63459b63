"""Worker processes (``studio worker``): check the shared store, recover orphaned jobs, then
consume the queue's lanes, heartbeating.

One process consumes some of the lanes (``studio.jobs.queue.LANES``: "gpu" for model work,
"cpu" for the rest, "multi" for runs on several GPUs) with a few threads each; every job still
runs in its own child process (``backend.tasks``). ``studio worker --gpus 0,1,2,3`` starts one
process per GPU on the gpu lane with that GPU pinned (``CUDA_VISIBLE_DEVICES``: each sees one
GPU, as ``cuda:0``), ``--cpu N`` one process with N threads on the cpu lane and
``--multi-gpu`` one unpinned process on the multi lane (:func:`plan_processes`); plain
``studio worker`` runs every lane in one process (a machine without GPUs runs model work on
its CPU).

Stopping: SIGINT (Ctrl-C) waits for running jobs to finish (a second Ctrl-C stops now);
SIGTERM stops now. Jobs stopped with the worker go back on the queue (another worker, or this
one restarted, continues them), never left "running".
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO

from backend.heartbeat import Heartbeat
from backend.tasks import child_alive, orphan_reason, run_job, set_worker_id, stop_running_jobs
from studio.errors import StudioError
from studio.jobs import get_huey, list_jobs, set_task_runner
from studio.jobs.queue import LANES, requeue
from studio.tables import JobStatus, utcnow

log = logging.getLogger(__name__)

# A running job without a child pid is given this long (its worker may be between marking
# it running and starting the child) before it counts as orphaned.
NO_PID_GRACE = timedelta(seconds=10)
MAX_POLL_DELAY_S = 1.0  # longest wait between two looks at an idle SQLite queue
STORE_SAMPLE = 8  # stored images checked at start: a worker must see the shared store


def recover_orphans() -> list[str]:
    """Requeue every job running on this host whose child process is gone (or that never got
    one): its worker died; the ids of the jobs requeued. Jobs of other hosts are left to their
    heartbeat (``backend.heartbeat.reap``)."""
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
        if requeue(job.id, orphan_reason(job.worker_pid, host), attempt=job.attempts):
            log.warning("job %s (%s) was orphaned: back on the queue", job.id, job.kind)
            recovered.append(job.id)
    return recovered


def check_store() -> None:
    """StudioError, with the reason, unless this process can write the data and model folders
    and sees the stored images the database names (all workers and the app must share them)."""
    from sqlmodel import func, select

    from studio.config import get_settings
    from studio.datasets import resolve_stored_path
    from studio.db import session_scope
    from studio.tables import Image

    settings = get_settings()
    for folder in (settings.data_dir, settings.models_dir):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / f".worker-probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise StudioError(f"this worker cannot write {folder} ({exc}); every worker needs the shared data and "
                              "model folders (STUDIO_DATA_DIR, STUDIO_MODELS_DIR)") from None
    with session_scope() as session:
        stored = session.exec(select(Image.stored_path).order_by(func.random()).limit(STORE_SAMPLE)).all()
    missing = [p for p in stored if not resolve_stored_path(p).is_file()]
    if stored and len(missing) == len(stored):
        raise StudioError(f"this worker cannot see the image store: none of {len(stored)} sampled images exists "
                          f"under {settings.data_dir} (e.g. {missing[0]}); mount the shared data folder there or "
                          "set STUDIO_DATA_DIR to it")


def _devices() -> str:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return f"cuda (CUDA_VISIBLE_DEVICES={visible})" if visible else "auto"


def run_worker(workers: int = 2, lanes: tuple[str, ...] = LANES) -> None:
    """Check the store, recover orphans, then consume ``lanes`` (``workers`` threads on the cpu
    lane, one on the gpu lane) with a heartbeat until signalled (from the main thread: the
    consumer installs signal handlers)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    unknown = [lane for lane in lanes if lane not in LANES]
    if not lanes or unknown:
        raise StudioError(f"worker lanes {list(lanes)}: expected some of {', '.join(LANES)}")
    check_store()
    recover_orphans()
    heartbeat = Heartbeat(tuple(lanes), _devices()).start()
    set_worker_id(heartbeat.worker_id)
    set_task_runner(run_job)
    consumers = [get_huey(lane=lane).create_consumer(workers=workers if lane == "cpu" or len(lanes) == 1 else 1,
                                                     worker_type="thread", periodic=False,
                                                     max_delay=MAX_POLL_DELAY_S)
                 for lane in lanes]
    log.info("worker %s on %s: lanes %s, %s", heartbeat.worker_id[:8], socket.gethostname(), ", ".join(lanes),
             type(get_huey(lane=lanes[0]).storage).__name__)
    try:
        for consumer in consumers[1:]:
            consumer.start()  # threads only; the main consumer below owns the signals
        consumers[0].run()
    finally:
        graceful = bool(getattr(consumers[0], "_graceful", False))  # SIGINT: let running jobs finish
        for consumer in consumers[1:]:
            consumer.stop(graceful=graceful)
        stop_running_jobs()
        heartbeat.stop()


@dataclass(frozen=True)
class WorkerProcess:
    """One process ``studio worker`` starts: its lanes, threads and pinned GPU (if any)."""

    lanes: tuple[str, ...]
    threads: int
    gpu: str | None = None  # the CUDA_VISIBLE_DEVICES value


def plan_processes(gpus: str | None, cpu: int | None, threads: int = 2, multi_gpu: bool = False) -> list[WorkerProcess]:
    """The processes for ``--gpus 0,1`` (one per GPU, gpu lane, one thread each), ``--cpu N``
    (cpu lane, N threads) and ``--multi-gpu`` (multi lane, unpinned, one run at a time); none of
    them: one process on every lane with ``threads`` threads on the cpu lane."""
    plan: list[WorkerProcess] = []
    if multi_gpu:
        plan.append(WorkerProcess(("multi",), 1))
    if gpus:
        ids = [g.strip() for g in gpus.split(",") if g.strip()]
        if not ids or len(set(ids)) != len(ids) or not all(g.isdigit() for g in ids):
            raise StudioError(f"--gpus {gpus!r}: expected distinct GPU numbers such as 0,1,2,3")
        plan.extend(WorkerProcess(("gpu",), 1, g) for g in ids)
    if cpu is not None:
        if cpu < 1:
            raise StudioError(f"--cpu {cpu}: expected a positive number of threads")
        plan.append(WorkerProcess(("cpu",), cpu))
    return plan or [WorkerProcess(LANES, threads)]


def worker_command(process: WorkerProcess) -> list[str]:
    """The command line of one planned worker process."""
    return [sys.executable, "-c",
            f"from backend.worker import run_worker; run_worker({int(process.threads)}, {tuple(process.lanes)!r})"]


def worker_env(process: WorkerProcess, env: dict[str, str] | None = None) -> dict[str, str]:
    out = dict(os.environ if env is None else env)
    if process.gpu is not None:
        out["CUDA_VISIBLE_DEVICES"] = process.gpu
    return out


def spawn_worker(
    workers: int = 2, *, env: dict[str, str] | None = None, log_file: Path | None = None,
    lanes: tuple[str, ...] = LANES,
) -> subprocess.Popen[bytes]:
    """Start ``run_worker(workers, lanes)`` in a new process (tests, smoke runs) with ``env``
    (default: this one's), output appended to ``log_file``; stop it with ``terminate()``
    (SIGTERM: running jobs are stopped and put back on the queue)."""
    command = worker_command(WorkerProcess(tuple(lanes), workers))

    def start(out: IO[bytes] | int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            command, env=dict(os.environ if env is None else env), stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT,
        )

    if log_file is None:
        return start(subprocess.DEVNULL)
    with log_file.open("ab") as out:
        return start(out)
