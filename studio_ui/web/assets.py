"""Static files of the studio's own front ends, served by the Streamlit server itself:
``/studio-api/assets/<path>`` -> ``studio_ui/canvas/dist/<path>`` (the labelling canvas's
bundle, its code-split chunks and onnxruntime-web's ``.mjs`` / ``.wasm`` runtime; written by
``frontend/canvas/build.mjs``, git-ignored). Nothing is fetched from a CDN.

Caching: a URL with a ``?v=<build>`` query and everything under ``chunks/`` (content-hashed
names) is immutable for a year; anything else is revalidated (``no-cache`` + ETag, 304 when
unchanged). Only files inside the folder with a known extension are served; anything else
(``..``, absolute paths, hidden files, unknown types) is 404.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from studio_ui.web import PREFIX

BASE = f"{PREFIX}/assets"
DIST = Path(__file__).resolve().parent.parent / "canvas" / "dist"
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".wasm": "application/wasm",
    ".map": "application/json; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
NOT_BUILT = ("the labelling canvas is not built: run `make install` (or `npm ci && npm run build` in "
             "frontend/canvas; Node.js 20+ needed)")


def resolve(root: Path, path: str) -> Path | None:
    """The file ``root/path`` when ``path`` is a plain relative path inside ``root`` to a file
    with a served extension; None otherwise (traversal, absolute, hidden, unknown type)."""
    if not path or "\\" in path or "\x00" in path or path.startswith("/"):
        return None
    parts = path.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return None
    candidate = root.joinpath(*parts)
    if candidate.suffix not in CONTENT_TYPES:
        return None
    try:
        real = candidate.resolve(strict=True)
        real.relative_to(root.resolve(strict=True))
    except (OSError, ValueError):
        return None
    return real if real.is_file() else None


def etag(file: Path) -> str:
    stat = file.stat()
    return '"' + hashlib.sha1(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:20] + '"'


def routes(root: Path | None = None) -> list[BaseRoute]:
    """The asset route over ``root`` (default: the canvas's dist folder)."""
    folder = DIST if root is None else Path(root)

    async def serve(request: Request) -> Response:
        path = request.path_params["path"]
        file = resolve(folder, path)
        if file is None:
            message = NOT_BUILT if not folder.is_dir() else f"no asset {path!r}"
            return JSONResponse({"error": message}, status_code=404)
        tag = etag(file)
        versioned = "v" in request.query_params or path.startswith("chunks/")
        headers = {
            "Cache-Control": IMMUTABLE if versioned else REVALIDATE,
            "ETag": tag,
            "X-Content-Type-Options": "nosniff",
            "Cross-Origin-Resource-Policy": "same-origin",
        }
        if request.headers.get("if-none-match") == tag:
            return Response(status_code=304, headers=headers)
        return FileResponse(file, media_type=CONTENT_TYPES[file.suffix], headers=headers)

    return [Route(f"{BASE}/{{path:path}}", serve, methods=["GET", "HEAD"])]
