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
from dataclasses import dataclass
from pathlib import Path

import pytest

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


@pytest.fixture(scope="module")
def live_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStudio]:
    """`studio init` + a small demo dataset + worker + app, torn down after the module."""
    root = tmp_path_factory.mktemp("live")
    env = {**os.environ, **studio_env_vars(root), "PYTHONUNBUFFERED": "1"}
    studio = [sys.executable, "-m", "studio.cli"]
    subprocess.run([*studio, "init"], env=env, cwd=root, check=True, capture_output=True)
    subprocess.run([*studio, "demo", "--images", "6"], env=env, cwd=root, check=True, capture_output=True)
    port = _free_port()
    logs = root / "logs"
    logs.mkdir()
    worker = subprocess.Popen([*studio, "worker"], env=env, cwd=root,
                              stdout=open(logs / "worker.log", "wb"), stderr=subprocess.STDOUT)
    app = subprocess.Popen([*studio, "serve", "--port", str(port)], env=env, cwd=REPO,
                           stdout=open(logs / "app.log", "wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url, app)
        yield LiveStudio(url=url, env=env, root=root)
    finally:
        for process in (app, worker):
            process.terminate()
        for process in (app, worker):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless Debian Chromium (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (.ci/run installs it: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser, tmp_path: Path):  # noqa: ANN001, ANN201 (playwright types)
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()
