"""The labelling canvas's HTTP API (plan/workbench.md, "canvas -> server"), under
``/studio-api/label/<token>/``:

    GET    image/{image_id}          the stored image file (Cache-Control: private, max-age=3600)
    GET    embedding/{image_id}      SAM features (1, 256, 64, 64) little-endian float16; headers
                                     X-Studio-Input-Size: h,w  X-Studio-Image-Size: H,W
                                     X-Studio-Segmenter: <id>  (404 for a non-SAM segmenter)
    GET    decoder.onnx              the active SAM segmenter's exported decoder
    POST   predict                   the server path: masks for a prompt
    POST   annotations               accept a mask (or replace one: refine / brush edit)
    POST   annotations/{id}          re-class / re-status
    DELETE annotations/{id}
    POST   classes                   a new class

``<token>`` is a capability: :func:`register` gives each ``LabelWorkspace`` (one per browser
session, kept by the Label page) a random token; the registry holds the workspaces weakly,
so a session that ends takes its token with it (:func:`release` ends one at once). An unknown
token is 403, and so is a token used under another login than the workspace's author. Bodies
and replies are studio.labelling.protocol's; errors are JSON ``{"error": "..."}``: InvalidInput
400, NotFound 404, Conflict 409 (an image someone else holds); a stale edit is 409 with
``studio.annotations.StaleEdit.to_dict()`` (what changed, by whom, the refused change) and the
workspace's new ``revision``. Blocking work (database, segmenter, export) runs in the thread pool.
"""

from __future__ import annotations

import json
import secrets
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from studio.annotations import StaleEdit
from studio.errors import Conflict, InvalidInput, NotFound, StudioError
from studio.label_workspace import LabelWorkspace
from studio.labelling.protocol import AcceptRequest, CreateClassRequest, ErrorReply, PredictRequest, UpdateRequest
from studio_ui.web import PREFIX
from studio_ui.web.auth import request_user

BASE = f"{PREFIX}/label"
MAX_BODY = 64 * 1024 * 1024  # bytes of one JSON request (an RLE of a 6000x4000 mask is far smaller)
FILE_CACHE = "private, max-age=3600"

_BY_TOKEN: weakref.WeakValueDictionary[str, LabelWorkspace] = weakref.WeakValueDictionary()
_BY_WORKSPACE: weakref.WeakKeyDictionary[LabelWorkspace, str] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


# ------------------------------------------------------------------------------ registry


def register(workspace: LabelWorkspace) -> str:
    """The workspace's token (a new random one the first time)."""
    with _LOCK:
        token = _BY_WORKSPACE.get(workspace)
        if token is None:
            token = secrets.token_urlsafe(18)
            _BY_TOKEN[token] = workspace
            _BY_WORKSPACE[workspace] = token
        return token


def release(workspace: LabelWorkspace) -> None:
    """Forget the workspace's token (its URLs answer 403 from now on)."""
    with _LOCK:
        token = _BY_WORKSPACE.pop(workspace, None)
        if token is not None:
            _BY_TOKEN.pop(token, None)


def lookup(token: str) -> LabelWorkspace | None:
    with _LOCK:
        return _BY_TOKEN.get(token)


def api_base(token: str) -> str:
    """``/studio-api/label/<token>``: the canvas data's ``api``."""
    return f"{BASE}/{token}"


# ------------------------------------------------------------------------------ handlers


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(ErrorReply(message).to_json(), status_code=status)


Handler = Callable[[Request, LabelWorkspace], Awaitable[Response]]


def _endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Token lookup (403) and the studio's errors as JSON (400 / 404 / 409)."""

    async def endpoint(request: Request) -> Response:
        workspace = lookup(request.path_params["token"])
        if workspace is None:
            return _error(403, "this labelling session is unknown or has ended; reload the Label page")
        user = request_user(request)  # None: the studio needs no login (the workspace's author stands)
        if user is not None and user.name != workspace.author:
            return _error(403, "this labelling session belongs to another login; reload the Label page")
        try:
            return await handler(request, workspace)
        except StaleEdit as exc:
            return JSONResponse({**exc.to_dict(), "revision": workspace.revision}, status_code=409)
        except InvalidInput as exc:
            return _error(400, str(exc))
        except NotFound as exc:
            return _error(404, str(exc))
        except Conflict as exc:
            return _error(409, str(exc))
        except StudioError as exc:
            return _error(400, str(exc))

    return endpoint


