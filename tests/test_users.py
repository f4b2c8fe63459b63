"""Users, roles, logins and session tokens (studio/users.py, studio/sessions.py) and `studio users`,
with real argon2 hashing against the real database (SQLite, and PostgreSQL in its pass)."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from typer.testing import CliRunner

from studio import sessions, users
from studio.errors import Conflict, InvalidInput, NotFound, StudioError

PASSWORD = "correct horse battery"


@pytest.fixture
def ana(studio_env: dict[str, str]) -> users.UserInfo:
    return users.create_user(name="Ana", role="annotator", password=PASSWORD)


# ---- names, roles, passwords -----------------------------------------------------------------

@pytest.mark.parametrize("name, canonical", [
    ("ana", "ana"),  # plain
    ("  Ana ", "ana"),  # trimmed, lower case
    ("ana.b-c_d+e@example.com", "ana.b-c_d+e@example.com"),  # an e-mail address
    ("a" * 64, "a" * 64),  # the longest
])
def test_good_names(name: str, canonical: str) -> None:
    assert users.check_name(name) == canonical


@pytest.mark.parametrize("name", [
    "",  # empty
    "a" * 65,  # too long
    "-ana",  # must start with a letter or digit
    "ana smith",  # space
    "ana/..",  # path characters
    "anä",  # non-ASCII
    "ana\n",  # a newline inside (not trailing whitespace)
])
def test_bad_names_are_refused_with_what_a_name_may_be(name: str) -> None:
    if name == "ana\n":
        name = "an\na"
    with pytest.raises(InvalidInput, match="expected 1-64 characters"):
        users.check_name(name)


@pytest.mark.parametrize("role, action, allowed", [
    ("annotator", "label", True),  # annotators label
    ("annotator", "datasets.view", True),  # and see datasets
    ("annotator", "datasets.edit", False),  # read-only
    ("annotator", "review", False),
    ("annotator", "models", False),
    ("reviewer", "review", True),  # reviewers also review
    ("reviewer", "label", True),
    ("reviewer", "users", False),
    ("reviewer", "assign", False),
    ("admin", "users", True),  # admins do everything
    ("admin", "models", True),
    ("admin", "datasets.edit", True),
    ("nobody", "label", False),  # an unknown role may do nothing
])
def test_can(role: str, action: str, allowed: bool) -> None:
    assert users.can(role, action) is allowed


def test_an_unknown_action_is_a_bug_not_a_no() -> None:
    with pytest.raises(InvalidInput, match="action 'fly'"):
        users.can("admin", "fly")


# ---- users in the database -------------------------------------------------------------------

def test_create_verify_and_the_hash_is_argon2id(ana: users.UserInfo) -> None:
    assert (ana.name, ana.role, ana.has_password) == ("ana", "annotator", True)
    from studio.db import session_scope
    from studio.tables import User

    with session_scope() as session:
        stored = session.get(User, ana.id).password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert users.verify("ANA", PASSWORD).name == "ana"  # names are case-insensitive
    assert users.verify("ana", PASSWORD + "x") is None
    assert users.verify("nobody", PASSWORD) is None
    assert users.get_user("ana").last_login_at is not None


def test_unknown_and_password_less_users_cost_the_same_hashing_work(ana: users.UserInfo,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown name, a disabled user and an OIDC-only user all go through one argon2 verify,
    like a wrong password: the time of a refusal does not tell which names exist."""
    users.create_user(name="oidc", role="annotator", password=None)
    users.create_user(name="gone", role="annotator", password=PASSWORD)
    users.set_disabled("gone")
    real = users.HASHER
    calls: list[str] = []

    class Counting(PasswordHasher):
        def verify(self, hash, password):  # noqa: A002, ANN001, ANN201 (argon2's names)
            calls.append(hash[:9])
            return real.verify(hash, password)

    monkeypatch.setattr(users, "HASHER", Counting())
    for name in ("ana", "nobody", "oidc", "gone", "-bad name-"):
        calls.clear()
        assert users.verify(name, "wrong password") is None
        assert calls == ["$argon2id"], name
    assert users.verify("gone", PASSWORD) is None  # the right password of a disabled user: still refused


