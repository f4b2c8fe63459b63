"""Workers heartbeat, and put back on the queue the jobs of workers that stopped beating.

Every worker process registers a ``Worker`` row and updates its ``last_seen`` every
:data:`HEARTBEAT_S`; every :data:`REAP_S` it also looks for running jobs whose worker was not
seen for :func:`dead_after` seconds (``kill -9``, a lost machine) and requeues them
(``studio.jobs.queue.requeue``: compare-and-set on the job's attempt, so two reapers cannot
both win, and the lost attempt's late writes are refused). Clocks of the machines must agree
to within a few seconds (NTP); ``STUDIO_WORKER_TIMEOUT_S`` sets the limit.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import timedelta

from sqlalchemy import delete, update
from sqlmodel import col, select

from studio.config import get_settings
from studio.db import session_scope
from studio.jobs.queue import requeue
from studio.tables import Job, JobStatus, Worker, utcnow

log = logging.getLogger(__name__)

HEARTBEAT_S = 2.0  # how often a worker says it is alive
REAP_S = 3.0  # how often a worker looks for the jobs of dead ones
NO_WORKER_GRACE = timedelta(seconds=30)  # a running job without a worker id (older studios) counts as lost after
FORGET_AFTER = timedelta(days=1)  # worker rows not seen for this long are deleted


def dead_after() -> timedelta:
    """How long a worker may stay silent before its jobs are requeued."""
    return timedelta(seconds=get_settings().worker_timeout_s)


def register(lanes: tuple[str, ...], devices: str) -> str:
    """A new ``Worker`` row for this process; its id."""
    worker_id = uuid.uuid4().hex
    with session_scope() as session:
        session.add(Worker(id=worker_id, host=socket.gethostname(), pid=os.getpid(), lanes=",".join(lanes),
                           devices=devices))
    return worker_id


def beat(worker_id: str) -> None:
    """Mark this worker alive now (re-registering the row if a reaper deleted it)."""
    with session_scope() as session:
        if session.exec(update(Worker).where(col(Worker.id) == worker_id).values(last_seen=utcnow())).rowcount == 0:
            session.add(Worker(id=worker_id, host=socket.gethostname(), pid=os.getpid(), lanes="", devices=""))


def unregister(worker_id: str) -> None:
    with session_scope() as session:
        session.exec(delete(Worker).where(col(Worker.id) == worker_id))


def reap(own_id: str | None = None) -> list[str]:
    """Requeue every running job whose worker is silent for longer than :func:`dead_after` (or
    gone); the ids of the jobs this call requeued (or ended, after too many attempts). The
    caller's own worker (``own_id``) is alive by definition, however late its last beat."""
    now = utcnow()
    with session_scope() as session:
        alive = set(session.exec(select(Worker.id).where(col(Worker.last_seen) >= now - dead_after())).all())
        alive.add(own_id)
        running = session.exec(select(Job.id, Job.worker_id, Job.worker_host, Job.started_at, Job.attempts)
                               .where(Job.status == JobStatus.running.value)).all()
        session.exec(delete(Worker).where(col(Worker.last_seen) < now - FORGET_AFTER))
    changed = []
    for job_id, worker_id, host, started_at, attempt in running:
        if worker_id in alive or host == "inline":
            continue
        if worker_id is None and started_at is not None and now - started_at < NO_WORKER_GRACE:
            continue
        reason = (f"its worker {worker_id[:8] if worker_id else '?'} on {host} stopped answering "
                  f"(no heartbeat for {dead_after().total_seconds():g} s)")
        if requeue(job_id, reason, attempt=attempt):
            log.warning("job %s: %s; requeued", job_id, reason)
            changed.append(job_id)
    return changed


class Heartbeat:
    """The heartbeat and reaper thread of one worker process (``start`` / ``stop``)."""

    def __init__(self, lanes: tuple[str, ...], devices: str) -> None:
        self.worker_id = register(lanes, devices)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def _run(self) -> None:
        since_reap = REAP_S
        while not self._stop.wait(HEARTBEAT_S):
            try:
                beat(self.worker_id)
                since_reap += HEARTBEAT_S
                if since_reap >= REAP_S:
                    since_reap = 0.0
                    reap(self.worker_id)
            except Exception as exc:  # noqa: BLE001 (a database hiccup must not end the heartbeat)
                log.warning("heartbeat: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=HEARTBEAT_S * 2)
        try:
            unregister(self.worker_id)
        except Exception as exc:  # noqa: BLE001
            log.warning("could not unregister worker %s: %s", self.worker_id, exc)
