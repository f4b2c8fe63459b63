"""Database: SQLite pragmas, migrations from the first revision on, schema matches the models."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import studio.tables  # noqa: F401
from studio.db import alembic_config, current_revision, make_engine, migrate


def head_revision() -> str:
    """The newest revision among the migration scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def test_sqlite_uses_wal_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_head_schema_matches_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    migrate(url)
    with make_engine(url).connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert diff == [], f"models and migrations disagree; write a migration: {diff}"


def test_existing_database_upgrades_in_place_keeping_its_data(tmp_path: Path) -> None:
    """A database made by the first revision (datasets, images, annotations) gains the later
    tables when migrated, and keeps every row it had."""
    url = f"sqlite:///{tmp_path / 'annotations.db'}"
    migrate(url, "0001")
    assert current_revision(url) == "0001"
    engine = make_engine(url)
    with engine.begin() as connection:
        tables = set(sa.inspect(connection).get_table_names())
        assert "job" not in tables and "annotation" in tables
        connection.exec_driver_sql("INSERT INTO dataset (id, name, description, created_at) "
                                   "VALUES (1, 'old', '', '2025-01-01 00:00:00')")
        connection.exec_driver_sql("INSERT INTO labelclass (id, dataset_id, name, color, \"index\") "
                                   "VALUES (1, 1, 'can', '#ff0000', 1)")
        connection.exec_driver_sql(
            "INSERT INTO image (id, dataset_id, content_hash, file_name, stored_path, width, height, split, created_at)"
            " VALUES (1, 1, 'abc', 'a.jpg', 'store/a.jpg', 4, 3, 'train', '2025-01-01 00:00:00')")
        connection.exec_driver_sql(
            "INSERT INTO annotation (image_id, class_id, rle, bbox, area, iscrowd, source, status, author, "
            "seconds_spent, created_at, updated_at) VALUES (1, 1, '{\"size\": [3, 4], \"counts\": \"0<\"}', "
            "'[0, 0, 4, 3]', 12, 0, 'manual', 'accepted', 'ann', 3.5, '2025-01-01 00:00:00', '2025-01-01 00:00:00')")
    engine.dispose()

    migrate(url)

    assert current_revision(url) == head_revision()
    with make_engine(url).connect() as connection:
        tables = set(sa.inspect(connection).get_table_names())
        assert {"job", "datasetversion", "versionimage", "versionannotation", "modelversion", "evaluation"} <= tables
        review = connection.exec_driver_sql("SELECT review_requested, review_note FROM image WHERE id = 1").one()
        assert tuple(review) == (0, "")  # columns added later get their defaults on old rows
        row = connection.exec_driver_sql("SELECT a.author, a.seconds_spent, d.name FROM annotation a "
                                         "JOIN image i ON i.id = a.image_id JOIN dataset d ON d.id = i.dataset_id").one()
        assert tuple(row) == ("ann", 3.5, "old")


def test_foreign_keys_cascade_deletes(studio_env: dict[str, str]) -> None:
    from studio.db import session_scope
    from studio.tables import Dataset, Image

    with session_scope() as session:
        dataset = Dataset(name="x")
        session.add(dataset)
        session.flush()
        session.add(Image(dataset_id=dataset.id, content_hash="h", file_name="f", stored_path="p", width=1, height=1))
    with session_scope() as session:
        session.delete(session.get(Dataset, dataset.id))
    with session_scope() as session:
        assert session.exec(sa.select(sa.func.count()).select_from(Image)).one()[0] == 0
