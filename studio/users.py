"""Users, roles and logins of a team (no streamlit here: pages and routes call these).

Roles and what they may do (:func:`can`; pages and HTTP routes ask it, never the role itself):

    annotator   datasets.view, label
    reviewer    + review
    admin       everything: datasets.edit (import, export, snapshot, classes), models (train,
                evaluate, compare, export), live, jobs, assign (image ranges to people), users

When a login is needed (:func:`login_required`): on a loopback address with no user configured
the studio stays a one-person tool (no login, everyone is :data:`LOCAL_ADMIN`-like: the OS user
with every right). Listening on any other address needs a login, and ``studio serve`` refuses
to start that way while no user exists (:func:`first_admin_hint`). Once a user exists, a login
is needed on every address.

Passwords: argon2id through ``argon2-cffi`` (RFC 9106 low-memory profile: 64 MiB, 3 passes);
a hash made with other parameters is replaced on the next successful login (:func:`verify`).
An unknown or disabled user costs the same hashing work as a wrong password, so the time of a
refusal does not tell which names exist. Failed logins are throttled per name and per client
(:class:`LoginThrottle`).
"""

from __future__ import annotations

import ipaddress
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, update
from sqlmodel import Session, col, select

from studio.db import session_scope
from studio.errors import Conflict, InvalidInput, NotFound, StudioError
from studio.tables import Role, User, utcnow

ROLES: tuple[str, ...] = tuple(r.value for r in Role)  # annotator, reviewer, admin

# action -> the roles allowed to do it (see the module docstring)
ACTIONS: dict[str, frozenset[str]] = {
    "datasets.view": frozenset(ROLES),
    "label": frozenset(ROLES),
    "review": frozenset({"reviewer", "admin"}),
    "datasets.edit": frozenset({"admin"}),
    "models": frozenset({"admin"}),
    "live": frozenset({"admin"}),
    "jobs": frozenset({"admin"}),
    "assign": frozenset({"admin"}),
    "users": frozenset({"admin"}),
}

NAME_RE = re.compile(r"[a-z0-9][a-z0-9._@+-]{0,63}")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # argon2 takes any length; this only keeps a pasted file out

HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory profile (argon2-cffi's defaults)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so that costs the same work as a wrong password."""
    return HASHER.hash("studio: no such user")


class LoginRefused(StudioError):
    """Wrong name or password, or a disabled user (one message for all: names are not revealed)."""


class TooManyAttempts(LoginRefused):
    """Too many failed logins for a name or a client; ``retry_after`` seconds to wait."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class UserInfo:
    """A user as pages and routes see it (never the password hash)."""

    id: int
    name: str
    role: str
    email: str = ""
    disabled: bool = False
    session_epoch: int = 0
    has_password: bool = True
    created_at: datetime | None = None
    last_login_at: datetime | None = None

    def can(self, action: str) -> bool:
        return can(self.role, action)


def _info(user: User) -> UserInfo:
    return UserInfo(int(user.id), user.name, user.role, user.email, user.disabled,  # type: ignore[arg-type]
                    user.session_epoch, bool(user.password_hash), user.created_at, user.last_login_at)


# ---- roles ---------------------------------------------------------------------------------

def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"role {role!r}: expected one of {', '.join(ROLES)}")
    return role


def can(role: str, action: str) -> bool:
    """Whether ``role`` may do ``action`` (one of :data:`ACTIONS`); an unknown action is a bug."""
    try:
        return role in ACTIONS[action]
    except KeyError:
        raise InvalidInput(f"action {action!r}: expected one of {', '.join(ACTIONS)}") from None


# ---- names and passwords -------------------------------------------------------------------

def check_name(name: str) -> str:
    """The canonical (lower-case, stripped) user name, or InvalidInput saying what a name may be."""
    canonical = (name or "").strip().lower()
    if not NAME_RE.fullmatch(canonical):
        raise InvalidInput(f"user name {name!r}: expected 1-64 characters, letters, digits and . _ @ + - "
                           "(starting with a letter or digit), e.g. 'ana' or 'ana@example.com'")
    return canonical


def check_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password too short: expected at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"password too long: expected at most {MAX_PASSWORD} characters")
    return password


def _hash(password: str) -> str:
    return HASHER.hash(check_password(password))


# ---- users ---------------------------------------------------------------------------------

def _get(session: Session, name: str) -> User:
    canonical = (name or "").strip().lower()
    user = session.exec(select(User).where(User.name == canonical)).first()
    if user is None:
        raise NotFound(f"no user {name!r}; `studio users list` shows who exists")
    return user


def _admins_left(session: Session, without: int) -> int:
    return session.exec(select(func.count()).select_from(User).where(
        User.role == Role.admin.value, col(User.disabled).is_(False), User.id != without)).one()


def create_user(*, name: str, role: str, password: str | None = None, email: str = "") -> UserInfo:
    """A new user; ``password`` None means no local password (OIDC login only). Conflict when the
    name is taken."""
    canonical, role = check_name(name), check_role(role)
    hashed = _hash(password) if password is not None else ""
    with session_scope() as session:
        if session.exec(select(User.id).where(User.name == canonical)).first() is not None:
            raise Conflict(f"user {canonical!r} exists already; `studio users passwd {canonical}` sets a new password")
        user = User(name=canonical, role=role, password_hash=hashed, email=(email or "").strip().lower())
        session.add(user)
        session.flush()
        return _info(user)


def get_user(name: str) -> UserInfo:
    with session_scope() as session:
        return _info(_get(session, name))


def list_users() -> list[UserInfo]:
    with session_scope() as session:
        return [_info(u) for u in session.exec(select(User).order_by(User.name)).all()]


def users_exist() -> bool:
    """Whether any user is configured (then a login is needed on every address)."""
    with session_scope() as session:
        return session.exec(select(User.id).limit(1)).first() is not None


def set_password(name: str, password: str) -> UserInfo:
    """A new password; the user's open sessions end (their cookies stop working)."""
    hashed = _hash(password)
    with session_scope() as session:
        user = _get(session, name)
        user.password_hash, user.session_epoch = hashed, user.session_epoch + 1
        session.add(user)
        return _info(user)


def set_role(name: str, role: str) -> UserInfo:
    """Another role; refused for the last enabled admin (the studio would have nobody to manage it)."""
    role = check_role(role)
    with session_scope() as session:
        user = _get(session, name)
        if user.role == Role.admin.value and role != Role.admin.value and _admins_left(session, user.id) == 0:
            raise Conflict(f"{user.name!r} is the last admin: make someone else admin first")
        user.role, user.session_epoch = role, user.session_epoch + 1
        session.add(user)
        return _info(user)


def set_email(name: str, email: str) -> UserInfo:
    with session_scope() as session:
        user = _get(session, name)
        user.email = (email or "").strip().lower()
        session.add(user)
        return _info(user)


def set_disabled(name: str, disabled: bool = True) -> UserInfo:
    """Disable (no login, open sessions end) or enable a user; their annotations stay."""
    with session_scope() as session:
        user = _get(session, name)
        if disabled and user.role == Role.admin.value and _admins_left(session, user.id) == 0:
            raise Conflict(f"{user.name!r} is the last admin: make someone else admin first")
        user.disabled, user.session_epoch = disabled, user.session_epoch + 1
        session.add(user)
        return _info(user)


def remove_user(name: str) -> None:
    """Delete a user (their leases and assignments go with them; annotations keep the name as
    author). Refused for the last enabled admin while other users exist."""
    from studio.tables import Lease

    with session_scope() as session:
        user = _get(session, name)
        others = session.exec(select(func.count()).select_from(User).where(User.id != user.id)).one()
        if user.role == Role.admin.value and others and _admins_left(session, user.id) == 0:
            raise Conflict(f"{user.name!r} is the last admin of {others} user(s): make someone else admin first")
        for lease in session.exec(select(Lease).where(Lease.holder == user.name)).all():
            session.delete(lease)
        session.delete(user)


# ---- logins --------------------------------------------------------------------------------

def verify(name: str, password: str) -> UserInfo | None:
    """The user when ``password`` is theirs and they are enabled, else None. Takes the same
    hashing work whether or not the user exists; a hash made with other argon2 parameters than
    :data:`HASHER`'s is replaced by a new one."""
    try:
        canonical = check_name(name)
    except InvalidInput:
        canonical = ""
    with session_scope() as session:
        user = session.exec(select(User).where(User.name == canonical)).first() if canonical else None
        stored = user.password_hash if user is not None and user.password_hash else _dummy_hash()
        try:
            HASHER.verify(stored, password or "")
            matched = user is not None and bool(user.password_hash)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            matched = False
        if not matched or user is None or user.disabled:
            return None
        if HASHER.check_needs_rehash(user.password_hash):
            user.password_hash = HASHER.hash(password)
        user.last_login_at = utcnow()
        session.add(user)
        return _info(user)


def user_for_email(email: str) -> UserInfo | None:
    """The enabled user an OIDC login with ``email`` is (their ``email``, else their name), or None."""
    address = (email or "").strip().lower()
    if not address:
        return None
    with session_scope() as session:
        user = (session.exec(select(User).where(User.email == address)).first()
                or session.exec(select(User).where(User.name == address)).first())
        if user is None or user.disabled:
            return None
        session.exec(update(User).where(col(User.id) == user.id).values(last_login_at=utcnow()))
        return _info(user)


class LoginThrottle:
    """Failed logins per key (a user name, a client address): after ``allowed`` failures within
    ``window`` seconds the key is locked for ``lock`` seconds, doubled on each further lock up to
    ``max_lock``. A success clears the name's count. In memory, per web process."""

    def __init__(self, allowed: int = 5, window: float = 900.0, lock: float = 30.0, max_lock: float = 900.0,
                 clock=time.monotonic) -> None:  # noqa: ANN001 (a clock function, for tests)
        self.allowed, self.window, self.lock, self.max_lock = allowed, window, lock, max_lock
        self._clock = clock
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._locks: dict[str, int] = {}
        self._mutex = threading.Lock()

    def wait_for(self, *keys: str) -> float:
        """Seconds until every key may try again (0 = now)."""
        now = self._clock()
        with self._mutex:
            return max([self._locked_until.get(k, 0.0) - now for k in keys] + [0.0])

    def failed(self, *keys: str) -> None:
        now = self._clock()
        with self._mutex:
            for key in keys:
                recent = [t for t in self._failures.get(key, []) if now - t < self.window] + [now]
                self._failures[key] = recent
                if len(recent) >= self.allowed:
                    count = self._locks.get(key, 0)
                    self._locked_until[key] = now + min(self.lock * 2 ** count, self.max_lock)
                    self._locks[key] = count + 1
                    self._failures[key] = []

    def succeeded(self, key: str) -> None:
        with self._mutex:
            for table in (self._failures, self._locked_until, self._locks):
                table.pop(key, None)


THROTTLE = LoginThrottle()  # the web process's


def authenticate(name: str, password: str, client: str = "", throttle: LoginThrottle | None = None) -> UserInfo:
    """The user, or LoginRefused (one message whatever was wrong) / TooManyAttempts (throttled:
    the password is not even checked)."""
    throttle = throttle or THROTTLE
    keys = [f"name:{(name or '').strip().lower()}"] + ([f"client:{client}"] if client else [])
    wait = throttle.wait_for(*keys)
    if wait > 0:
        raise TooManyAttempts(f"too many failed logins: try again in {int(wait) + 1} s", wait)
    user = verify(name, password)
    if user is None:
        throttle.failed(*keys)
        raise LoginRefused("wrong user name or password (or the user is disabled)")
    throttle.succeeded(keys[0])
    return user


def local_user() -> UserInfo:
    """Who uses a studio that needs no login (loopback, no users): the OS user (or STUDIO_AUTHOR),
    with every right -- the studio as it was before teams."""
    from studio.annotations import default_author

    return UserInfo(id=0, name=default_author(), role=Role.admin.value, has_password=False)


# ---- when a login is needed ---------------------------------------------------------------

def is_loopback(address: str | None) -> bool:
    """Whether a listening address is reachable from this machine only (127.0.0.0/8, ::1,
    localhost). None / "" / 0.0.0.0 / :: mean every interface: not loopback."""
    if not address:
        return False
    host = address.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost: whatever it resolves to, others may reach it


def login_required(*, bind_address: str | None, users_configured: bool) -> bool:
    """A login is needed once any user exists, or when the studio listens beyond loopback."""
    return users_configured or not is_loopback(bind_address)


def first_admin_hint() -> str:
    return ("create the first admin first: `studio users add NAME --role admin` (it asks for the password), "
            "then log in with it")


def oidc_provider(secrets: Mapping) -> str | None:
    """The provider of a Streamlit OIDC login configured in ``secrets`` (``.streamlit/secrets.toml``'s
    ``[auth]``): "" for the default one (``[auth]`` with client_id / client_secret /
    server_metadata_url), the name of the first ``[auth.<name>]`` provider, or None when none is
    complete. ``redirect_uri`` and ``cookie_secret`` are required in ``[auth]`` either way."""
    auth = secrets.get("auth") if hasattr(secrets, "get") else None
    if not isinstance(auth, Mapping) or not auth.get("redirect_uri") or not auth.get("cookie_secret"):
        return None
    needed = ("client_id", "client_secret", "server_metadata_url")
    if all(auth.get(k) for k in needed):
        return ""
    for name, section in auth.items():
        if isinstance(section, Mapping) and all(section.get(k) for k in needed):
            return str(name)
    return None
