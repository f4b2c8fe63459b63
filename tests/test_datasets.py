"""Datasets in the database: ingest, duplicates, stats, and immutable snapshots."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from studio.datasets import dataset_stats, doc_from_dataset, doc_from_version, get_dataset, ingest_doc, snapshot
from studio.db import session_scope
from studio.demo import DEMO_CLASSES, generate_demo
from studio.errors import InvalidInput, NotFound
from studio.formats.records import DatasetDoc
from studio.tables import Annotation, LabelClass


@pytest.fixture
def demo_doc(tmp_path: Path) -> DatasetDoc:
    return generate_demo(tmp_path / "demo", n_images=4, seed=3)


def test_ingest_writes_images_classes_and_masks(studio_env: dict[str, str], demo_doc: DatasetDoc) -> None:
    report = ingest_doc(demo_doc, dataset="shelves")
    assert report.images_added == 4 and report.annotations_added == len(demo_doc.annotations)
    assert sorted(report.classes_added) == sorted(c.name for c in DEMO_CLASSES)
    with session_scope() as session:
        classes = {c.name: (c.index, c.color) for c in session.exec(select(LabelClass))}
        back = doc_from_dataset(session, "shelves")
    assert classes == {c.name: (c.index, c.color) for c in DEMO_CLASSES}
    assert [a.rle for a in back.annotations] == [a.rle for a in demo_doc.annotations]


def test_reimport_reports_duplicates_and_adds_nothing(studio_env: dict[str, str], demo_doc: DatasetDoc) -> None:
    ingest_doc(demo_doc, dataset="shelves")
    again = ingest_doc(demo_doc, dataset="shelves")
    assert again.images_added == 0 and again.annotations_added == 0
    assert len(again.duplicates) == 4 and "already stored" in again.duplicates[0]


def test_unknown_class_in_annotations_is_refused(studio_env: dict[str, str], demo_doc: DatasetDoc) -> None:
    demo_doc.annotations[0].class_name = "spaceship"
    with pytest.raises(InvalidInput, match="spaceship"):
        ingest_doc(demo_doc, dataset="shelves")
    with session_scope() as session, pytest.raises(NotFound, match="no dataset named 'shelves'"):
        get_dataset(session, "shelves")


def test_snapshot_is_immutable_and_excludes_drafts(studio_env: dict[str, str], demo_doc: DatasetDoc) -> None:
    ingest_doc(demo_doc, dataset="shelves")
    v1 = snapshot("shelves", note="first")
    assert (v1.version, v1.image_count, v1.annotation_count) == (1, 4, len(demo_doc.annotations))
    with session_scope() as session:  # edit the live dataset: delete one object, demote another to draft
        rows = session.exec(select(Annotation).order_by(Annotation.id)).all()
        session.delete(rows[0])
        rows[1].status = "draft"
    with session_scope() as session:
        frozen = doc_from_version(session, "shelves", 1)
        live = doc_from_dataset(session, "shelves")
    assert [a.rle for a in frozen.annotations] == [a.rle for a in demo_doc.annotations]
    assert len(live.annotations) == len(demo_doc.annotations) - 2
    v2 = snapshot("shelves")
    assert (v2.version, v2.annotation_count) == (2, len(demo_doc.annotations) - 2)
    assert [v["version"] for v in dataset_stats("shelves").versions] == [1, 2]


def test_snapshot_of_an_empty_dataset_is_refused(studio_env: dict[str, str]) -> None:
    from studio.db import session_scope as scope
    from studio.datasets import get_or_create_dataset

    with scope() as session:
        get_or_create_dataset(session, "empty")
    with pytest.raises(InvalidInput, match="no images"):
        snapshot("empty")


def test_stats_count_splits_classes_and_sources(studio_env: dict[str, str], demo_doc: DatasetDoc) -> None:
    ingest_doc(demo_doc, dataset="shelves")
    stats = dataset_stats("shelves")
    assert stats.total_images == 4 and sum(stats.images_by_split.values()) == 4
    assert sum(stats.annotations_by_class.values()) == len(demo_doc.annotations)
    assert stats.annotations_by_source == {"manual": len(demo_doc.annotations)}
    assert stats.labelled_images == 4
