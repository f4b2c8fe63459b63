"""A live studio for browser tests: its own database and data, the real worker, the real
Streamlit server on a free loopback port, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from studio.processes import ChildProcesses
from tests.conftest import REPO, studio_env_vars

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@dataclass
class LiveStudio:
    url: str
    env: dict[str, str]
    root: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"streamlit did not answer at {url} within {timeout} s")


@contextmanager
def running_studio(root: Path, *setup: list[str], worker: bool = True, env: dict[str, str] | None = None,
                   demo_images: int = 6) -> Iterator[LiveStudio]:
    """`studio init` + a small demo dataset (``demo_images`` 0: none) + each ``setup`` command
    (`studio ...` arguments) + worker + app on a free port. Each child runs in its own process
    group (``studio serve`` starts Streamlit as its child), and every group is stopped on exit
    (SIGTERM, then SIGKILL after a bounded wait: studio.processes; longer than `studio serve`'s own, so
    it stops Streamlit first): no server outlives the block."""
    root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **studio_env_vars(root), "PYTHONUNBUFFERED": "1", **(env or {})}
    studio = [sys.executable, "-m", "studio.cli"]
    demo = [["demo", "--images", str(demo_images)]] if demo_images else []
    for command in (["init"], *demo, *setup):
        done = subprocess.run([*studio, *command], env=env, cwd=root, capture_output=True, text=True)
        assert done.returncode == 0, f"studio {' '.join(command)}: {done.stderr}"
    port = _free_port()
    logs = root / "logs"
    logs.mkdir(exist_ok=True)
    with ChildProcesses(grace=20) as children, (logs / "worker.log").open("ab") as worker_log, \
            (logs / "app.log").open("ab") as app_log:
        if worker:
            children.start([*studio, "worker"], env=env, cwd=root, stdout=worker_log)
        app = children.start([*studio, "serve", "--port", str(port)], env=env, cwd=REPO, stdout=app_log)
        url = f"http://127.0.0.1:{port}"
        _wait_http(url, app)
        yield LiveStudio(url=url, env=env, root=root)


@pytest.fixture(scope="module")
def live_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStudio]:
    """A running studio on the demo dataset, torn down after the module."""
    with running_studio(tmp_path_factory.mktemp("live")) as studio:
        yield studio


def launch_chromium(playwright, *extra_args: str):  # noqa: ANN001, ANN201 (playwright types)
    """Headless Debian Chromium (never a downloaded browser); skip when it is not installed."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (.ci/run installs it: apt-get install chromium)")
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *extra_args])


@contextmanager
def fake_camera_page(folder: Path, timeout_ms: int = 60_000) -> Iterator[object]:
    """A Chromium page whose webcam plays a generated .y4m of a panning shelf scene (320x240)."""
    from playwright.sync_api import sync_playwright

    from studio.live.video import moving_scene_frames, write_y4m

    y4m = write_y4m(folder / "cam.y4m", moving_scene_frames(40, 320, 240), fps=15)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                                  f"--use-file-for-fake-video-capture={y4m}")
        context = browser.new_context(viewport={"width": 1400, "height": 1100})
        page = context.new_page()
        page.set_default_timeout(timeout_ms)
        try:
            yield page
        finally:
            context.close()
            browser.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless Debian Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = launch_chromium(playwright)
        yield instance
        instance.close()


@pytest.fixture
def page(browser, tmp_path: Path):  # noqa: ANN001, ANN201 (playwright types)
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()
