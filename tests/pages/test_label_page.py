"""Label page (AppTest): the canvas gets the message format's data for the open image (its
API token registered, the active segmenter named), a write over the label API shows in the
counts on the next run, Prev / Next / Next to do move the open image, the shortcuts are
documented, a dataset without classes asks for the first one, and an empty studio says what
to do. (Clicks on the canvas itself are browser events: tests/e2e/test_workbench.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from studio import annotations as ann
from studio import masks
from studio.labelling.protocol import AcceptRequest
from studio_ui.web import label_api
from tests.pages.conftest import APP


def open_label() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.switch_page("app_pages/label.py")
    at.run()
    assert not at.exception, at.exception
    return at


def canvas_data(at: AppTest) -> dict:
    """The canvas component's data (the grid of the gallery is the other v2 component)."""
    for element in at.get("bidi_component"):
        data = json.loads(element.proto.json)
        if data.get("v") == 1 and "api" in data:
            return data
    raise AssertionError("no canvas on the page")


def test_the_canvas_gets_the_open_image_and_a_live_token(demo_studio: dict[str, str]) -> None:
    at = open_label()
    ws = at.session_state["label_ws"]
    data = canvas_data(at)
    assert data["image"]["id"] == ws.item.id and data["image"]["url"].endswith(f"/image/{ws.item.id}")
    token = data["api"].rsplit("/", 1)[1]
    assert data["api"].startswith("/studio-api/label/") and label_api.lookup(token) is ws
    assert [c["name"] for c in data["classes"]] == [c.name for c in ws.classes] and data["class_id"] == ws.classes[0].id
    assert data["segmenter"]["kind"] == "fallback" and data["segmenter"]["decoder"] is None
    assert {a["id"] for a in data["annotations"]} == {a.id for a in ann.list_annotations(ws.item.id)}
    assert any("Segmenter: **Fallback" in c.value for c in at.caption)
    assert any("| A | accept the mask" in m.value and "| S R B E |" in m.value for m in at.markdown)  # the keys


def test_a_write_over_the_api_shows_on_the_next_run(demo_studio: dict[str, str]) -> None:
    at = open_label()
    ws = at.session_state["label_ws"]
    image = ws.item
    before = len(ann.list_annotations(image.id))
    mask = np.zeros((image.height, image.width), bool)
    mask[10:40, 10:60] = True
    reply = ws.accept(AcceptRequest(image.id, ws.classes[1].id, masks.encode(mask), "manual", 4.0))  # as HTTP does
    at.run()  # the canvas's "changed" trigger reruns the page's fragment
    assert not at.exception, at.exception
    data = canvas_data(at)
    assert data["revision"] == reply.revision and len(data["annotations"]) == before + 1
    assert data["class_id"] == ws.classes[1].id


def test_next_prev_and_next_to_do(demo_studio: dict[str, str]) -> None:
    at = open_label()
    ws = at.session_state["label_ws"]
    first = ws.item.id
    ids = [i.id for i in ws.items]
    next_button = next(b for b in at.button if b.label == "Next")
    next_button.click().run()
    assert canvas_data(at)["image"]["id"] == ids[(ids.index(first) + 1) % len(ids)]
    next(b for b in at.button if b.label == "Prev").click().run()
    assert canvas_data(at)["image"]["id"] == first
    next(b for b in at.button if b.label == "Next to do").click().run()
    assert not at.exception, at.exception


def test_a_dataset_without_classes_asks_for_the_first_one(studio_env: dict[str, str], tmp_path: Path) -> None:
    from studio.datasets import ingest_doc
    from studio.demo import generate_demo

    doc = generate_demo(tmp_path / "demo", n_images=2, seed=0)
    doc.annotations, doc.classes = [], []
    ingest_doc(doc, dataset="photos")
    at = open_label()
    assert canvas_data(at)["classes"] == [] and any("no classes yet" in i.value for i in at.info)
    name = next(t for t in at.text_input if "class" in (t.label or "").lower())
    name.input("cereal")
    next(b for b in at.button if "add" in b.label.lower()).click().run()
    assert not at.exception, at.exception
    assert [c["name"] for c in canvas_data(at)["classes"]] == ["cereal"]


def test_no_dataset_says_what_to_do(studio_env: dict[str, str]) -> None:
    at = open_label()
    assert any("No datasets yet" in i.value for i in at.info)
