"""The login routes and the gate of /studio-api (studio_ui/web/auth.py) through starlette's
TestClient on a real studio (real database, real argon2, real signing key)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.testclient import TestClient

from studio import leases, sessions, users
from studio_ui.web import auth, routes

PASSWORD = "a long enough password"


@pytest.fixture
def studio(studio_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """A 2-image studio with users boss (admin) and ana (annotator); the web module's process-wide
    state (served, users cache, throttle) is this test's and put back after."""
    from studio.annotations import image_queue
    from studio.datasets import ingest_doc
    from studio.demo import generate_demo

    ingest_doc(generate_demo(tmp_path / "demo", n_images=2, seed=5), dataset="shelves")
    monkeypatch.setattr(auth, "_served", False)
    monkeypatch.setattr(users, "THROTTLE", users.LoginThrottle(allowed=3, lock=60))
    auth.forget_users_cache()
    users.create_user(name="boss", role="admin", password=PASSWORD)
    users.create_user(name="ana", role="annotator", password=PASSWORD)
    yield {"items": image_queue("shelves")}
    auth.forget_users_cache()


def client(address: str | None = None) -> TestClient:
    """The studio's routes behind the gate, as server.py mounts them, on a server listening on
    ``address`` (Streamlit's server.address; None = every interface)."""
    from streamlit import config

    config.set_option("server.address", address)
    return TestClient(Starlette(routes=routes(), middleware=[Middleware(auth.AuthMiddleware)]),
                      base_url="http://testserver")


@pytest.fixture(autouse=True)
def _address_back() -> Iterator[None]:
    from streamlit import config

    before = config.get_option("server.address")
    yield
    config.set_option("server.address", before)


def thumb(items: list) -> str:
    return f"/studio-api/thumbs/{items[0].id}.jpg"


def test_the_gate_refuses_routes_without_a_session(studio: dict) -> None:
    with client("0.0.0.0") as http:
        reply = http.get(thumb(studio["items"]))
        assert reply.status_code == 401 and "log in" in reply.json()["error"]
        http.cookies.set(sessions.COOKIE, "v1.forged.signature")
        assert http.get(thumb(studio["items"])).status_code == 401
        assert http.get("/studio-api/auth/me").status_code == 401  # the auth routes answer for themselves


def test_a_json_login_sets_a_private_cookie_that_opens_the_routes(studio: dict) -> None:
    with client("0.0.0.0") as http:
        reply = http.post("/studio-api/auth/login", json={"name": "Boss", "password": PASSWORD})
        assert reply.status_code == 200 and reply.json() == {"user": "boss", "role": "admin"}
        cookie = reply.headers["set-cookie"]
        for flag in ("studio_session=v1.", "HttpOnly", "SameSite=lax", "Path=/", "Max-Age=4319"):
            assert flag in cookie, (flag, cookie)
        assert "Secure" not in cookie  # plain HTTP here; over HTTPS it is Secure
        assert http.get(thumb(studio["items"])).status_code == 200
        assert http.get("/studio-api/auth/me").json() == {"user": "boss", "role": "admin", "login_required": True}


def test_a_form_login_goes_back_to_the_page_and_never_elsewhere(studio: dict) -> None:
    with client("0.0.0.0") as http:
        cases = [("/label", "/label"), ("//evil.example/x", "/"), ("https://evil.example/", "/"), ("", "/"),
                 ("/\\evil.example", "/")]
        for asked, landed in cases:
            reply = http.post("/studio-api/auth/login", data={"name": "ana", "password": PASSWORD, "next": asked},
                              follow_redirects=False)
            assert reply.status_code == 303 and reply.headers["location"] == landed, asked
        reply = http.post("/studio-api/auth/login", data={"name": "ana", "password": "nope nope"},
                          follow_redirects=False)
        assert reply.status_code == 303 and reply.headers["location"] == "/?login=refused"


