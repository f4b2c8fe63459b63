"""Datasets page (AppTest): lists datasets with stats, manages classes, queues imports and exports as jobs."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from studio.classes import class_summaries
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
    next(t for t in at.text_input if t.label == "Into dataset").set_value("new_set")
    next(t for t in at.text_input if t.label == "…or a path on this machine").set_value(str(tmp_path))
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
    assert any("Saved as shelves (data v1)" in s.value for s in at.success)
    next(b for b in at.button if b.label == "Snapshot now").click()
    at.run()  # nothing changed: the same version, named as a dataset version
    assert any("Unchanged since shelves (data v1)" in s.value for s in at.success)


# ---- the class manager (Classes tab) ------------------------------------------------------

def _class_id(name: str) -> int:
    return next(c.id for c in class_summaries(dataset="shelves") if c.name == name)


def _click(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click()
    at.run()
    assert not at.exception, at.exception
    return at


def test_class_table_shows_colours_keys_and_use(demo_studio: dict[str, str]) -> None:
    at = _open()
    table = next(d.value for d in at.dataframe if "colour" in d.value.columns)
    assert list(table["class"]) == ["box", "jar", "bottle", "can", "tape"]
    assert list(table["key"]) == ["1", "2", "3", "4", "5"] and table["colour"][0] == "#ffe119"
    assert all(int(n) > 0 for n in table["annotations"])


def test_add_a_class(demo_studio: dict[str, str]) -> None:
    at = _open()
    at.text_input(key="classes_new_name").set_value(" cereal ")
    _click(at, "classes_add")
    assert any("Added class 'cereal' (index 6)" in s.value for s in at.success)
    assert [c.name for c in class_summaries(dataset="shelves")][-1] == "cereal"
    table = next(d.value for d in at.dataframe if "colour" in d.value.columns)
    assert list(table["class"])[-1] == "cereal"  # the table drawn after the click shows it
    assert at.text_input(key="classes_new_name").value == ""  # ready for the next one


def test_rename_and_recolour_a_class(demo_studio: dict[str, str]) -> None:
    at = _open()
    jar = _class_id("jar")
    at.selectbox(key="classes_pick").set_value(jar)
    at.run()
    at.text_input(key=f"classes_rename_{jar}").set_value("glass jar")
    _click(at, "classes_rename")
    assert any("Renamed 'jar' to 'glass jar'" in s.value for s in at.success)
    at.color_picker(key=f"classes_color_{jar}").set_value("#123456")
    _click(at, "classes_recolor")
    summary = next(c for c in class_summaries(dataset="shelves") if c.id == jar)
    assert (summary.name, summary.color, summary.index) == ("glass jar", "#123456", 2)


def test_merge_one_class_into_another(demo_studio: dict[str, str]) -> None:
    before = {c.name: c.annotations for c in class_summaries(dataset="shelves")}
    at = _open()
    at.selectbox(key="classes_pick").set_value(_class_id("jar"))
    at.run()
    at.selectbox(key="classes_merge_to").set_value(_class_id("box"))
    _click(at, "classes_merge")
    assert any(f"Merged 'jar' into 'box': {before['jar']} annotations" in s.value for s in at.success)
    after = {c.name: c.annotations for c in class_summaries(dataset="shelves")}
    assert "jar" not in after and after["box"] == before["box"] + before["jar"]
    assert at.selectbox(key="classes_pick").value == _class_id("box")  # goes on with the merged class
    assert at.selectbox(key="classes_merge_to").value == _class_id("bottle")  # a class that still exists


def test_move_a_class_up(demo_studio: dict[str, str]) -> None:
    at = _open()
    at.selectbox(key="classes_pick").set_value(_class_id("can"))
    at.run()
    _click(at, "classes_up")
    assert [c.name for c in class_summaries(dataset="shelves")] == ["box", "jar", "can", "bottle", "tape"]


def test_refusals_are_shown_and_change_nothing(demo_studio: dict[str, str]) -> None:
    before = class_summaries(dataset="shelves")
    at = _open()
    at.text_input(key="classes_new_name").set_value("BOX")
    _click(at, "classes_add")
    assert any("already has a class 'box'" in e.value for e in at.error)
    at.selectbox(key="classes_pick").set_value(_class_id("jar"))
    at.run()
    _click(at, "classes_remove")  # no class named to take its annotations
    assert any("'jar' is used by" in e.value and "reassign them" in e.value for e in at.error)
    assert class_summaries(dataset="shelves") == before


def test_remove_with_reassignment(demo_studio: dict[str, str]) -> None:
    before = {c.name: c.annotations for c in class_summaries(dataset="shelves")}
    at = _open()
    at.selectbox(key="classes_pick").set_value(_class_id("tape"))
    at.run()
    at.selectbox(key="classes_heir").set_value(_class_id("can"))
    _click(at, "classes_remove")
    assert any("Removed class 'tape'" in s.value for s in at.success)
    assert {c.name: c.annotations for c in class_summaries(dataset="shelves")}["can"] == before["can"] + before["tape"]


def test_a_dataset_without_classes_asks_for_the_first_one(demo_studio: dict[str, str]) -> None:
    from studio.datasets import get_or_create_dataset
    from studio.db import session_scope

    with session_scope() as session:
        get_or_create_dataset(session, "photos")
    at = _open()
    at.selectbox(key="classes_dataset").set_value("shelves")
    at.run()
    at.selectbox(key="classes_pick").set_value(_class_id("tape"))
    at.run()
    at.selectbox(key="classes_dataset").set_value("photos")
    at.run()
    assert not at.exception, at.exception
    assert any("has no classes yet: add your first class" in i.value for i in at.info)
    assert at.color_picker(key="classes_new_color").value == "#ffe119"  # the first colour again
    at.text_input(key="classes_new_name").set_value("cereal")
    _click(at, "classes_add")
    assert [(c.name, c.color) for c in class_summaries(dataset="photos")] == [("cereal", "#ffe119")]
    assert any(list(d.value.get("class", [])) == ["cereal"] for d in at.dataframe)  # now the manager
    assert at.selectbox(key="classes_pick").value == next(c.id for c in class_summaries(dataset="photos"))
