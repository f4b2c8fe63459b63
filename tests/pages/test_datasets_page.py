"""Datasets page (AppTest): lists datasets with stats, queues imports and exports as jobs."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from studio.jobs import list_jobs
from tests.pages.conftest import APP


def _open() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def test_lists_the_dataset_with_its_stats(demo_studio: dict[str, str]) -> None:
    at = _open()
    assert at.title[0].value == "Datasets"
    table = at.dataframe[0].value
    assert list(table["name"]) == ["shelves"] and int(table["images"][0]) == 4
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images"] == "4" and int(metrics["Objects"]) > 4


def test_export_button_queues_an_export_job(demo_studio: dict[str, str]) -> None:
    at = _open()
    at.selectbox(key="export_format").set_value("yolo")
    next(b for b in at.button if b.label == "Export").click()
    at.run()
    assert not at.exception, at.exception
    jobs = list_jobs(kind="export")
    assert len(jobs) == 1 and jobs[0].params["format"] == "yolo" and jobs[0].params["dataset"] == "shelves"
    assert at.session_state["export_job"] == jobs[0].id


def test_import_from_a_path_queues_an_import_job(demo_studio: dict[str, str], tmp_path: Path) -> None:
    at = _open()
    at.text_input[1].set_value("new_set")  # "Into dataset"
    at.text_input[2].set_value(str(tmp_path))  # "…or a path"
    next(b for b in at.button if b.label == "Import").click()
    at.run()
    assert not at.exception, at.exception
    jobs = list_jobs(kind="import")
    assert len(jobs) == 1 and jobs[0].params["dataset"] == "new_set"
    assert any("queued as job" in s.value for s in at.success)


def test_import_without_a_source_says_what_is_missing(demo_studio: dict[str, str]) -> None:
    at = _open()
    next(b for b in at.button if b.label == "Import").click()
    at.run()
    assert any("choose a file to upload or type a path" in e.value for e in at.error)
    assert list_jobs(kind="import") == []


def test_snapshot_button_creates_a_version(demo_studio: dict[str, str]) -> None:
    at = _open()
    next(b for b in at.button if b.label == "Snapshot now").click()
    at.run()
    assert any("shelves v1" in s.value for s in at.success)
