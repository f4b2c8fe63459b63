"""Where the studio lives: STUDIO_HOME anchors every relative location; the database is only
created on purpose (`studio init` / `studio demo`), never as an empty file in some folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio import config
from studio.config import Settings, anchor_sqlite_url
from studio.errors import NotFound
from tests.conftest import REPO, reset_studio_caches

HOME = Path("/srv/studio")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No STUDIO_* variables; the current folder is an unrelated empty folder."""
    import os

    for key in list(os.environ):
        if key.startswith("STUDIO_"):
            monkeypatch.delenv(key)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return elsewhere


@pytest.mark.parametrize(("url", "anchored"), [
    ("sqlite:///annotations.db", "sqlite:////srv/studio/annotations.db"),  # the default: inside the home
    ("sqlite:///db/a.db?mode=rw", "sqlite:////srv/studio/db/a.db?mode=rw"),  # query kept
    ("sqlite+pysqlite:///a.db", "sqlite+pysqlite:////srv/studio/a.db"),  # driver spelled out
    ("sqlite:////var/a.db", "sqlite:////var/a.db"),  # absolute: as given
    ("sqlite://", "sqlite://"),  # in memory
    ("sqlite:///:memory:", "sqlite:///:memory:"),
    ("postgresql://u:p@db:5432/studio", "postgresql://u:p@db:5432/studio"),  # not a file
])
def test_relative_sqlite_urls_are_anchored_at_the_home(url: str, anchored: str) -> None:
    assert anchor_sqlite_url(url, HOME) == anchored


def test_defaults_live_in_the_checkout_whatever_the_current_folder(clean_env: Path) -> None:
    settings = Settings()
    assert settings.home == REPO and "checkout" in settings.home_origin
    assert settings.db_url == f"sqlite:///{REPO / 'annotations.db'}"
    assert settings.data_dir == REPO / "data" and settings.models_dir == REPO / "models"
    assert settings.resolved_queue_url == f"sqlite:///{REPO / 'data' / 'queue.db'}"


def test_studio_home_anchors_relative_values_and_leaves_absolute_ones(clean_env: Path,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    monkeypatch.setenv("STUDIO_HOME", "../home")  # relative: taken from the current folder
    monkeypatch.setenv("STUDIO_DATA_DIR", "my-data")
    monkeypatch.setenv("STUDIO_MODELS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("STUDIO_QUEUE_URL", "sqlite:///q/queue.db")
    settings = Settings()
    home = tmp_path / "home"
    assert (settings.home, settings.home_origin) == (home, "STUDIO_HOME")
    assert settings.db_url == f"sqlite:///{home / 'annotations.db'}"
    assert settings.data_dir == home / "my-data" and settings.store_dir == home / "my-data" / "store"
    assert settings.models_dir == tmp_path / "weights"
    assert settings.resolved_queue_url == f"sqlite:///{home / 'q' / 'queue.db'}"


def test_without_a_checkout_the_home_is_the_per_user_folder(clean_env: Path, monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    """An installed wheel has no server.py beside the package: the per-user folder is the home."""
    monkeypatch.setattr(config, "PACKAGE_DIR", tmp_path / "site-packages" / "studio")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    settings = Settings()
    assert settings.home == tmp_path / "xdg" / "studio" and "per-user" in settings.home_origin
    assert settings.db_url == f"sqlite:///{tmp_path / 'xdg' / 'studio' / 'annotations.db'}"


def test_folder_env_makes_a_self_contained_studio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in config.folder_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.home == tmp_path.resolve() and settings.data_dir == tmp_path / "data"
    assert settings.db_url == f"sqlite:///{tmp_path / 'annotations.db'}"


@pytest.fixture
def home_env(clean_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # noqa: ANN201
    home = tmp_path / "home"
    monkeypatch.setenv("STUDIO_HOME", str(home))
    reset_studio_caches()
    yield home
    reset_studio_caches()


def test_a_missing_database_is_reported_with_where_the_studio_looked(home_env: Path, clean_env: Path) -> None:
    from studio.db import database_status, open_database

    problem = database_status()
    assert problem == (f"no studio database at {home_env / 'annotations.db'}; run `studio init` (or `make run`) "
                       f"there, or set STUDIO_HOME / STUDIO_DB_URL (home: {home_env}, STUDIO_HOME)")
    with pytest.raises(NotFound, match="no studio database at"):
        open_database(create=False)
    assert not home_env.exists() and list(clean_env.iterdir()) == []  # nothing created anywhere


def test_an_empty_database_file_has_no_studio_tables(home_env: Path) -> None:
    """An empty annotations.db (what older versions left in random folders) is not a studio."""
    from studio.db import database_status

    home_env.mkdir()
    (home_env / "annotations.db").touch()
    assert "has no studio tables yet" in database_status()
    assert database_status(connect=False) is None  # the cheap check only looks for the file


def test_create_makes_the_database_and_later_opens_only_upgrade(home_env: Path) -> None:
    from studio.db import current_revision, database_status, open_database

    open_database(create=True)
    assert (home_env / "annotations.db").is_file() and current_revision() is not None
    assert database_status() is None
    open_database(create=False)  # exists: upgraded in place, no error
