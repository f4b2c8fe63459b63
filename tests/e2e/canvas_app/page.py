"""The canvas alone on a page, fed by the fake API (tests/e2e/test_canvas.py). Query
parameter ``mode``: fallback (server path) / sam (browser decoder) / badsam (a decoder file
that cannot load). N (a page button, as on the Label page) opens the other image. The page
remembers the canvas's selection and sends it back, as the Label page does; ``lag`` (seconds)
makes the rerun after a selection that slow (a loaded server)."""

import time

import streamlit as st

from studio_ui.canvas import label_canvas
from tests.e2e.canvas_app import fake_api

st.set_page_config(page_title="canvas test", layout="wide")
mode = st.query_params.get("mode", "fallback")
ids = sorted(fake_api.SIZES)
st.session_state.setdefault("image_index", ids.index(int(st.query_params.get("image", 1))))
st.session_state.setdefault("events", [])
st.session_state.setdefault("selected_id", None)
lag = float(st.query_params.get("lag", 0))


def go(step: int) -> None:
    st.session_state.image_index = (st.session_state.image_index + step) % len(ids)


st.button("Next image", shortcut="N", on_click=go, args=(1,))


def handle(event: dict) -> None:
    st.session_state.events.append(event)
    if event.get("kind") == "select":
        time.sleep(lag)
        st.session_state.selected_id = event["annotation_id"]


@st.fragment
def canvas() -> None:
    data = fake_api.canvas_data(ids[st.session_state.image_index], mode, selected_id=st.session_state.selected_id)
    label_canvas(data, key="canvas", on_event=handle)
    last = st.session_state.events[-1] if st.session_state.events else None
    st.caption(f"page: image {data['image']['id']} · revision {data['revision']} · "
               f"events {len(st.session_state.events)} · last {last}")


canvas()
