"""Fixtures of the worker tests: an isolated studio (tests/conftest.py's ``studio_env``,
SQLite database and queue) and real worker processes started and stopped on demand."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

WorkerFactory = Callable[[], subprocess.Popen[bytes]]


@pytest.fixture
def start_worker(studio_env: dict[str, str], tmp_path: Path) -> Iterator[WorkerFactory]:
    """Start real worker processes (2 threads each) on this test's studio; all are stopped
    (SIGTERM, then SIGKILL) at teardown and their log is printed (shown on failure)."""
    from backend.worker import spawn_worker

    log_file = tmp_path / "worker.log"
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        started.append(spawn_worker(2, log_file=log_file))
        return started[-1]

    yield start
    for process in started:
        process.terminate()
    for process in started:
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if log_file.exists():
        print(log_file.read_text()[-6000:])

