"""ASGI entry (`studio serve` runs `streamlit run server.py`): the Streamlit app of app.py
plus the HTTP routes of the studio's own components (studio_ui.web), on one port, behind the
login gate (studio_ui.web.auth)."""

import streamlit as st
from starlette.middleware import Middleware

from studio_ui.web import routes
from studio_ui.web.auth import AuthMiddleware

# the login gate of every /studio-api route (the app itself checks the same cookie: studio_ui.login)
app = st.App("app.py", routes=routes(), middleware=[Middleware(AuthMiddleware)])