async def _json(request: Request) -> Any:
    """The request's JSON body; InvalidInput for anything else."""
    body = await request.body()
    if len(body) > MAX_BODY:
        raise InvalidInput(f"request body of {len(body):,} bytes: expected at most {MAX_BODY:,}")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("request body: expected JSON") from None


async def _image(request: Request, workspace: LabelWorkspace) -> Response:
    path = await run_in_threadpool(workspace.image_path, request.path_params["image_id"])
    return FileResponse(path, headers={"Cache-Control": FILE_CACHE})


async def _embedding(request: Request, workspace: LabelWorkspace) -> Response:
    payload = await run_in_threadpool(workspace.embedding_payload, request.path_params["image_id"])
    headers = {"X-Studio-Input-Size": "{},{}".format(*payload.input_size),
               "X-Studio-Image-Size": "{},{}".format(*payload.image_size),
               "X-Studio-Segmenter": payload.segmenter_id, "Cache-Control": FILE_CACHE}
    return Response(payload.data, media_type="application/octet-stream", headers=headers)


async def _decoder(request: Request, workspace: LabelWorkspace) -> Response:
    path = await run_in_threadpool(workspace.decoder_file)
    return FileResponse(path, media_type="application/octet-stream", headers={"Cache-Control": FILE_CACHE})


async def _predict(request: Request, workspace: LabelWorkspace) -> Response:
    parsed = PredictRequest.from_json(await _json(request))
    return JSONResponse((await run_in_threadpool(workspace.predict, parsed)).to_json())


async def _accept(request: Request, workspace: LabelWorkspace) -> Response:
    parsed = AcceptRequest.from_json(await _json(request))
    return JSONResponse((await run_in_threadpool(workspace.accept, parsed)).to_json())


async def _update(request: Request, workspace: LabelWorkspace) -> Response:
    parsed = UpdateRequest.from_json(await _json(request))
    reply = await run_in_threadpool(workspace.update, request.path_params["annotation_id"], parsed)
    return JSONResponse(reply.to_json())


async def _delete(request: Request, workspace: LabelWorkspace) -> Response:
    version = request.query_params.get("version")
    if version is not None and not version.isdigit():
        raise InvalidInput(f"delete: version {version!r}; expected the annotation's version number")
    reply = await run_in_threadpool(workspace.delete, request.path_params["annotation_id"],
                                    int(version) if version is not None else None)
    return JSONResponse(reply.to_json())


async def _create_class(request: Request, workspace: LabelWorkspace) -> Response:
    parsed = CreateClassRequest.from_json(await _json(request))
    return JSONResponse((await run_in_threadpool(workspace.create_class, parsed)).to_json())


def routes() -> list[BaseRoute]:
    """The label API's routes (joined by studio_ui.web.routes)."""
    base = f"{BASE}/{{token}}"
    return [
        Route(f"{base}/image/{{image_id:int}}", _endpoint(_image), methods=["GET"]),
        Route(f"{base}/embedding/{{image_id:int}}", _endpoint(_embedding), methods=["GET"]),
        Route(f"{base}/decoder.onnx", _endpoint(_decoder), methods=["GET"]),
        Route(f"{base}/predict", _endpoint(_predict), methods=["POST"]),
        Route(f"{base}/annotations", _endpoint(_accept), methods=["POST"]),
        Route(f"{base}/annotations/{{annotation_id:int}}", _endpoint(_update), methods=["POST"]),
        Route(f"{base}/annotations/{{annotation_id:int}}", _endpoint(_delete), methods=["DELETE"]),
        Route(f"{base}/classes", _endpoint(_create_class), methods=["POST"]),
    ]
