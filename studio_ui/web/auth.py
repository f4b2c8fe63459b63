"""Logins over HTTP, and the gate in front of every ``/studio-api`` route.

    POST /studio-api/auth/login     name + password (a form, or JSON): sets the session cookie
    POST /studio-api/auth/logout    clears it (and ends the user's image leases)
    GET  /studio-api/auth/ticket?t= turns a one-time ticket (an OIDC login the app saw) into the cookie
    GET  /studio-api/auth/me        who the cookie belongs to: {"user", "role", "login_required"}

The session cookie (``studio_session``: studio.sessions) is HttpOnly, SameSite=Lax (a page of
another site cannot send it with a POST), Secure over HTTPS, and expires after
``STUDIO_SESSION_HOURS``. A form login answers ``303`` to the page it came from (``next``, a path
of this site only) or, refused, to ``/?login=refused`` / ``/?login=wait&retry=<s>`` (the app's
login page says why); a JSON login answers 200 / 401 / 429 (``Retry-After``). Failed logins are
throttled per name and per client address (studio.users.LoginThrottle).

:class:`AuthMiddleware` (installed by server.py) checks the cookie of every request under
``/studio-api`` except ``/studio-api/auth/``: when a login is needed (studio.users.login_required
for this server's address) and the cookie is not a valid session, the answer is ``401
{"error": ...}``; otherwise the user is put in the request scope, where handlers read it with
:func:`request_user` (None when no login is needed: the local, one-person studio). The Streamlit
script checks the same cookie through ``st.context.cookies`` (studio_ui.login).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any
from urllib.parse import parse_qs, quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from studio import leases, sessions, users
from studio.config import get_settings
from studio.errors import StudioError
from studio_ui.web import PREFIX

BASE = f"{PREFIX}/auth"
SCOPE_KEY = "studio.user"  # the request scope's entry with the checked user
MAX_BODY = 16 * 1024
USERS_EXIST_TTL = 2.0  # seconds the "any user configured?" answer is reused by the gate

_served = False  # set once the middleware runs: the app is behind a real server (not AppTest)
_users_cache: dict[str, tuple[float, bool]] = {}  # database URL -> (when, any user)
_users_lock = threading.Lock()


def served() -> bool:
    """Whether this process serves HTTP (the middleware was built): False under AppTest."""
    return _served


def bind_address() -> str | None:
    """The address this server listens on (Streamlit's ``server.address``; None = every
    interface). Under AppTest, where nothing listens, "127.0.0.1"."""
    if not _served:
        return "127.0.0.1"
    from streamlit import config

    return config.get_option("server.address")


def users_configured() -> bool:
    """:func:`studio.users.users_exist` of the configured database, reused for
    :data:`USERS_EXIST_TTL` seconds."""
    url = get_settings().db_url
    now = time.monotonic()
    with _users_lock:
        cached = _users_cache.get(url)
        if cached is not None and now - cached[0] < USERS_EXIST_TTL:
            return cached[1]
    exists = users.users_exist()
    with _users_lock:
        _users_cache[url] = (now, exists)
    return exists


def forget_users_cache() -> None:
    """After adding the first user from a page: the gate asks the database again."""
    with _users_lock:
        _users_cache.clear()


def login_needed() -> bool:
    return users.login_required(bind_address=bind_address(), users_configured=users_configured())


def request_user(request: HTTPConnection) -> users.UserInfo | None:
    """The logged-in user of a request that passed :class:`AuthMiddleware`; None when no login
    is needed (the local studio: act as :func:`studio.users.local_user`)."""
    return request.scope.get(SCOPE_KEY)


def request_author(request: HTTPConnection) -> str:
    """The name a handler records as author / editor of what the request writes: the logged-in
    user, or the OS user (STUDIO_AUTHOR) when no login is needed."""
    user = request_user(request)
    return user.name if user is not None else users.local_user().name


def _check(connection: HTTPConnection) -> tuple[bool, users.UserInfo | None]:
    """(allowed, user) for a request under /studio-api."""
    if not login_needed():
        return True, None
    user = sessions.session_user(connection.cookies.get(sessions.COOKIE))
    return user is not None, user


class AuthMiddleware:
    """The gate of the ``/studio-api`` routes (module docstring). Pure ASGI, so it wraps HTTP and
    WebSocket requests alike and never buffers a body."""

    def __init__(self, app: ASGIApp) -> None:
        global _served
        self.app = app
        _served = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        global _served
        _served = True
        path = scope.get("path", "")
        if scope["type"] in ("http", "websocket") and path.startswith(PREFIX + "/") and not path.startswith(BASE + "/"):
            connection = HTTPConnection(scope)
            allowed, user = await run_in_threadpool(_check, connection)
            if not allowed:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 4401})
                    return
                response = JSONResponse({"error": "log in first: this studio needs a login"}, status_code=401)
                await response(scope, receive, send)
                return
            scope[SCOPE_KEY] = user
        await self.app(scope, receive, send)


# ---- routes -------------------------------------------------------------------------------------

def safe_next(value: str | None) -> str:
    """A path of this site to go back to ("/" for anything else: no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or any(
            ord(ch) < 32 for ch in value):
        return "/"
    return value


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "") == "https"