def test_a_hash_with_old_parameters_is_replaced_on_login(ana: users.UserInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    from studio.db import session_scope
    from studio.tables import User

    def stored() -> str:
        with session_scope() as session:
            return session.get(User, ana.id).password_hash

    before = stored()
    stronger = PasswordHasher(time_cost=4, memory_cost=32768, parallelism=2)
    monkeypatch.setattr(users, "HASHER", stronger)
    assert users.verify("ana", PASSWORD) is not None
    after = stored()
    assert after != before and "m=32768,t=4,p=2" in after and not stronger.check_needs_rehash(after)
    assert users.verify("ana", PASSWORD) is not None and stored() == after  # no second rehash


def test_duplicate_names_and_short_passwords_are_refused(ana: users.UserInfo) -> None:
    with pytest.raises(Conflict, match="exists already"):
        users.create_user(name="ANA", role="admin", password=PASSWORD)
    with pytest.raises(InvalidInput, match="at least 8"):
        users.create_user(name="bo", role="admin", password="short")
    with pytest.raises(InvalidInput, match="role 'boss'"):
        users.create_user(name="bo", role="boss", password=PASSWORD)
    assert [u.name for u in users.list_users()] == ["ana"]


def test_role_password_disable_remove_and_the_last_admin(ana: users.UserInfo) -> None:
    boss = users.create_user(name="boss", role="admin", password=PASSWORD)
    with pytest.raises(Conflict, match="last admin"):
        users.set_role("boss", "reviewer")
    with pytest.raises(Conflict, match="last admin"):
        users.set_disabled("boss")
    with pytest.raises(Conflict, match="last admin"):
        users.remove_user("boss")
    assert users.set_role("ana", "reviewer").role == "reviewer"
    assert users.set_role("ana", "admin").session_epoch > ana.session_epoch  # a new role ends old sessions
    users.set_role("boss", "annotator")  # ana is an admin now
    users.set_password("boss", "another password")
    assert users.verify("boss", PASSWORD) is None and users.verify("boss", "another password") is not None
    assert users.get_user("boss").session_epoch > boss.session_epoch
    users.remove_user("boss")
    with pytest.raises(NotFound, match="no user 'boss'"):
        users.get_user("boss")


def test_users_exist_turns_logins_on(studio_env: dict[str, str]) -> None:
    assert users.users_exist() is False
    users.create_user(name="root", role="admin", password=PASSWORD)
    assert users.users_exist() is True


def test_oidc_users_are_found_by_email_or_name(studio_env: dict[str, str]) -> None:
    users.create_user(name="ana", role="annotator", password=None, email="Ana.Smith@Example.com")
    users.create_user(name="bo@example.com", role="reviewer", password=None)
    assert users.user_for_email("ana.smith@example.com").name == "ana"
    assert users.user_for_email("BO@example.com").role == "reviewer"
    assert users.user_for_email("eve@example.com") is None
    assert users.verify("ana", "") is None  # no local password: no local login


# ---- throttling ------------------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failed_logins_lock_the_name_then_longer(ana: users.UserInfo) -> None:
    clock = Clock()
    throttle = users.LoginThrottle(allowed=3, window=60, lock=30, max_lock=100, clock=clock)
    for _ in range(3):
        with pytest.raises(users.LoginRefused, match="wrong user name or password"):
            users.authenticate("ana", "nope nope", client="10.0.0.7", throttle=throttle)
    with pytest.raises(users.TooManyAttempts, match="try again in 31 s") as refused:
        users.authenticate("ana", PASSWORD, client="10.0.0.8", throttle=throttle)  # even the right one, elsewhere
    assert refused.value.retry_after == pytest.approx(30)
    clock.now += 31
    assert users.authenticate("ana", PASSWORD, client="10.0.0.8", throttle=throttle).name == "ana"
    for _ in range(3):  # a client address is counted too: another name from it waits after 3 failures
        with pytest.raises(users.LoginRefused):
            users.authenticate("nobody", "nope nope", client="10.0.0.9", throttle=throttle)
    with pytest.raises(users.TooManyAttempts):
        users.authenticate("ana", PASSWORD, client="10.0.0.9", throttle=throttle)
    assert throttle.wait_for("client:10.0.0.9") == pytest.approx(30)
    clock.now += 30
    for _ in range(3):
        with pytest.raises(users.LoginRefused):
            users.authenticate("nobody", "nope nope", client="10.0.0.9", throttle=throttle)
    assert throttle.wait_for("client:10.0.0.9") == pytest.approx(60)  # the second lock is twice as long


def test_failures_outside_the_window_are_forgotten() -> None:
    clock = Clock()
    throttle = users.LoginThrottle(allowed=3, window=60, clock=clock)
    for _ in range(10):
        throttle.failed("name:x")
        clock.now += 40  # never 3 within a minute
        assert throttle.wait_for("name:x") == 0


# ---- when a login is needed ------------------------------------------------------------------

@pytest.mark.parametrize("address, users_configured, required", [
    ("127.0.0.1", False, False),  # the studio as it always was
    ("localhost", False, False),
    ("::1", False, False),
    ("127.0.0.2", False, False),  # all of 127/8 is loopback
    ("0.0.0.0", False, True),  # every interface
    ("::", False, True),
    ("192.168.1.20", False, True),  # a LAN address
    ("studio.example.com", False, True),  # a name: others may reach it
    (None, False, True),  # Streamlit without an address listens everywhere
    ("", False, True),
    ("127.0.0.1", True, True),  # once users exist: everywhere
])
def test_login_required(address: str | None, users_configured: bool, required: bool) -> None:
    assert users.login_required(bind_address=address, users_configured=users_configured) is required


def test_oidc_configuration_is_detected_from_secrets_toml(tmp_path: Path) -> None:
    def provider(text: str) -> str | None:
        file = tmp_path / "secrets.toml"
        file.write_text(text)
        return users.oidc_provider(tomllib.loads(file.read_text()))

    base = 'redirect_uri = "https://studio.example.com/oauth2callback"\ncookie_secret = "s3cr3t"\n'
    client = 'client_id = "id"\nclient_secret = "secret"\n' \
             'server_metadata_url = "https://accounts.example.com/.well-known/openid-configuration"\n'
    assert provider("[auth]\n" + base + client) == ""  # the default provider: st.login()
    assert provider("[auth]\n" + base + "[auth.google]\n" + client) == "google"  # st.login("google")
    assert provider("[auth]\n" + base) is None  # no provider
    assert provider("[auth]\n" + client) is None  # no redirect_uri / cookie_secret
    assert provider('[other]\nx = 1\n') is None
    assert provider("") is None


# ---- session tokens --------------------------------------------------------------------------

def test_session_tokens_sign_expire_and_follow_the_user(ana: users.UserInfo) -> None:
    token, expires = sessions.issue(ana, hours=1)
    assert sessions.session_user(token).name == "ana"
    claims = sessions.read(token)
    assert claims.user == "ana" and expires - claims.issued == pytest.approx(3600, abs=1)
    head, payload, signature = token.split(".")
    forged = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    for bad in (f"{head}.{forged}.{signature}", f"{head}.{payload}.{signature[::-1]}", "v2." + token[3:],
                token + ".x", "", "garbage"):
        assert sessions.session_user(bad) is None, bad
    assert sessions.read(token, now=expires + 1) is None  # expired
    other_key = b"k" * 32
    assert sessions.read(token, key=other_key) is None  # signed with another studio's key
    users.set_password("ana", "a new password")  # ends her sessions
    assert sessions.session_user(token) is None
    token, _ = sessions.issue(users.get_user("ana"), hours=1)
    users.set_disabled("ana")
    assert sessions.session_user(token) is None


def test_the_signing_key_is_made_once_and_private(studio_env: dict[str, str]) -> None:
    from studio.config import get_settings

    path = get_settings().session_key_file
    key = sessions.load_key()
    assert path.is_file() and len(key) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sessions.load_key() == key
    os.chmod(path, 0o644)
    assert sessions.load_key() == key and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".session.key")] == []  # no temp left


