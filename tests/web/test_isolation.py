"""Cross-origin isolation headers (studio_ui.web.isolation) on every HTTP response of the app."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from studio_ui.web.isolation import IsolationMiddleware


def test_every_response_is_cross_origin_isolated_unless_it_says_otherwise() -> None:
    async def plain(request):  # noqa: ANN001, ANN202
        return PlainTextResponse("ok")

    async def own(request):  # noqa: ANN001, ANN202
        return PlainTextResponse("ok", headers={"Cross-Origin-Resource-Policy": "cross-origin"})

    app = Starlette(routes=[Route("/", plain), Route("/own", own)], middleware=[Middleware(IsolationMiddleware)])
    with TestClient(app) as client:
        reply = client.get("/")
        assert reply.headers["cross-origin-opener-policy"] == "same-origin"
        assert reply.headers["cross-origin-embedder-policy"] == "require-corp"
        assert client.get("/own").headers["cross-origin-resource-policy"] == "cross-origin"  # kept, not doubled
