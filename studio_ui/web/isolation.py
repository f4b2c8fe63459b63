"""Cross-origin isolation of the app's pages: ``Cross-Origin-Opener-Policy: same-origin`` and
``Cross-Origin-Embedder-Policy: require-corp`` on every HTTP response, so the browser grants
``SharedArrayBuffer`` and the labelling canvas's onnxruntime-web decodes SAM with several
threads instead of one. Everything the studio loads comes from its own origin (no CDN, no web
font), which is what these headers require; ``STUDIO_CROSS_ORIGIN_ISOLATION=false`` turns them
off (e.g. behind a proxy that embeds the studio in another site's page)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADERS = ((b"cross-origin-opener-policy", b"same-origin"), (b"cross-origin-embedder-policy", b"require-corp"),
           (b"cross-origin-resource-policy", b"same-origin"))


class IsolationMiddleware:
    """Adds :data:`HEADERS` to every HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in HEADERS if h[0] not in present)]
            await send(message)

        await self.app(scope, receive, send_with_headers)