def test_tickets_are_single_use(ana: users.UserInfo) -> None:
    ticket = sessions.issue_ticket(ana)
    assert sessions.redeem_ticket(ticket).name == "ana"
    assert sessions.redeem_ticket(ticket) is None
    assert sessions.redeem_ticket("made-up") is None


# ---- `studio users` --------------------------------------------------------------------------

def _studio(*args: str, input: str | None = None):  # noqa: A002, ANN202 (CliRunner's name)
    from studio.cli import app

    return CliRunner().invoke(app, list(args), input=input)


def test_cli_add_prompts_twice_list_role_passwd_remove(studio_env: dict[str, str]) -> None:
    done = _studio("users", "add", "Root", "--role", "admin", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert done.exit_code == 0, done.output
    assert "added admin 'root'" in done.output and PASSWORD not in done.output
    mismatch = _studio("users", "add", "ana", input=f"{PASSWORD}\nsomething else\n{PASSWORD}\n{PASSWORD}\n")
    assert mismatch.exit_code == 0 and "do not match" in mismatch.output.lower()  # asked again
    done = _studio("users", "add", "bo", "--role", "reviewer", "--password-stdin", input="another password\n")
    assert done.exit_code == 0, done.output
    listed = _studio("users", "list").output
    assert [line.split()[:2] for line in listed.splitlines()] == [["ana", "annotator"], ["bo", "reviewer"],
                                                                  ["root", "admin"]]
    assert _studio("users", "role", "ana", "reviewer").exit_code == 0
    assert _studio("users", "passwd", "ana", "--password-stdin", input="brand new password\n").exit_code == 0
    assert users.verify("ana", "brand new password").role == "reviewer"
    assert _studio("users", "remove", "bo", "--yes").exit_code == 0
    assert [u.name for u in users.list_users()] == ["ana", "root"]


@pytest.mark.parametrize("args, stdin, message", [
    (["users", "add", "bad name", "--password-stdin"], "long enough pw\n", "expected 1-64 characters"),  # bad name
    (["users", "add", "ana", "--role", "boss", "--password-stdin"], "long enough pw\n", "role 'boss'"),  # bad role
    (["users", "add", "ana", "--password-stdin"], "short\n", "at least 8"),  # short password
    (["users", "role", "nobody", "admin"], None, "no user 'nobody'"),  # unknown user
])
def test_cli_refusals_are_one_line(studio_env: dict[str, str], args: list[str], stdin: str | None,
                                   message: str) -> None:
    done = _studio(*args, input=stdin)
    assert done.exit_code != 0 and isinstance(done.exception, StudioError) and message in str(done.exception)
    assert users.list_users() == []


def test_serve_beyond_localhost_without_users_refuses_and_says_how(studio_env: dict[str, str]) -> None:
    done = _studio("serve", "--host", "0.0.0.0", "--port", "1")
    assert done.exit_code != 0 and isinstance(done.exception, StudioError)
    assert "studio users add NAME --role admin" in str(done.exception)
