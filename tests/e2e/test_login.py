"""Logins in a real browser (Debian Chromium) against `studio serve`:

- bound beyond localhost (``--host 0.0.0.0``, reached at 127.0.0.1): only the login page shows; a
  wrong password is refused; the right one opens the studio, which survives a reload; the cookie
  is HttpOnly; the /studio-api routes answer 401 without it; an annotator sees Datasets and Label
  only; logging out brings the login page back;
- a stale edit on the Review page is refused with what changed, and nothing is written;
- on localhost without users there is no login at all.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from studio.processes import ChildProcesses
from tests.conftest import REPO, reset_studio_caches, studio_env_vars
from tests.e2e.conftest import _free_port, _wait_http

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ADMIN, ANNOTATOR, PASSWORD = "boss", "ana", "a long admin password"


def _studio(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "studio.cli", *args], env=env, input=stdin, capture_output=True,
                          text=True, timeout=300)


@contextmanager
def serving(root: Path, *serve_args: str) -> Iterator[tuple[str, dict[str, str]]]:
    """`studio init` + a 3-image demo in ``root``, then `studio serve` with ``serve_args`` on a free
    port, reached at 127.0.0.1; the serve process group is stopped on exit."""
    env = {**os.environ, **studio_env_vars(root), "PYTHONUNBUFFERED": "1"}
    if not (root / "ready").exists():
        for command in (["init"], ["demo", "--images", "3"]):
            done = _studio(env, *command)
            assert done.returncode == 0, done.stderr
        (root / "ready").touch()
    port = _free_port()
    with ChildProcesses(grace=20) as children, (root / f"app-{port}.log").open("ab") as log:
        app = children.start([sys.executable, "-m", "studio.cli", "serve", "--port", str(port), *serve_args],
                             env=env, cwd=REPO, stdout=log)
        url = f"http://127.0.0.1:{port}"
        _wait_http(url, app)
        yield url, env


@pytest.fixture(scope="module")
def team_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str], Path]]:
    root = tmp_path_factory.mktemp("team")
    env = {**os.environ, **studio_env_vars(root)}
    for command in (["init"], ["demo", "--images", "3"]):
        assert _studio(env, *command).returncode == 0
    (root / "ready").touch()
    refused = _studio(env, "serve", "--host", "0.0.0.0", "--port", str(_free_port()))
    assert refused.returncode == 1 and "studio users add NAME --role admin" in refused.stderr  # no user: no start
    for name, role in ((ADMIN, "admin"), (ANNOTATOR, "annotator")):
        done = _studio(env, "users", "add", name, "--role", role, "--password-stdin", stdin=PASSWORD + "\n")
        assert done.returncode == 0, done.stderr
    with serving(root, "--host", "0.0.0.0") as (url, env):
        yield url, env, root


def _rendered(page) -> None:  # noqa: ANN001 (playwright page)
    page.wait_for_selector("[data-testid='stApp']")
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)


def _login_form(page):  # noqa: ANN001, ANN202
    page.get_by_role("heading", name="Log in").wait_for(timeout=60_000)
    return page.locator("form.studio-auth")


def _log_in(page, url: str, name: str, password: str) -> None:  # noqa: ANN001
    page.goto(url)
    form = _login_form(page)
    form.locator("input[name=name]").fill(name)
    form.locator("input[name=password]").fill(password)
    form.locator("button[type=submit]").click()


def _nav(page) -> list[str]:  # noqa: ANN001
    links = page.get_by_test_id("stSidebarNavLink").all_inner_texts()
    return [text.strip().splitlines()[-1].strip() for text in links]


def test_bound_beyond_localhost_the_login_is_required(team_studio, browser) -> None:  # noqa: ANN001
    url, env, root = team_studio
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(url)
        _login_form(page)
        _rendered(page)
        assert _nav(page) == [] and page.get_by_role("heading", name="Datasets").count() == 0  # the login page only
        assert page.request.get(f"{url}/studio-api/thumbs/1.jpg").status == 401  # the routes are gated too

        _log_in(page, url, ADMIN, "not the password")
        page.get_by_text("Wrong user name or password").wait_for()
        assert "login=refused" in page.url and _nav(page) == []

        _log_in(page, url, ADMIN, PASSWORD)
        page.get_by_role("heading", name="Datasets").wait_for()
        _rendered(page)
        assert {"Datasets", "Label", "Review", "Train", "Jobs", "Team"} <= set(_nav(page))
        page.get_by_text(f"{ADMIN} · admin").wait_for()
        cookie = next(c for c in context.cookies() if c["name"] == "studio_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["expires"] > 0
        assert "studio_session" not in page.evaluate("() => document.cookie")  # scripts cannot read it
        assert page.request.get(f"{url}/studio-api/thumbs/1.jpg").status == 200

        page.goto(f"{url}/team")  # an admin assigns images to ana (the first annotator and the whole range)
        page.get_by_role("tab", name="Assignments").click()
        page.get_by_role("button", name="Assign").click()
        page.get_by_text("images assigned to ana").wait_for()
        listed = _studio(env, "users", "assignments")
        assert "ana" in listed.stdout and "images 1-3" in listed.stdout, listed.stdout

        page.reload()
        page.get_by_role("heading", name="Team").wait_for()  # still logged in after a reload
        _rendered(page)
        assert page.get_by_role("heading", name="Log in").count() == 0

        page.locator("form.studio-auth button[type=submit]").click()  # the sidebar's Log out
        _login_form(page)
        page.get_by_text("You are logged out").wait_for()
        assert page.request.get(f"{url}/studio-api/thumbs/1.jpg").status == 401
    finally:
        page.screenshot(path=str(root / "login.png"), full_page=True)
        context.close()


def test_an_annotator_sees_datasets_read_only_and_label(team_studio, browser) -> None:  # noqa: ANN001
    url, _, root = team_studio
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        _log_in(page, url, ANNOTATOR, PASSWORD)
        page.get_by_role("heading", name="Datasets").wait_for()
        _rendered(page)
        assert _nav(page) == ["Datasets", "Label"]
        assert page.get_by_role("tab", name="Import").count() == 0  # read-only
        page.goto(f"{url}/team")  # not in an annotator's navigation: not served to them
        _rendered(page)
        assert page.get_by_role("heading", name="Team").count() == 0
    finally:
        page.screenshot(path=str(root / "annotator.png"), full_page=True)
        context.close()


def test_a_stale_decision_on_the_review_page_is_refused(team_studio, browser, monkeypatch) -> None:  # noqa: ANN001
    """The admin opens an image with drafts on the Review page; meanwhile an annotator re-classes one
    draft (the core API, as the Label page does); Accept is refused with who changed what, and
    nothing is written."""
    url, env, root = team_studio
    for key in ("STUDIO_HOME", "STUDIO_DB_URL", "STUDIO_DATA_DIR", "STUDIO_MODELS_DIR", "STUDIO_QUEUE_URL"):
        monkeypatch.setenv(key, env[key])
    reset_studio_caches()
    from studio import annotations as ann
    from studio.classes import list_classes

    item = ann.image_queue("shelves")[0]
    classes = {c.name: c.id for c in list_classes(dataset="shelves")}
    mask = np.zeros((item.height, item.width), bool)
    mask[10:60, 10:60] = True
    draft = ann.add_annotation(image_id=item.id, class_id=classes["box"], mask=mask, source="sam", status="draft",
                               author=ANNOTATOR)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        _log_in(page, url, ADMIN, PASSWORD)
        page.get_by_role("heading", name="Datasets").wait_for()
        page.goto(f"{url}/review")
        page.get_by_role("heading", name="Review").wait_for()
        _rendered(page)
        page.get_by_text(f"#{draft} box (draft, {ANNOTATOR})").first.wait_for()
        ann.update_annotation(draft, class_id=classes["can"], expected_version=1, editor=ANNOTATOR)
        page.get_by_role("button", name="Accept").click()
        page.get_by_text(f"was changed by {ANNOTATOR}").wait_for()
        assert "class box → can" in page.inner_text("body")  # Streamlit's markdown draws "->" as an arrow
        view = ann.get_annotation(draft)
        assert (view.status, view.class_name, view.version) == ("draft", "can", 2)  # the decision was not written
    finally:
        page.screenshot(path=str(root / "review-stale.png"), full_page=True)
        context.close()
        reset_studio_caches()


def test_localhost_without_users_has_no_login(tmp_path: Path, browser) -> None:  # noqa: ANN001
    with serving(tmp_path) as (url, _):
        context = browser.new_context(viewport={"width": 1300, "height": 900})
        page = context.new_page()
        page.set_default_timeout(60_000)
        try:
            page.goto(url)
            page.get_by_role("heading", name="Datasets").wait_for()
            _rendered(page)
            assert page.get_by_role("heading", name="Log in").count() == 0
            assert {"Datasets", "Label", "Review", "Team"} <= set(_nav(page))  # the one person has every right
            assert page.request.get(f"{url}/studio-api/thumbs/1.jpg").status == 200
        finally:
            context.close()
