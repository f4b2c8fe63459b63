"""Child processes that end when their owner ends: ``studio serve``, test fixtures and
benchmarks start servers and workers through :class:`ChildProcesses`.

Each child starts in its own session (so its process group holds it and anything it
spawns); stopping sends SIGTERM to every group, waits up to ``grace`` seconds in all, then
SIGKILLs whatever is left. The owner stops its children on normal exit, on an exception, and
(with :meth:`ChildProcesses.stop_on_signals`) on SIGTERM / SIGINT / SIGHUP, so no child
outlives it as an orphan.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence
from types import FrameType
from typing import IO, Any

STOP_GRACE_S = 10.0  # SIGTERM, then SIGKILL after this long (all children together)


class ChildProcesses:
    """A set of child processes stopped together (see the module docstring)::

        with ChildProcesses() as children:
            children.stop_on_signals()
            app = children.start([sys.executable, "-m", "streamlit", "run", "server.py"])
            app.wait()
    """

    def __init__(self, grace: float = STOP_GRACE_S) -> None:
        self.grace = grace
        self.processes: list[subprocess.Popen[Any]] = []
        self._previous: dict[int, Any] = {}

    def start(self, command: Sequence[str], *, env: dict[str, str] | None = None, cwd: str | os.PathLike | None = None,
              stdout: IO[Any] | int | None = None) -> subprocess.Popen[Any]:
        """Start ``command`` in its own session (process group); stdin is closed."""
        process = subprocess.Popen(list(command), env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=stdout,
                                   stderr=subprocess.STDOUT if stdout is not None else None, start_new_session=True)
        self.processes.append(process)
        return process

    def stop(self) -> None:
        """SIGTERM every child's group, wait (bounded), SIGKILL the groups still alive; reaps all."""
        for process in self.processes:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for process in self.processes:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.05))
            except subprocess.TimeoutExpired:
                pass
        for process in self.processes:
            _signal_group(process, signal.SIGKILL)  # also helpers a child left in its group
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:  # pragma: no cover (a process in uninterruptible sleep)
                pass

    def stop_on_signals(self, signals: Sequence[int] = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)) -> None:
        """Turn these signals into ``SystemExit`` in the owner (main thread only), so its
        ``with`` block unwinds and stops the children; the old handlers come back on exit."""
        def handler(signum: int, _frame: FrameType | None) -> None:
            raise SystemExit(128 + signum)

        for sig in signals:
            self._previous[sig] = signal.signal(sig, handler)

    def __enter__(self) -> ChildProcesses:
        return self

    def __exit__(self, *_exc: object) -> None:
        try:
            self.stop()
        finally:
            for sig, previous in self._previous.items():
                signal.signal(sig, previous)
            self._previous.clear()


def _signal_group(process: subprocess.Popen[Any], sig: int) -> None:
    try:
        os.killpg(process.pid, sig)  # the child leads its own group (start_new_session)
    except (ProcessLookupError, PermissionError):
        pass


__all__ = ["STOP_GRACE_S", "ChildProcesses"]
