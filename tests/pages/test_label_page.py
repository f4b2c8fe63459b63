"""Label page (AppTest): the active segmenter is named, a click (the component's value) gives
a mask, Accept stores it before the rerun, shortcuts are documented, and an empty studio
says what to do."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from studio import annotations as ann
from tests.pages.conftest import APP


def open_label() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.switch_page("app_pages/label.py")
    at.run()
    assert not at.exception, at.exception
    return at


def test_click_then_accept_lands_in_the_database(demo_studio: dict[str, str]) -> None:
    at = open_label()
    assert any("Segmenter: **Fallback" in c.value for c in at.caption)
    assert any("| A | accept |" in m.value for m in at.markdown)  # the shortcuts are documented
    ws = at.session_state["label_ws"]
    image_id = ws.item.id
    before = len(ann.list_annotations(image_id))
    largest = max(ann.list_annotations(image_id), key=lambda a: a.area)
    x = largest.bbox[0] + largest.bbox[2] / 2
    y = largest.bbox[1] + largest.bbox[3] / 2
    ws.handle_canvas({"x": x * ws.renderer.scale, "y": y * ws.renderer.scale, "unix_time": 1})  # the component's click
    at.run()
    accept = next(b for b in at.button if b.label == "Accept")
    assert not accept.disabled
    accept.click()
    at.run()
    assert not at.exception, at.exception
    after = ann.list_annotations(image_id)
    assert len(after) == before + 1 and after[-1].source == "fallback" and after[-1].status == "accepted"
    assert any("accepted" in s.value for s in at.success)


def test_no_dataset_says_what_to_do(studio_env: dict[str, str]) -> None:
    at = open_label()
    assert any("No datasets yet" in i.value for i in at.info)
