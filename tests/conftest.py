"""Shared fixtures: an isolated studio (own database, queue, data and model dirs) per test."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _share_the_cores() -> None:
    """Under pytest-xdist (``make test`` runs ``-n``), give each test process its share of the
    cores for torch / OpenMP (and the processes it starts, through the environment): two
    processes with a thread per core each oversubscribe the machine, and torch's spinning
    threads then make CPU-bound tests 2-5x slower than alone."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        threads = str(max(1, (os.cpu_count() or 1) // workers))
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(name, threads)


_share_the_cores()  # before anything imports torch

from studio.config import folder_env  # noqa: E402
from tests import postgres  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"
WorkerFactory = Callable[[], subprocess.Popen[bytes]]


def reset_studio_caches() -> None:
    """Settings, engines and queues are cached per process; tests that change env clear them."""
    from studio.config import get_settings
    from studio.db import _engine_for

    get_settings.cache_clear()
    _engine_for.cache_clear()
    try:
        from studio.jobs import get_huey

        get_huey.cache_clear()
    except (ImportError, AttributeError):
        pass


def studio_env_vars(root: Path, *, migrated: bool = False) -> dict[str, str]:
    """The STUDIO_* variables of an isolated studio rooted at ``root`` (``folder_env``). Its
    database is a SQLite file in ``root``, or with ``STUDIO_TEST_DB=postgres`` a database of its
    own on the session's PostgreSQL server (tests/postgres.py; ``migrated``: copied from the
    migrated template, else empty)."""
    env = folder_env(root)
    if postgres.wanted():
        try:
            env["STUDIO_DB_URL"] = postgres.server().database(root, migrated=migrated)
        except postgres.NotInstalled as exc:
            pytest.skip(str(exc))
    return env


def _drop_database(env: dict[str, str]) -> None:
    if postgres.wanted():
        postgres.server().drop(env["STUDIO_DB_URL"])


@pytest.fixture
def studio_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A migrated, empty studio in ``tmp_path``; yields its environment variables."""
    env = studio_env_vars(tmp_path, migrated=True)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_studio_caches()
    from studio.db import migrate

    migrate()
    yield env
    reset_studio_caches()
    _drop_database(env)


@pytest.fixture
def start_worker(studio_env: dict[str, str], tmp_path: Path) -> Iterator[WorkerFactory]:
    """Start real worker processes (2 threads each) on this test's studio; all are stopped
    (SIGTERM, then SIGKILL) at teardown and their log is printed (shown on failure)."""
    from backend.worker import spawn_worker

    log_file = tmp_path / "worker.log"
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        started.append(spawn_worker(2, log_file=log_file))
        return started[-1]

    yield start
    for process in started:
        process.terminate()
    for process in started:
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if log_file.exists():
        print(log_file.read_text()[-6000:])


@contextmanager
def isolated_studio(root: Path) -> Iterator[Path]:
    """An isolated, migrated studio in ``root`` for the duration of the block (module-scoped
    fixtures use it: building models is the slow part, so a module shares them)."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in studio_env_vars(root, migrated=True).items():
            patch.setenv(key, value)
        reset_studio_caches()
        from studio.db import migrate

        migrate()
        try:
            yield root
        finally:
            from studio.inference import clear_cache

            clear_cache()
    reset_studio_caches()


@pytest.fixture(scope="module")
def module_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An isolated studio shared by one test module (building models is the slow part)."""
    with isolated_studio(tmp_path_factory.mktemp("studio")) as root:
        yield root


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """``../shared/fixtures`` beside the repo (real public data); skip when absent."""
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"{SHARED_FIXTURES} is absent (real-data fixtures live beside the repo)")
    return SHARED_FIXTURES


DB_FIXTURES = {"studio_env", "module_studio", "start_worker", "live_studio"}  # fixtures that build a studio
DB_HELPERS = {"studio_env_vars", "isolated_studio", "running_studio"}  # helpers a test module builds one with


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark ``db`` every test that touches a studio database (through a fixture, or a helper its
    module imports): the PostgreSQL pass of ``make test`` runs those (``-m db``)."""
    for item in items:
        module = getattr(item, "module", None)
        if DB_FIXTURES & set(getattr(item, "fixturenames", ())) or (module and DB_HELPERS & set(vars(module))):
            item.add_marker(pytest.mark.db)


def pytest_report_header(config: pytest.Config) -> str:
    return f"studio databases: {'PostgreSQL (STUDIO_TEST_DB=postgres)' if postgres.wanted() else 'SQLite files'}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI every real part is installed, so a skipped test means something is missing: fail.
    Stops the session's PostgreSQL server, if one was started."""
    postgres.stop()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if os.environ.get("CI") and skipped and exitstatus == 0:
        if reporter:
            reporter.write_line(f"CI: {skipped} test(s) skipped; in CI a skip counts as a failure", red=True)
        session.exitstatus = 1
