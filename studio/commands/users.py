"""`studio users add|list|passwd|role|email|disable|enable|remove` and `studio assign ...`.

Passwords are asked twice at a prompt that does not echo them, or read from standard input
with ``--password-stdin`` (one line; for scripts: ``printf '%s\\n' "$PW" | studio users add ana
--role annotator --password-stdin``). They never appear on the command line.
"""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from studio.commands.common import ensure_db, print_json

NameArg = Annotated[str, typer.Argument(help="user name (lower case: letters, digits, . _ @ + -)")]
StdinOpt = Annotated[bool, typer.Option("--password-stdin", help="read the password from standard input "
                                        "(one line) instead of asking twice")]


def _password(from_stdin: bool) -> str:
    from studio.users import check_password

    if from_stdin:
        line = sys.stdin.readline()
        return check_password(line.rstrip("\r\n"))
    password = typer.prompt("Password", hide_input=True, confirmation_prompt="Repeat the password")
    return check_password(password)


def _add(name: NameArg,
         role: Annotated[str, typer.Option("--role", help="annotator | reviewer | admin")] = "annotator",
         email: Annotated[str, typer.Option("--email", help="e-mail an OIDC login is matched against")] = "",
         password_stdin: StdinOpt = False,
         no_password: Annotated[bool, typer.Option("--no-password", help="no local password: the user logs in "
                                                   "through the configured OIDC provider only")] = False) -> None:
    """Add a user (the first admin turns logins on: from then on every address needs one)."""
    from studio.users import check_name, check_role, create_user

    ensure_db(create=True)
    check_name(name), check_role(role)  # refuse a bad name before asking for a password
    password = None if no_password else _password(password_stdin)
    user = create_user(name=name, role=role, password=password, email=email)
    typer.echo(f"added {user.role} {user.name!r}" + ("" if user.has_password else " (OIDC login only)"))


def _list(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """Users with their role, state and last login."""
    from studio.users import list_users

    ensure_db()
    users = list_users()
    if as_json:
        print_json([{k: v for k, v in u.__dict__.items() if k != "session_epoch"} for u in users])
        return
    if not users:
        typer.echo("no users: the studio runs without logins on localhost; `studio users add NAME --role admin` "
                   "turns logins on")
        return
    for u in users:
        state = "disabled" if u.disabled else "active"
        login = f"{u.last_login_at:%Y-%m-%d %H:%M}" if u.last_login_at else "never"
        typer.echo(f"{u.name:32} {u.role:9} {state:8} last login {login}" + (f"  <{u.email}>" if u.email else "")
                   + ("" if u.has_password else "  (OIDC only)"))


def _passwd(name: NameArg, password_stdin: StdinOpt = False) -> None:
    """Set a new password (the user's open sessions end)."""
    from studio.users import get_user, set_password

    ensure_db()
    get_user(name)
    user = set_password(name, _password(password_stdin))
    typer.echo(f"new password for {user.name!r}; their open sessions ended")


def _role(name: NameArg, role: Annotated[str, typer.Argument(help="annotator | reviewer | admin")]) -> None:
    """Give a user another role (refused for the last admin)."""
    from studio.users import set_role

    ensure_db()
    user = set_role(name, role)
    typer.echo(f"{user.name!r} is now {user.role}")


def _email(name: NameArg, email: Annotated[str, typer.Argument(help="e-mail of their OIDC login ('' = none)")]) -> None:
    """Set the e-mail an OIDC login is matched against."""
    from studio.users import set_email

    ensure_db()
    user = set_email(name, email)
    typer.echo(f"{user.name!r}: e-mail {user.email or '(none)'}")


def _disable(name: NameArg) -> None:
    """Stop a user from logging in (their open sessions end; their work stays)."""
    from studio.users import set_disabled

    ensure_db()
    typer.echo(f"{set_disabled(name, True).name!r} disabled")


def _enable(name: NameArg) -> None:
    """Let a disabled user log in again."""
    from studio.users import set_disabled

    ensure_db()
    typer.echo(f"{set_disabled(name, False).name!r} enabled")


def _remove(name: NameArg, yes: Annotated[bool, typer.Option("--yes", help="do not ask")] = False) -> None:
    """Delete a user (their leases and assignments too; their annotations keep their name)."""
    from studio.users import get_user, remove_user

    ensure_db()
    user = get_user(name)
    if not yes:
        typer.confirm(f"remove {user.role} {user.name!r}?", abort=True)
    remove_user(name)
    typer.echo(f"removed {user.name!r}")


def _assign(dataset: Annotated[str, typer.Argument(help="dataset name")], user: NameArg,
            split: Annotated[str, typer.Option(help="only this split")] = "",
            status: Annotated[str, typer.Option(help="only images in this status (unlabelled, draft, review, done)")] = "",
            pattern: Annotated[str, typer.Option(help="only file names matching this glob, e.g. 'aisle3/*'")] = "",
            first: Annotated[Optional[int], typer.Option(help="first position (1-based, import order)")] = None,
            last: Annotated[Optional[int], typer.Option(help="last position (inclusive)")] = None,
            note: Annotated[str, typer.Option(help="a note for the user")] = "") -> None:
    """Give USER the images of DATASET that match every option given (their "next to do" follows it)."""
    from studio.leases import assign

    ensure_db()
    made = assign(dataset=dataset, user=user, split=split, status=status, pattern=pattern, first=first, last=last,
                  note=note, by="cli")
    typer.echo(f"assignment {made.id}: {made.user} gets {made.describe()} of {made.dataset}")


def _assignments(dataset: Annotated[Optional[str], typer.Argument(help="dataset name (default: all)")] = None) -> None:
    """List assignments."""
    from studio.leases import list_assignments

    ensure_db()
    rows = list_assignments(dataset=dataset)
    if not rows:
        typer.echo("no assignments: every user's 'next to do' covers every image")
    for a in rows:
        typer.echo(f"{a.id:5}  {a.dataset:20} {a.user:24} {a.describe()}" + (f"  ({a.note})" if a.note else ""))


def _unassign(assignment_id: Annotated[int, typer.Argument(help="assignment id (`studio users assignments`)")]) -> None:
    """Delete an assignment."""
    from studio.leases import unassign

    ensure_db()
    unassign(assignment_id)
    typer.echo(f"assignment {assignment_id} removed")


def register(app: typer.Typer) -> None:
    """Add the ``users`` sub-app (users and assignments) to ``app``."""
    users_app = typer.Typer(help="Users and roles of a team (logins), and who labels which images.",
                            no_args_is_help=True)
    app.add_typer(users_app, name="users")
    for name, body in (("add", _add), ("list", _list), ("passwd", _passwd), ("role", _role), ("email", _email),
                       ("disable", _disable), ("enable", _enable), ("remove", _remove), ("assign", _assign),
                       ("assignments", _assignments), ("unassign", _unassign)):
        users_app.command(name)(body)
