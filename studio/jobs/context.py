"""What a running job reports through: progress, log lines, and whether it should stop.

``JobContext`` is what ``JobSpec.run`` gets. Two kinds exist: :class:`RowContext` writes to the
job's row (a queued job on a worker, or the inline queue), :class:`LocalContext` forwards to
callbacks (``--here`` in a terminal: a tqdm bar). A body never needs to know which.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from studio.progress import ProgressFn, null_progress

PROGRESS_INTERVAL_S = 0.2  # RowContext.progress writes at most ~5 rows per second


class JobContext:
    """Reporting for one run of a job (see the module docstring)."""

    job_id: str | None = None  # the job row's id; None when running here without a row

    def __init__(self) -> None:
        self.stop_event = threading.Event()  # set on cancel (SIGTERM in a worker's child)
        self.last_progress = 0.0
        self.last_message = ""

    def progress(self, fraction: float, message: str = "") -> None:
        """Report ``fraction`` done in [0, 1] with a short message (a ``ProgressFn``)."""
        self.last_progress = min(max(float(fraction), 0.0), 1.0)
        self.last_message = message

    def log(self, line: str) -> None:
        """A line of the job's log."""
        print(line, flush=True)

    def should_stop(self) -> bool:
        """True once the job was asked to stop: long loops check it between steps."""
        return self.stop_event.is_set()


class LocalContext(JobContext):
    """A job run here: progress and log lines go to callbacks (``--here``: a tqdm bar)."""

    def __init__(self, progress: ProgressFn = null_progress, log: Callable[[str], None] | None = None) -> None:
        super().__init__()
        self._progress = progress
        self._log = log

    def progress(self, fraction: float, message: str = "") -> None:
        super().progress(fraction, message)
        self._progress(self.last_progress, message)

    def log(self, line: str) -> None:
        if self._log is not None:
            self._log(line)


class RowContext(JobContext):
    """A queued job's reporting into its row. Progress writes are throttled to one per
    :data:`PROGRESS_INTERVAL_S`; the final one (fraction 1) and the latest value after a
    burst are always written (the latter by a timer), so the row never lags behind."""

    def __init__(self, job_id: str, attempt: int | None = None) -> None:
        super().__init__()
        self.job_id = job_id
        self.attempt = attempt  # writes only while the job is on this attempt (None: any)
        self._last_write = float("-inf")
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def progress(self, fraction: float, message: str = "") -> None:
        with self._lock:
            JobContext.progress(self, fraction, message)
            wait_s = self._last_write + PROGRESS_INTERVAL_S - time.monotonic()
            if self.last_progress < 1.0 and wait_s > 0:
                if self._timer is None:
                    self._timer = threading.Timer(wait_s, self._flush)
                    self._timer.daemon = True
                    self._timer.start()
                return
        self._flush()

    def _flush(self) -> None:
        from studio.jobs.rows import update_job
        from studio.tables import JobStatus

        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._last_write = time.monotonic()
            assert self.job_id is not None
            update_job(self.job_id, only_if=[JobStatus.running], attempt=self.attempt, progress=self.last_progress,
                       message=self.last_message)

    def log(self, line: str) -> None:
        """Append a line to the job's log (also printed to the child's log file)."""
        from studio.jobs.rows import append_log

        print(line, flush=True)
        assert self.job_id is not None
        append_log(self.job_id, line)
