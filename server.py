"""ASGI entry (`studio serve` runs `streamlit run server.py`): the Streamlit app of app.py
plus the HTTP routes of the studio's own components (studio_ui.web), on one port."""

import streamlit as st

from studio_ui.web import routes

app = st.App("app.py", routes=routes())
