"""ASGI entry of the canvas test page: the page, the real asset route, the fake API."""

from pathlib import Path

import streamlit as st

from studio_ui.web import assets
from tests.e2e.canvas_app import fake_api

app = st.App(str(Path(__file__).with_name("page.py")), routes=[*assets.routes(), *fake_api.routes()])