def test_failed_logins_are_rate_limited(studio: dict) -> None:
    with client("0.0.0.0") as http:
        for _ in range(3):
            assert http.post("/studio-api/auth/login", json={"name": "ana", "password": "wrong one"}).status_code == 401
        reply = http.post("/studio-api/auth/login", json={"name": "ana", "password": PASSWORD})
        assert reply.status_code == 429 and int(reply.headers["retry-after"]) in (60, 61)  # a 60 s lock
        reply = http.post("/studio-api/auth/login", data={"name": "ana", "password": PASSWORD}, follow_redirects=False)
        assert reply.headers["location"] in ("/?login=wait&retry=60", "/?login=wait&retry=61")
        # the throttle also counts the client: another name from it is held back too
        assert http.post("/studio-api/auth/login", json={"name": "boss", "password": PASSWORD}).status_code == 429


def test_logout_clears_the_cookie_and_ends_the_users_leases(studio: dict) -> None:
    with client("0.0.0.0") as http:
        http.post("/studio-api/auth/login", json={"name": "ana", "password": PASSWORD})
        leases.acquire(studio["items"][0].id, "ana")
        reply = http.post("/studio-api/auth/logout", follow_redirects=False)
        assert reply.status_code == 303 and reply.headers["location"] == "/?login=out"
        assert 'studio_session=""' in reply.headers["set-cookie"] and "Max-Age=0" in reply.headers["set-cookie"]
        assert leases.holders() == {}
        assert http.get(thumb(studio["items"])).status_code == 401


def test_a_disabled_user_or_a_new_password_ends_the_session(studio: dict) -> None:
    with client("0.0.0.0") as http:
        http.post("/studio-api/auth/login", json={"name": "ana", "password": PASSWORD})
        assert http.get(thumb(studio["items"])).status_code == 200
        users.set_disabled("ana")
        assert http.get(thumb(studio["items"])).status_code == 401
        assert http.post("/studio-api/auth/login", json={"name": "ana", "password": PASSWORD}).status_code == 401


def test_a_ticket_becomes_the_cookie_once(studio: dict) -> None:
    with client("0.0.0.0") as http:
        url = auth.ticket_url(users.get_user("ana"), "/label")
        reply = http.get(url, follow_redirects=False)
        assert reply.status_code == 303 and reply.headers["location"] == "/label"
        assert "studio_session=v1." in reply.headers["set-cookie"]
        assert http.get(thumb(studio["items"])).status_code == 200
        again = TestClient(http.app).get(url, follow_redirects=False)
        assert again.headers["location"] == "/?login=expired" and "set-cookie" not in again.headers


def test_on_loopback_logins_start_with_the_first_user(studio: dict) -> None:
    with client("127.0.0.1") as http:  # users exist: a login is needed on loopback too
        assert http.get(thumb(studio["items"])).status_code == 401
    for name in ("ana", "boss"):
        users.remove_user(name)
    auth.forget_users_cache()
    with client("127.0.0.1") as http:  # no users, loopback: the studio as it always was
        assert http.get(thumb(studio["items"])).status_code == 200
        assert http.get("/studio-api/auth/me").json() == {"user": None, "role": "admin", "login_required": False}
    auth.forget_users_cache()
    with client(None) as http:  # no address: Streamlit listens everywhere, so a login is needed
        assert http.get(thumb(studio["items"])).status_code == 401


def test_handlers_know_who_writes(studio: dict) -> None:
    """A route behind the gate reads the user (and the author to record) from the request."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def who(request: Request) -> JSONResponse:
        user = auth.request_user(request)
        return JSONResponse({"user": user.name if user else None, "author": auth.request_author(request)})

    from streamlit import config

    config.set_option("server.address", "0.0.0.0")
    app = Starlette(routes=[Route("/studio-api/who", who)], middleware=[Middleware(auth.AuthMiddleware)])
    with TestClient(app) as http:
        assert http.get("/studio-api/who").status_code == 401
        http.cookies.set(sessions.COOKIE, sessions.issue(users.get_user("ana"))[0])
        assert http.get("/studio-api/who").json() == {"user": "ana", "author": "ana"}
