"""Helpers the command modules share with ``studio.cli``: progress bars, JSON, and where a job
runs (:func:`run_or_queue`, the one convention of every job command)."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Literal, TypeVar

import typer

from studio.errors import StudioError
from studio.jobs.spec import JobSpec
from studio.progress import ProgressFn

if TYPE_CHECKING:
    from studio.tables import Job

R = TypeVar("R")


@contextmanager
def tqdm_progress(desc: str) -> Iterator[ProgressFn]:
    """A ProgressFn drawing a tqdm bar in percent. The bar appears on the first report, so
    work refused up front prints only its one-line reason."""
    from tqdm import tqdm

    bars: list[tqdm] = []

    def report(fraction: float, message: str) -> None:
        if not bars:
            bars.append(tqdm(total=100, desc=desc, unit="%", bar_format="{l_bar}{bar}| {postfix}"))
        bars[0].n = round(100 * fraction)
        bars[0].set_postfix_str(message[:60], refresh=True)

    try:
        yield report
    finally:
        if bars:
            bars[0].close()


def print_json(obj: object) -> None:
    """Print a dataclass / dict as indented JSON (Paths and datetimes as strings)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    typer.echo(json.dumps(obj, indent=2, default=str))


def ensure_db(create: bool = False) -> None:
    """Upgrade the database before a command touches it. Only ``create=True`` (``studio init``,
    ``studio demo``) creates a missing one; every other command stops with where the studio
    looked and how to point it elsewhere (``studio.db.open_database``)."""
    from studio.db import open_database

    open_database(create=create)


# ---- where a job runs: one convention for every job command --------------------------

HereOpt = Annotated[bool, typer.Option("--here", help="run in this terminal with a progress bar, not on a worker")]
QueueOpt = Annotated[bool, typer.Option("--queue", help="queue a job for the worker and return")]
WaitOpt = Annotated[bool, typer.Option("--wait", help="queue a job for the worker and follow it to its end")]
TimeoutOpt = Annotated[float, typer.Option(help="seconds --wait follows the job (it keeps running after)")]
Where = Literal["here", "queue"]


def enqueue_and_tell(spec: JobSpec) -> str:
    """Queue ``spec`` for the worker, print how to follow it, return the job's id."""
    from studio.jobs import enqueue

    job_id = enqueue(spec)
    typer.echo(f"queued job {job_id} ({spec.describe()}); follow it with `studio jobs show {job_id}`")
    return job_id


def follow(job_id: str, desc: str, timeout: float = float("inf")) -> Job:
    """Follow a job with a progress bar until it ends; the finished row. StudioError when it did
    not succeed; TimeoutError after ``timeout`` seconds (the job keeps running)."""
    from studio.jobs import get_job
    from studio.tables import JobStatus

    deadline = time.monotonic() + timeout
    with tqdm_progress(desc) as progress:
        while True:
            job = get_job(job_id)
            progress(job.progress, job.message or job.status)
            if JobStatus(job.status).finished:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job.status} after {timeout:g} s; it keeps running "
                                   f"(`studio jobs show {job_id}`)")
            time.sleep(0.5)
    if job.status != JobStatus.succeeded.value:
        raise StudioError(f"job {job_id} {job.status}: {job.error or job.message}")
    return job


def run_or_queue(spec: JobSpec[R], *, here: bool, queue: bool, wait: bool, default: Where,
                 show: Callable[[R], None], timeout: float = float("inf")) -> None:
    """Run ``spec`` the way the flags say (at most one of ``--here`` / ``--queue`` / ``--wait``;
    none: ``default``): here with a progress bar, queued, or queued and followed; ``show``
    prints the typed result (not called for a plain ``--queue``)."""
    chosen = [name for name, on in (("--here", here), ("--queue", queue), ("--wait", wait)) if on]
    if len(chosen) > 1:
        raise typer.BadParameter(f"{' and '.join(chosen)} exclude each other: --here runs in this terminal, "
                                 "--queue queues a job, --wait queues it and follows it")
    mode = chosen[0][2:] if chosen else default
    if mode == "here":
        from studio.jobs import run_here

        with tqdm_progress(spec.kind) as progress:
            result = run_here(spec, progress, log=lambda line: None)
        show(result)
        return
    job_id = enqueue_and_tell(spec)
    if mode == "wait":
        from studio.jobs import job_result

        job = follow(job_id, spec.kind, timeout)
        show(job_result(job, type(spec)))  # type: ignore[arg-type]
