"""Processes the studio starts end when their owner ends (studio.processes, `studio serve`):
real subprocesses, real signals, and every descendant checked with psutil."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import REPO, studio_env_vars
from tests.e2e.conftest import _free_port, _wait_http

STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)   # ignores the polite stop
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])  # and leaves a grandchild
print("ready", flush=True)
time.sleep(600)
"""


def _gone(pids: list[int], timeout: float) -> list[int]:
    """The pids of ``pids`` still alive after ``timeout`` seconds (zombies count as gone)."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def test_children_that_ignore_sigterm_are_killed_with_their_helpers() -> None:
    from studio.processes import ChildProcesses

    with ChildProcesses(grace=1.0) as children:
        child = children.start([sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE)
        assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
        family = [child.pid] + [p.pid for p in psutil.Process(child.pid).children(recursive=True)]
        assert len(family) == 2
        started = time.monotonic()
    assert _gone(family, 5) == []
    assert time.monotonic() - started < 1.0 + 5  # the grace, then SIGKILL: bounded


@pytest.mark.slow
def test_no_child_outlives_studio_serve_stopped_by_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, **studio_env_vars(tmp_path), "PYTHONUNBUFFERED": "1"}
    subprocess.run([sys.executable, "-m", "studio.cli", "init"], env=env, cwd=tmp_path, check=True,
                   capture_output=True)
    port = _free_port()
    serve = subprocess.Popen([sys.executable, "-m", "studio.cli", "serve", "--with-worker", "--port", str(port)],
                             env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_http(f"http://127.0.0.1:{port}", serve)
        deadline = time.monotonic() + 30  # the worker and the app are both up
        while len(psutil.Process(serve.pid).children(recursive=True)) < 2:
            assert time.monotonic() < deadline, "serve did not start its two children"
            time.sleep(0.2)
        family = [p.pid for p in psutil.Process(serve.pid).children(recursive=True)]
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=30) == 128 + signal.SIGTERM
        assert _gone(family, 15) == [], "children of `studio serve` outlived it"
    finally:
        if serve.poll() is None:
            serve.kill()
