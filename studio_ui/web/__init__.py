"""HTTP routes of the studio's own front-end components, served by the Streamlit server
itself (``st.App`` in ``server.py``): one origin, one port, no second server.

Each feature adds one module here with a ``routes()`` function; :func:`routes` joins them.
Everything lives under :data:`PREFIX`, behind the login gate (``studio_ui.web.auth.AuthMiddleware``,
installed by server.py): a handler reads the logged-in user with ``auth.request_user(request)``.
Handlers call ``studio`` core functions and run
blocking work in a thread (``starlette.concurrency.run_in_threadpool``), never on the event
loop.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

PREFIX = "/studio-api"  # every route of the studio's components starts with this

ROUTE_MODULES: tuple[str, ...] = ("studio_ui.web.auth", "studio_ui.web.thumbnails", "studio_ui.web.label_api",
                                  "studio_ui.web.assets")  # "studio_ui.web.<feature>" modules, each with routes()


def routes() -> list[BaseRoute]:
    """The routes of every module in :data:`ROUTE_MODULES`, in that order."""
    import importlib

    found: list[BaseRoute] = []
    for name in ROUTE_MODULES:
        found.extend(importlib.import_module(name).routes())
    return found