def set_session_cookie(response: Response, request: Request, user: users.UserInfo) -> None:
    token, expires = sessions.issue(user)
    response.set_cookie(sessions.COOKIE, token, max_age=max(int(expires - time.time()), 1), path="/",
                        secure=_secure(request), httponly=True, samesite="lax")


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(sessions.COOKIE, path="/", secure=_secure(request), httponly=True, samesite="lax")


async def _fields(request: Request) -> tuple[dict[str, str], bool]:
    """(fields, is_json) of a small form or JSON body."""
    body = await request.body()
    if len(body) > MAX_BODY:
        raise users.LoginRefused("request too large")
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data: Any = json.loads(body or b"{}")
        except ValueError:
            raise users.LoginRefused("expected a JSON object with name and password") from None
        if not isinstance(data, dict):
            raise users.LoginRefused("expected a JSON object with name and password")
        return {k: str(v) for k, v in data.items() if isinstance(v, (str, int))}, True
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in parsed.items()}, False


async def login(request: Request) -> Response:
    try:
        fields, is_json = await _fields(request)
    except users.LoginRefused as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    client = request.client.host if request.client else ""
    try:
        user = await run_in_threadpool(users.authenticate, fields.get("name", ""), fields.get("password", ""), client)
    except users.TooManyAttempts as exc:
        retry = int(exc.retry_after) + 1
        if is_json:
            return JSONResponse({"error": str(exc), "retry_after": retry}, status_code=429,
                                headers={"Retry-After": str(retry)})
        return RedirectResponse(f"/?login=wait&retry={retry}", status_code=303)
    except users.LoginRefused as exc:
        if is_json:
            return JSONResponse({"error": str(exc)}, status_code=401)
        return RedirectResponse("/?login=refused", status_code=303)
    response: Response
    if is_json:
        response = JSONResponse({"user": user.name, "role": user.role})
    else:
        response = RedirectResponse(safe_next(fields.get("next")), status_code=303)
    await run_in_threadpool(set_session_cookie, response, request, user)
    return response


async def logout(request: Request) -> Response:
    user = await run_in_threadpool(sessions.session_user, request.cookies.get(sessions.COOKIE))
    if user is not None:
        await run_in_threadpool(leases.release_all, user.name)
    wants_json = "application/json" in request.headers.get("accept", "") or \
        request.headers.get("content-type", "").startswith("application/json")
    response: Response = JSONResponse({"logged_out": user.name if user else None}) if wants_json else \
        RedirectResponse("/?login=out", status_code=303)
    clear_session_cookie(response, request)
    return response


async def ticket(request: Request) -> Response:
    user = await run_in_threadpool(sessions.redeem_ticket, request.query_params.get("t", ""))
    if user is None:
        return RedirectResponse("/?login=expired", status_code=303)
    response = RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    await run_in_threadpool(set_session_cookie, response, request, user)
    return response


async def me(request: Request) -> Response:
    def who() -> tuple[bool, users.UserInfo | None]:
        needed = login_needed()
        return needed, sessions.session_user(request.cookies.get(sessions.COOKIE)) if needed else None

    try:
        needed, user = await run_in_threadpool(who)
    except StudioError as exc:
        return JSONResponse({"error": str(exc)}, status_code=500)
    if needed and user is None:
        return JSONResponse({"error": "not logged in", "login_required": True}, status_code=401)
    if user is None:
        return JSONResponse({"user": None, "role": "admin", "login_required": False})
    return JSONResponse({"user": user.name, "role": user.role, "login_required": True})


def ticket_url(user: users.UserInfo, next_path: str = "/") -> str:
    """Where to send the browser of a user the app identified (OIDC) so it gets the cookie."""
    return f"{BASE}/ticket?t={quote(sessions.issue_ticket(user))}&next={quote(safe_next(next_path))}"


def routes() -> list[BaseRoute]:
    return [
        Route(f"{BASE}/login", login, methods=["POST"]),
        Route(f"{BASE}/logout", logout, methods=["POST"]),
        Route(f"{BASE}/ticket", ticket, methods=["GET"]),
        Route(f"{BASE}/me", me, methods=["GET"]),
    ]
