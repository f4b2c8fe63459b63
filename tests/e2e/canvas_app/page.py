"""The canvas alone on a page, fed by the fake API (tests/e2e/test_canvas.py). Query
parameter ``mode``: fallback (server path) / sam (browser decoder) / badsam (a decoder file
that cannot load). N (a page button, as on the Label page) opens the other image."""

import streamlit as st

from studio_ui.canvas import label_canvas
from tests.e2e.canvas_app import fake_api

st.set_page_config(page_title="canvas test", layout="wide")
mode = st.query_params.get("mode", "fallback")
ids = sorted(fake_api.SIZES)
st.session_state.setdefault("image_index", ids.index(int(st.query_params.get("image", 1))))
st.session_state.setdefault("events", [])


def go(step: int) -> None:
    st.session_state.image_index = (st.session_state.image_index + step) % len(ids)


st.button("Next image", shortcut="N", on_click=go, args=(1,))


@st.fragment
def canvas() -> None:
    data = fake_api.canvas_data(ids[st.session_state.image_index], mode)
    label_canvas(data, key="canvas", on_event=st.session_state.events.append)
    last = st.session_state.events[-1] if st.session_state.events else None
    st.caption(f"page: image {data['image']['id']} · revision {data['revision']} · "
               f"events {len(st.session_state.events)} · last {last}")


canvas()
