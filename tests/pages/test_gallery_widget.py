"""The gallery widget (AppTest): it renders one page of thumbnails with status badges and
counts, filters by status, searches, pages, and jump-to opens an image (the click on a
thumbnail itself is a browser event: tests/e2e/test_gallery.py)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import update
from streamlit.testing.v1 import AppTest

from studio import annotations as ann

SCRIPT = """
import streamlit as st
from studio.annotations import image_queue
from studio_ui.gallery import gallery

opened = gallery(image_queue("shelves"), st.session_state.get("current"), key="gal", page_size=PAGE_SIZE)
if opened is not None:
    st.session_state["current"] = opened
st.markdown(f"opened: {opened}")
"""


@pytest.fixture
def varied(demo_studio: dict[str, str]) -> list[ann.ImageItem]:
    """The 4 demo images as unlabelled (all rejected), draft, review and done."""
    from studio.db import session_scope
    from studio.tables import Annotation

    items = ann.image_queue("shelves")
    with session_scope() as session:
        session.exec(update(Annotation).where(Annotation.image_id == items[0].id).values(status="rejected"))
        first_of_second = ann.list_annotations(items[1].id)[0].id
        session.exec(update(Annotation).where(Annotation.id == first_of_second).values(status="draft"))
    ann.set_review([items[2].id], True, "check the left shelf")
    items = ann.image_queue("shelves")
    assert [i.status for i in items] == ["unlabelled", "draft", "review", "done"]
    return items


def _app(page_size: int = 3) -> AppTest:
    at = AppTest.from_string(SCRIPT.replace("PAGE_SIZE", str(page_size)), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def _grid(at: AppTest) -> dict:
    (element,) = at.get("bidi_component")
    return json.loads(element.proto.json)


def _caption(at: AppTest) -> str:
    return next(c.value for c in at.caption if " of " in c.value)


def test_one_page_of_thumbnails_with_badges_and_counts(varied: list[ann.ImageItem]) -> None:
    at = _app()
    grid = _grid(at)
    assert [t["id"] for t in grid["items"]] == [i.id for i in varied[:3]]  # only the current page is rendered
    assert [t["status"] for t in grid["items"]] == ["unlabelled", "draft", "review"]
    assert [t["position"] for t in grid["items"]] == [1, 2, 3]
    assert grid["items"][0]["url"] == f"/studio-api/thumbs/{varied[0].id}.jpg"
    assert grid["items"][0]["name"] == varied[0].file_name and grid["current_id"] is None
    assert _caption(at) == "1–3 of 4 · page 1/2"
    assert list(at.button_group[0].options) == ["unlabelled 1", "draft 1", "review 1", "done 1"]

    at.button(key="gal-next").click().run()
    assert [t["id"] for t in _grid(at)["items"]] == [varied[3].id] and _caption(at) == "4–4 of 4 · page 2/2"
    assert at.button(key="gal-next").disabled and not at.button(key="gal-prev").disabled


def test_status_filter_and_search_narrow_the_grid(varied: list[ann.ImageItem]) -> None:
    at = _app()
    at.button_group[0].set_value(["draft", "done"]).run()
    assert [t["id"] for t in _grid(at)["items"]] == [varied[1].id, varied[3].id]
    assert _caption(at) == "1–2 of 2 (of 4) · page 1/1"

    at.text_input(key="gal-search").input(varied[3].file_name.split("/")[-1].upper()).run()
    assert [t["id"] for t in _grid(at)["items"]] == [varied[3].id]
    at.text_input(key="gal-search").input("no such name").run()
    assert _grid(at)["items"] == [] and "No image matches" in _grid(at)["empty"]
    assert list(at.button_group[0].options) == ["unlabelled 0", "draft 0", "review 0", "done 0"]


def test_jump_to_opens_an_image_and_shows_its_page(varied: list[ann.ImageItem]) -> None:
    at = _app()
    at.text_input(key="gal-jump").input("4").run()
    assert not at.exception, at.exception
    assert f"opened: {varied[3].id}" in [m.value for m in at.markdown]
    at.run()  # the page now passes the opened image as current: it is outlined, on its page
    grid = _grid(at)
    assert grid["current_id"] == varied[3].id and [t["id"] for t in grid["items"]] == [varied[3].id]
    assert at.text_input(key="gal-jump").value == ""

    at.text_input(key="gal-jump").input(varied[0].file_name).run()  # by name
    assert f"opened: {varied[0].id}" in [m.value for m in at.markdown]

    at.text_input(key="gal-jump").input("pasta").run()
    assert any("no image named like 'pasta'" in c.value for c in at.caption)
    assert "opened: None" in [m.value for m in at.markdown]
