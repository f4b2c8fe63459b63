"""Login sessions: signed, expiring tokens (the session cookie's value) and one-time tickets.

A token is ``v1.<payload>.<signature>``: the payload (base64url JSON: user name, the user's
session epoch, issue and expiry times, a nonce) signed with HMAC-SHA256 under a key made once
per studio and kept in ``<data dir>/session.key`` (mode 0600; every web process of a team reads
the same file on the shared data folder, so a login works on each of them). A token is good while
its signature matches (compared in constant time), it has not expired, and its user still
exists, is enabled and has the same epoch (a new password, a new role or disabling counts the
epoch up: older tokens stop working). Deleting the key file ends every session.

Tickets turn a login the Streamlit script saw (an OIDC login: ``st.user``) into the session
cookie, which only an HTTP response can set: the script asks :func:`issue_ticket`, the browser
opens ``/studio-api/auth/ticket?t=...``, the route calls :func:`redeem_ticket` (once, within
:data:`TICKET_S`) and sets the cookie. Tickets live in this process's memory (the app script and
the routes share the process).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from studio.config import get_settings
from studio.errors import StudioError
from studio.users import UserInfo, get_user

COOKIE = "studio_session"
KEY_BYTES = 32
TICKET_S = 60.0


@dataclass(frozen=True)
class Claims:
    """What a valid token says."""

    user: str
    epoch: int
    issued: float  # unix seconds
    expires: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_key(path: Path | None = None) -> bytes:
    """The signing key, made on first use (32 random bytes, file mode 0600, written so two
    processes starting at once agree on one key). A key file others may read is made private."""
    path = Path(path or get_settings().session_key_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_bytes(KEY_BYTES))
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # fails if another process made the key meanwhile: use theirs
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    key = path.read_bytes()
    if len(key) < 16:
        raise StudioError(f"session key {path} is too short ({len(key)} bytes): delete it and it is made anew "
                          "(every login then ends)")
    return key


def _sign(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest())


def issue(user: UserInfo, *, hours: float | None = None, key: bytes | None = None, now: float | None = None) -> tuple[str, float]:
    """(token, expiry unix time) of a new session for ``user``."""
    now = time.time() if now is None else now
    expires = now + 3600.0 * (get_settings().session_hours if hours is None else hours)
    body = {"u": user.name, "e": user.session_epoch, "i": int(now), "x": int(expires), "n": secrets.token_hex(8)}
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    return f"v1.{payload}.{_sign(key or load_key(), payload)}", float(int(expires))


def read(token: str | None, *, key: bytes | None = None, now: float | None = None) -> Claims | None:
    """The claims of a well-signed, unexpired token; None for anything else."""
    if not token or len(token) > 4096:
        return None
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != "v1":
        return None
    _, payload, signature = parts
    if not hmac.compare_digest(_sign(key or load_key(), payload), signature):
        return None
    try:
        body = json.loads(_unb64(payload))
        claims = Claims(str(body["u"]), int(body["e"]), float(body["i"]), float(body["x"]))
    except (ValueError, KeyError, TypeError):
        return None
    if claims.expires <= (time.time() if now is None else now):
        return None
    return claims


def session_user(token: str | None, *, key: bytes | None = None) -> UserInfo | None:
    """The user a session token belongs to, when it is valid and they may still log in."""
    claims = read(token, key=key)
    if claims is None:
        return None
    try:
        user = get_user(claims.user)
    except StudioError:
        return None
    if user.disabled or user.session_epoch != claims.epoch:
        return None
    return user


# ---- one-time tickets (OIDC login -> session cookie) ----------------------------------------

_tickets: dict[str, tuple[str, float]] = {}
_tickets_lock = threading.Lock()


def issue_ticket(user: UserInfo) -> str:
    """A random single-use ticket for ``user``, good for :data:`TICKET_S` seconds."""
    ticket = secrets.token_urlsafe(24)
    now = time.monotonic()
    with _tickets_lock:
        for old in [t for t, (_, made) in _tickets.items() if now - made > TICKET_S]:
            del _tickets[old]
        _tickets[ticket] = (user.name, now)
    return ticket


def redeem_ticket(ticket: str) -> UserInfo | None:
    """The user of an unused, fresh ticket (which is used up); None otherwise."""
    with _tickets_lock:
        entry = _tickets.pop(ticket or "", None)
    if entry is None or time.monotonic() - entry[1] > TICKET_S:
        return None
    try:
        user = get_user(entry[0])
    except StudioError:
        return None
    return None if user.disabled else user
