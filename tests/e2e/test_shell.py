"""The app shell in a real browser: every page of app.py's navigation loads without a single
request off the machine (local favicon included), and a deep link works as the very first
request of a freshly started server (no raw file names in the sidebar, no "Page not found")."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import urlopen

import pytest

from tests.conftest import REPO, studio_env_vars
from tests.e2e.conftest import _free_port, _wait_http

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# (url path, title) of every page, read from app.py so a new page is covered without editing this test
PAGES = [(Path(file).stem, title) for file, title in
         re.findall(r'st\.Page\("([^"]+)", title="([^"]+)"', (REPO / "app.py").read_text())]
LOCAL_HOSTS = {"127.0.0.1"}
# a fresh server per deep link costs ~15 s: the pages reported broken (Label, Datasets) and one more
DEEP_LINKS = [(path, title) for path, title in PAGES if path in ("label", "datasets", "evaluate")]


def test_app_py_lists_the_pages() -> None:
    assert len(PAGES) >= 9 and ("label", "Label") in PAGES and ("datasets", "Datasets") in PAGES
    assert len(DEEP_LINKS) == 3


@pytest.fixture(scope="module")
def studio_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A studio with the demo dataset (no server yet)."""
    root = tmp_path_factory.mktemp("shell")
    env = {**os.environ, **studio_env_vars(root)}
    for command in (["init"], ["demo", "--images", "4"]):
        done = subprocess.run([sys.executable, "-m", "studio.cli", *command], env=env, cwd=root,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    return root


@contextmanager
def fresh_app(root: Path) -> Iterator[str]:
    """`studio serve` on a free port (a new process: nothing has been requested from it yet)."""
    env = {**os.environ, **studio_env_vars(root), "PYTHONUNBUFFERED": "1"}
    port = _free_port()
    log = root / f"app-{port}.log"
    app = subprocess.Popen([sys.executable, "-m", "studio.cli", "serve", "--port", str(port)], env=env, cwd=root,
                           stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url, app)
        yield url
    finally:
        app.terminate()
        try:
            app.wait(timeout=15)
        except subprocess.TimeoutExpired:
            app.kill()


def _record_requests(page) -> list[str]:  # noqa: ANN001 (playwright page)
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    page.on("websocket", lambda socket: seen.append(socket.url))
    return seen


def _off_machine(urls: list[str]) -> list[str]:
    return [u for u in urls if urlparse(u).scheme in ("http", "https", "ws", "wss")
            and urlparse(u).hostname not in LOCAL_HOSTS]


def _page_rendered(page, title: str) -> None:  # noqa: ANN001
    page.wait_for_selector("[data-testid='stApp']")
    page.get_by_role("heading", name=title, exact=True).first.wait_for(timeout=90_000)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
    try:
        page.wait_for_load_state("networkidle", timeout=10_000)  # late requests (fonts, icons, media)
    except Exception:  # noqa: BLE001 - a page that keeps polling is still checked below
        pass


def _nav_titles(page) -> list[str]:  # noqa: ANN001
    """The sidebar's page names (each link's text ends with its title; the icon ligature comes first)."""
    links = page.get_by_test_id("stSidebarNavLink").all_inner_texts()
    return [text.strip().splitlines()[-1].strip() for text in links]


def test_no_page_sends_a_request_off_the_machine(studio_root: Path, page) -> None:  # noqa: ANN001
    with fresh_app(studio_root) as url:
        requests = _record_requests(page)
        for path, title in PAGES:
            page.goto(f"{url}/{path}")
            _page_rendered(page, title)
            assert _off_machine(requests) == [], f"/{path} asked another host: {_off_machine(requests)}"
            icons = page.evaluate("() => [...document.querySelectorAll('link[rel~=\"icon\"]')].map(l => l.href)")
            assert icons and all(urlparse(i).hostname in LOCAL_HOSTS for i in icons), icons
        with urlopen(icons[0], timeout=10) as reply:  # the favicon is the studio's own PNG, served locally
            assert reply.headers["content-type"] == "image/png" and reply.read(8) == b"\x89PNG\r\n\x1a\n"
        assert any(urlparse(u).path.startswith("/media/") for u in requests)  # the favicon was fetched here


@pytest.mark.parametrize(("path", "title"), DEEP_LINKS)
def test_a_deep_link_works_as_the_first_request_after_a_restart(studio_root: Path, page, path: str,  # noqa: ANN001
                                                                title: str) -> None:
    with fresh_app(studio_root) as url:
        requests = _record_requests(page)
        page.goto(f"{url}/{path}")
        try:
            _page_rendered(page, title)
            body = page.inner_text("body")
            assert "Page not found" not in body and "You have requested page" not in body
            assert _nav_titles(page) == [t for _, t in PAGES]  # titles, never raw file names
            assert urlparse(page.url).path.rstrip("/") in (f"/{path}", "")  # still on the page asked for
            assert not page.get_by_test_id("stException").count(), page.get_by_test_id("stException").inner_text()
            assert _off_machine(requests) == []
        finally:
            page.screenshot(path=str(studio_root / f"deep-{path}.png"), full_page=True)
