"""Thumbnails of the image gallery, by image id:

    GET /studio-api/thumbs/{image_id}.jpg   a JPEG, longest side 256 px (studio.thumbnails)

Built on first request and cached on disk (``<data>/thumbs``). A real thumbnail is sent with
``Cache-Control: private, max-age=86400`` and an ETag (its content hash: the pixels of an
image never change), so a browser asks again at most once a day and gets ``304`` then. An
image whose file is missing or unreadable gets a grey placeholder with ``Cache-Control:
no-store`` and ``X-Studio-Thumbnail: placeholder`` (``X-Studio-Reason`` says why). An unknown
id is ``404 {"error": "no image with id 12"}``; an id that is not a number is 404 too.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from studio.errors import InvalidInput, NotFound
from studio.thumbnails import THUMB_SIZE, image_source, thumbnail
from studio_ui.web import PREFIX

BASE = f"{PREFIX}/thumbs"
CACHE = "private, max-age=86400"


def thumbnail_url(image_id: int) -> str:
    """``/studio-api/thumbs/<id>.jpg``: what an ``<img src>`` of the gallery points at."""
    return f"{BASE}/{int(image_id)}.jpg"


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def get_thumbnail(request: Request) -> Response:
    raw = request.path_params["image_id"]
    if not raw.isdigit():
        return _error(404, f"thumbnail {raw!r}: expected /thumbs/<image id>.jpg with a numeric id")
    try:
        source = await run_in_threadpool(image_source, int(raw))
    except NotFound as exc:
        return _error(404, str(exc))
    etag = f'"{source.content_hash[:40]}-{THUMB_SIZE}"'
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": CACHE})
    try:
        thumb = await run_in_threadpool(thumbnail, source)
    except InvalidInput as exc:  # a malformed hash in the database
        return _error(400, str(exc))
    if thumb.placeholder:
        reason = thumb.reason.encode("ascii", "backslashreplace").decode("ascii")[:300]
        return Response(thumb.data, media_type="image/jpeg", headers={
            "Cache-Control": "no-store", "X-Studio-Thumbnail": "placeholder", "X-Studio-Reason": reason})
    return Response(thumb.data, media_type="image/jpeg", headers={"Cache-Control": CACHE, "ETag": etag})


def routes() -> list[BaseRoute]:
    return [Route(f"{BASE}/{{image_id}}.jpg", get_thumbnail, methods=["GET"])]
