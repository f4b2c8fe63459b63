"""A throw-away PostgreSQL server for the test suite (``STUDIO_TEST_DB=postgres``).

The suite runs on SQLite by default; with ``STUDIO_TEST_DB=postgres`` every studio a test
builds (``tests.conftest.studio_env`` / ``studio_env_vars`` / ``isolated_studio``) gets its own
database on one server started for the session: ``initdb`` + ``pg_ctl`` from Debian's
``postgresql`` package into a temp folder on a free loopback port (as the ``postgres`` user
when the suite runs as root: the server refuses root), fsync off, stopped and deleted at the
end. ``STUDIO_TEST_POSTGRES_URL`` (an admin URL, e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``)
uses an existing server instead. A test's database is created from a migrated template (the
``studio_env`` fixture: "a migrated, empty studio") or empty (a studio the test initialises
itself, e.g. through ``studio init``).
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ENV = "STUDIO_TEST_DB"  # "sqlite" (default) or "postgres"
URL_ENV = "STUDIO_TEST_POSTGRES_URL"  # an existing server's admin URL (optional)
TEMPLATE = "studio_template"  # migrated once per session; test databases are copied from it


class NotInstalled(RuntimeError):
    """No PostgreSQL binaries here (the tests that need them skip; CI fails on a skip)."""


def wanted() -> bool:
    """Whether this run of the suite puts its studios on PostgreSQL."""
    return os.environ.get(ENV, "sqlite").strip().lower() in ("postgres", "postgresql", "pg")


def _bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    return Path(found).parent if found and (Path(found).parent / "initdb").exists() else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One server for the session: :meth:`database` hands out databases, :meth:`stop` ends it."""

    def __init__(self) -> None:
        self._folder: Path | None = None
        self._bindir: Path | None = None
        self._created: list[str] = []
        if os.environ.get(URL_ENV):
            self.admin_url = os.environ[URL_ENV]
        else:
            self.admin_url = self._start()
        self._template_ready = False

    # -- server ------------------------------------------------------------------------------
    def _as_server_user(self, args: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return args
        return ["runuser", "-u", "postgres", "--", *args]

    def _start(self) -> str:
        bindir = _bindir()
        if bindir is None:
            raise NotInstalled("PostgreSQL is not installed (Debian: apt-get install postgresql; .ci/run installs it)")
        self._bindir = bindir
        folder = Path(tempfile.mkdtemp(prefix="studio-pg-"))
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(folder, user.pw_uid, user.pw_gid)
        self._folder = folder
        port = _free_port()
        subprocess.run(self._as_server_user([str(bindir / "initdb"), "-D", str(folder / "data"), "-A", "trust",
                                             "-U", "postgres", "-E", "UTF8", "--no-sync", "--locale", "C"]),
                       check=True, capture_output=True)
        options = (f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
                   "-c full_page_writes=off -c max_connections=200")
        subprocess.run(self._as_server_user([str(bindir / "pg_ctl"), "-D", str(folder / "data"), "-o", options,
                                             "-l", str(folder / "server.log"), "-w", "-t", "60", "start"]),
                       check=True, capture_output=True)
        return f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"

    def stop(self) -> None:
        if self._folder is None or self._bindir is None:
            self._drop_created()
            return
        subprocess.run(self._as_server_user([str(self._bindir / "pg_ctl"), "-D", str(self._folder / "data"),
                                             "-m", "immediate", "-w", "stop"]), capture_output=True)
        shutil.rmtree(self._folder, ignore_errors=True)
        self._folder = None

    # -- databases ---------------------------------------------------------------------------
    def _admin(self, sql: str) -> None:
        import psycopg

        url = self.admin_url.replace("postgresql+psycopg://", "postgresql://")
        for attempt in range(50):
            try:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(sql)
                return
            except psycopg.errors.ObjectInUse:  # the template is busy for a moment after migrating
                time.sleep(0.1 * (attempt + 1))
        raise RuntimeError(f"PostgreSQL kept refusing: {sql}")

    def url_of(self, name: str) -> str:
        return self.admin_url.rsplit("/", 1)[0] + f"/{name}"

    def _template(self) -> None:
        if self._template_ready:
            return
        self._admin(f"DROP DATABASE IF EXISTS {TEMPLATE}")
        self._admin(f"CREATE DATABASE {TEMPLATE}")
        from studio.db import migrate

        migrate(self.url_of(TEMPLATE))  # its engine is disposed after: the template has no connection left
        self._template_ready = True

    def database(self, root: Path, *, migrated: bool) -> str:
        """The URL of the database of the studio rooted at ``root``: one per root, created on
        first use (from the migrated template when ``migrated``, else empty); later calls for the
        same root (a CLI child of a fixture's studio) get the same database."""
        name = "t_" + hashlib.sha1(str(Path(root).resolve()).encode()).hexdigest()[:20]
        if name not in self._created:
            if migrated:
                self._template()
            self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            self._admin(f"CREATE DATABASE {name}" + (f" TEMPLATE {TEMPLATE}" if migrated else ""))
            self._created.append(name)
        return self.url_of(name)

    def drop(self, url: str) -> None:
        """Drop a database handed out by :meth:`database` (its connections are ended)."""
        name = url.rsplit("/", 1)[-1]
        if name in self._created:
            self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            self._created.remove(name)

    def _drop_created(self) -> None:
        for name in list(self._created):
            self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self._created.clear()


_server: PostgresServer | None = None


def server() -> PostgresServer:
    """The session's server (started on first use)."""
    global _server
    if _server is None:
        _server = PostgresServer()
    return _server


def stop() -> None:
    global _server
    if _server is not None:
        _server.stop()
        _server = None
