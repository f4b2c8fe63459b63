"""Helpers the command modules share with ``studio.cli`` (progress bars, JSON, queueing)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from studio.progress import ProgressFn


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


def ensure_db() -> None:
    """Create or upgrade the database before a command touches it."""
    from studio.db import migrate

    migrate()


def enqueue_and_tell(kind: str, params: dict[str, Any]) -> str:
    """Queue a job for the worker, print how to follow it, return its id."""
    from studio.jobs import enqueue

    job_id = enqueue(kind, params)
    typer.echo(f"queued job {job_id} ({kind}); follow it with `studio jobs show {job_id}`")
    return job_id
