"""Database engine (SQLite in WAL mode with foreign keys on, or PostgreSQL through psycopg 3),
sessions and migrations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from studio.config import get_settings
from studio.errors import NotFound

RowT = TypeVar("RowT")

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 (DB-API types)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; for SQLite: WAL, foreign keys, a busy timeout, parent dirs created."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(postgres_driver(url), pool_pre_ping=True, pool_size=10, max_overflow=20)


def postgres_driver(url: str) -> str:
    """``postgresql://`` and ``postgres://`` URLs with the installed driver (psycopg 3) named,
    so SQLAlchemy does not look for psycopg2; other URLs unchanged."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


@lru_cache(maxsize=4)
def _engine_for(url: str) -> Engine:
    return make_engine(url)


def get_engine() -> Engine:
    """The engine of the configured database (one per URL per process)."""
    return _engine_for(get_settings().db_url)


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session whose work is one transaction: committed on success, rolled back on error."""
    with Session(get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def get_row(session: Session, model: type[RowT], key: Any, missing: str) -> RowT:
    """``session.get(model, key)``; NotFound(``missing``) when there is no such row."""
    row = session.get(model, key)
    if row is None:
        raise NotFound(missing)
    return row


def alembic_config(url: str | None = None):  # noqa: ANN201 (alembic type imported lazily)
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url or get_settings().db_url)
    return config


def migrate(url: str | None = None, revision: str = "head") -> None:
    """Create or upgrade the database in place to ``revision`` (alembic)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (``sqlite:////abs/a.db`` -> ``/abs/a.db``); None for in-memory
    SQLite and for other databases."""
    scheme, sep, rest = url.partition(":///")
    path = rest.partition("?")[0]
    if not sep or not scheme.startswith("sqlite") or not path or path.startswith((":memory:", "file:")):
        return None
    return Path(path)


def _where(url: str) -> str:
    """Where the studio looked, for messages: the SQLite file, else the URL without its password."""
    from sqlalchemy.engine import make_url

    file = sqlite_file(url)
    if file is not None:
        return str(file)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as given
        return url


def database_status(url: str | None = None, *, connect: bool = True) -> str | None:
    """None when the studio database exists, else a message for people that says where the studio
    looked and how to point it elsewhere. Never creates anything: a SQLite file is only looked
    at; other databases (and existing SQLite files, with ``connect``) are asked for their
    alembic revision (no revision = no studio tables yet). ``connect=False`` only checks that a
    SQLite file exists (cheap enough for every page run)."""
    settings = get_settings()
    url = url or settings.db_url
    fix = ("run `studio init` (or `make run`) there, or set STUDIO_HOME / STUDIO_DB_URL "
           f"(home: {settings.home}, {settings.home_origin})")
    file = sqlite_file(url)
    if file is not None and not file.is_file():
        return f"no studio database at {file}; {fix}"
    if (file is None and url.startswith("sqlite")) or not connect:
        return None  # in-memory SQLite: nothing to find; or only the file was to be checked
    from sqlalchemy.exc import SQLAlchemyError

    try:
        revision = current_revision(url)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        return f"cannot open the studio database {_where(url)} ({reason}); {fix}"
    if revision is None:
        return f"the database {_where(url)} has no studio tables yet; {fix}"
    return None


def open_database(*, create: bool) -> None:
    """Make the configured database ready for a command: with ``create``, create or upgrade it
    (``studio init``, ``studio demo``); without, upgrade an existing one and raise ``NotFound``
    (where it looked, how to fix it) when there is none -- never an empty file in some folder."""
    if not create:
        problem = database_status()
        if problem is not None:
            raise NotFound(problem)
    migrate()


def current_revision(url: str | None = None) -> str | None:
    """The alembic revision the database is at (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    engine = _engine_for(url or get_settings().db_url)
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
