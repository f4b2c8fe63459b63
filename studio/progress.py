"""Progress reporting shared by the CLI (tqdm), the worker (jobs table) and tests."""

from __future__ import annotations

from collections.abc import Callable

# fraction done in [0, 1], and a short human message ("copied 120/1000 images")
ProgressFn = Callable[[float, str], None]


def null_progress(_fraction: float, _message: str) -> None:
    """A progress callback that ignores everything."""


def scaled(progress: ProgressFn, start: float, end: float) -> ProgressFn:
    """Map a sub-step's 0..1 onto ``start..end`` of the caller's progress."""

    def report(fraction: float, message: str) -> None:
        progress(start + (end - start) * min(max(fraction, 0.0), 1.0), message)

    return report
