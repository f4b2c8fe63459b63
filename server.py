"""ASGI entry (`studio serve` runs `streamlit run server.py`): the Streamlit app of app.py
plus the HTTP routes of the studio's own components (studio_ui.web), on one port, behind the
login gate (studio_ui.web.auth)."""

import streamlit as st
from starlette.middleware import Middleware

from studio.config import get_settings
from studio_ui.web import routes
from studio_ui.web.auth import AuthMiddleware
from studio_ui.web.isolation import IsolationMiddleware

# the login gate of every /studio-api route (the app itself checks the same cookie: studio_ui.login);
# cross-origin isolation: the canvas's SAM decoder gets browser threads (studio_ui.web.isolation)
middleware = [Middleware(AuthMiddleware)]
if get_settings().cross_origin_isolation:
    middleware.insert(0, Middleware(IsolationMiddleware))
app = st.App("app.py", routes=routes(), middleware=middleware)
