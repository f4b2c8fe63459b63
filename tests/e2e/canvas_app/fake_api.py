"""A stand-in for the Label page's workspace API (studio_ui/web/label_api.py), for the canvas's
own browser test: the same routes and message format, state in this process's memory, and a
fake segmenter that answers with the drawn shape under the click. Served next to the real
asset route by tests/e2e/canvas_app/server.py.

Images: 1 is 640x480 (landscape), 2 is 360x500 (portrait), 3 is a 6000x4000 "photo" with 60
products (``_seed/3`` stores them all as accepted annotations), each with flat shapes on a
textured background. ``/studio-api/fake/_state`` and ``_reset`` let the test read and reset it.
SAM mode: ``decoder.onnx`` is the file named by $STUDIO_CANVAS_TEST_DECODER (or junk bytes in
mode "badsam") and ``embedding/{id}`` deterministic random float16 features.
"""

from __future__ import annotations

import functools
import io
import os
import threading
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np
from PIL import Image
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from studio import masks as rle_codec
from studio_ui.web import PREFIX

API = f"{PREFIX}/fake"
PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#46f0f0"]
SIZES = {1: (480, 640), 2: (500, 360), 3: (4000, 6000)}  # (H, W)
_LOCK = threading.Lock()


def _ellipse(h: int, w: int, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    """(h, w) bool ellipse, computed inside its bounding box only."""
    mask = np.zeros((h, w), bool)
    y0, y1 = max(int(cy - ry), 0), min(int(cy + ry) + 2, h)
    x0, x1 = max(int(cx - rx), 0), min(int(cx + rx) + 2, w)
    yy, xx = np.ogrid[y0:y1, x0:x1]
    mask[y0:y1, x0:x1] = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 < 1
    return mask


def shape_items(image_id: int) -> Iterator[tuple[str, np.ndarray]]:
    """The objects of an image: (name, (H, W) bool mask), one at a time (the big photo's 60
    masks would take 1.4 GB together)."""
    h, w = SIZES[image_id]
    if image_id == 1:
        y, x = np.mgrid[0:h, 0:w]
        yield "can", (x - 160) ** 2 + (y - 200) ** 2 < 60 ** 2
        yield "box", (x >= 380) & (x < 560) & (y >= 120) & (y < 300)
        yield "jar", (x - 300) ** 2 / 50 ** 2 + (y - 390) ** 2 / 40 ** 2 < 1
    elif image_id == 2:
        y, x = np.mgrid[0:h, 0:w]
        yield "bottle", (x >= 120) & (x < 220) & (y >= 80) & (y < 420)
    else:
        for i in range(60):  # a shelf of 6 rows x 10 products
            yield f"p{i}", _ellipse(h, w, 300 + (i % 10) * 560, 330 + (i // 10) * 640, 180 + 8 * (i % 7), 260 - 9 * (i % 5))


def shapes(image_id: int) -> dict[str, np.ndarray]:
    """The objects of a small image by name."""
    return dict(shape_items(image_id))


def image_array(image_id: int) -> np.ndarray:
    h, w = SIZES[image_id]
    rgb = np.empty((h, w, 3), np.uint8)
    rgb[..., 0] = (np.arange(w) * 255 // w).astype(np.uint8)[None, :]
    rgb[..., 1] = (np.arange(h) * 255 // h).astype(np.uint8)[:, None]
    rgb[..., 2] = 90
    checker = ((np.arange(h)[:, None] // 16 + np.arange(w)[None, :] // 16) % 2) == 0
    rgb[checker] //= 2  # checker texture
    colors = [(250, 230, 40), (40, 200, 250), (250, 120, 200), (255, 255, 255)]
    for i, (_, mask) in enumerate(shape_items(image_id)):
        rgb[mask] = colors[i % len(colors)]
    return rgb


@functools.lru_cache(maxsize=4)
def image_bytes(image_id: int) -> tuple[bytes, str]:
    """The image file: PNG for the small ones, JPEG for the big photo."""
    out = io.BytesIO()
    big = max(SIZES[image_id]) > 2000
    Image.fromarray(image_array(image_id)).save(out, format="JPEG" if big else "PNG", quality=90)
    return out.getvalue(), "image/jpeg" if big else "image/png"


class Store:
    def __init__(self) -> None:
        self.classes: list[dict[str, Any]] = []
        self.annotations: dict[int, dict[str, Any]] = {}
        self.revision = 0
        self.next_id = 1
        self.predictions = 0
        self.requests: list[dict[str, Any]] = []

    def bump(self) -> int:
        self.revision += 1
        return self.revision


STORE = Store()


def reset() -> None:
    global STORE
    with _LOCK:
        STORE = Store()


def canvas_data(image_id: int, mode: str, assets: str = f"{PREFIX}/assets",
                selected_id: int | None = None) -> dict[str, Any]:
    """The component's data (message format v1) for ``image_id`` in ``mode`` (fallback / sam /
    badsam); ``selected_id`` where it is one of the image's annotations."""
    h, w = SIZES[image_id]
    sam = mode in ("sam", "badsam")
    others = [i for i in SIZES if i != image_id]
    with _LOCK:
        return {
            "v": 1, "api": API, "assets": assets,
            "image": {"id": image_id, "url": f"{API}/image/{image_id}", "width": w, "height": h,
                      "file_name": f"shelf-{image_id}.png", "status": "unlabelled"},
            "classes": [dict(c) for c in STORE.classes],
            "class_id": STORE.classes[0]["id"] if STORE.classes else None,
            "annotations": [dict(a) for a in STORE.annotations.values() if a["image_id"] == image_id],
            "revision": STORE.revision,
            "segmenter": {"kind": "sam" if sam else "fallback", "id": "sam-vit_b-random0" if sam else "fallback",
                          "name": "SAM vit_b (random weights)" if sam else "Fallback (fake)",
                          "decoder": {"model_url": f"{API}/decoder.onnx?mode={mode}",
                                      "embedding_url": f"{API}/embedding/{image_id}"} if sam else None},
            "prefetch": [{"image_id": i, "url": f"{API}/image/{i}",
                          "embedding_url": f"{API}/embedding/{i}" if sam else None} for i in others],
            "selected_id": selected_id if any(a["id"] == selected_id and a["image_id"] == image_id
                                              for a in STORE.annotations.values()) else None,
            "settings": {"opacity": 0.45},
        }


def embedding(image_id: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Deterministic (1, 256, 64, 64) float16 features and the 1024-frame input size (h, w)."""
    h, w = SIZES[image_id]
    scale = 1024 / max(h, w)
    features = np.random.default_rng(image_id).standard_normal((1, 256, 64, 64)).astype(np.float16)
    return features, (int(h * scale + 0.5), int(w * scale + 0.5))


def _predict(image_id: int, points: list, labels: list, box: list | None) -> tuple[list[np.ndarray], list[float]]:
    """The shape under the first positive point (or the one centred in the box) as the best of
    three candidates (eroded, itself, dilated); a 20 px disc when there is none."""
    h, w = SIZES[image_id]
    found = None
    for _, mask in shape_items(image_id):
        if box is not None:
            ys, xs = np.nonzero(mask)
            cx, cy = xs.mean(), ys.mean()
            if box[0] <= cx <= box[2] and box[1] <= cy <= box[3]:
                found = mask
        for (px, py), label in zip(points, labels):
            if label == 1 and mask[int(py), int(px)]:
                found = mask
        if found is not None:
            break
    if found is None:
        px, py = points[0] if points else ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
        found = _ellipse(h, w, px, py, 20, 20)
    kernel = np.ones((9, 9), np.uint8)
    eroded = cv2.erode(found.astype(np.uint8), kernel) > 0
    dilated = cv2.dilate(found.astype(np.uint8), kernel) > 0
    return [eroded, found, dilated], [0.5, 0.9, 0.7]


async def _json(request: Request) -> Any:
    body = await request.json()
    with _LOCK:
        STORE.requests.append({"method": request.method, "path": request.url.path, "body": body})
    return body


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def image(request: Request) -> Response:
    image_id = int(request.path_params["image_id"])
    if image_id not in SIZES:
        return _error(f"image {image_id} not found", 404)
    body, media_type = image_bytes(image_id)
    return Response(body, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})


async def decoder(request: Request) -> Response:
    path = os.environ.get("STUDIO_CANVAS_TEST_DECODER")
    if request.query_params.get("mode") == "badsam" or not path:
        return Response(b"this is not an onnx file", media_type="application/octet-stream")
    return Response(open(path, "rb").read(), media_type="application/octet-stream")


async def embedding_route(request: Request) -> Response:
    image_id = int(request.path_params["image_id"])
    features, (ih, iw) = embedding(image_id)
    h, w = SIZES[image_id]
    return Response(features.astype("<f2").tobytes(), media_type="application/octet-stream",
                    headers={"X-Studio-Input-Size": f"{ih},{iw}", "X-Studio-Image-Size": f"{h},{w}",
                             "X-Studio-Segmenter": "sam-vit_b-random0"})


async def predict(request: Request) -> Response:
    body = await _json(request)
    masks, scores = _predict(body["image_id"], body["points"], body["labels"], body.get("box"))
    if not body.get("multimask", True):
        masks, scores = [masks[1]], [scores[1]]
    with _LOCK:
        STORE.predictions += 1
        pid = f"p{STORE.predictions}"
    return JSONResponse({"prediction": pid, "masks": [rle_codec.encode(m) for m in masks], "scores": scores, "ms": 1.0})


def _annotation_json(a: dict[str, Any]) -> dict[str, Any]:
    return {k: a[k] for k in ("id", "class_id", "status", "source", "score", "rle", "bbox", "author")}


async def create_annotation(request: Request) -> Response:
    body = await _json(request)
    h, w = SIZES[body["image_id"]]
    if list(body["rle"]["size"]) != [h, w]:
        return _error(f"rle size {body['rle']['size']} is not the image's {[h, w]}")
    if not rle_codec.area(body["rle"]):
        return _error("the mask is empty")
    with _LOCK:
        if body.get("annotation_id"):
            a = STORE.annotations[body["annotation_id"]]
            a.update(rle=body["rle"], class_id=body["class_id"], status="accepted")
        else:
            a = {"id": STORE.next_id, "image_id": body["image_id"], "class_id": body["class_id"], "status": "accepted",
                 "source": body["source"], "score": body.get("score"), "rle": body["rle"], "author": "test"}
            STORE.annotations[a["id"]] = a
            STORE.next_id += 1
        a["bbox"] = rle_codec.bbox(a["rle"])
        return JSONResponse({"annotation": _annotation_json(a), "revision": STORE.bump()})


async def update_annotation(request: Request) -> Response:
    body = await _json(request)
    with _LOCK:
        a = STORE.annotations.get(int(request.path_params["annotation_id"]))
        if a is None:
            return _error("no such annotation", 404)
        a.update({k: v for k, v in body.items() if k in ("class_id", "status")})
        return JSONResponse({"annotation": _annotation_json(a), "revision": STORE.bump()})


async def delete_annotation(request: Request) -> Response:
    annotation_id = int(request.path_params["annotation_id"])
    with _LOCK:
        STORE.requests.append({"method": "DELETE", "path": request.url.path, "body": None})
        if STORE.annotations.pop(annotation_id, None) is None:
            return _error("no such annotation", 404)
        return JSONResponse({"deleted": annotation_id, "revision": STORE.bump()})


async def create_class(request: Request) -> Response:
    body = await _json(request)
    name = str(body.get("name", "")).strip()
    with _LOCK:
        if not name or any(c["name"] == name for c in STORE.classes):
            return _error(f"class name {name!r}: expected a new, non-empty name")
        c = {"id": 100 + len(STORE.classes), "name": name, "index": len(STORE.classes) + 1,
             "color": PALETTE[len(STORE.classes) % len(PALETTE)]}
        STORE.classes.append(c)
        return JSONResponse({"class": c, "classes": STORE.classes, "revision": STORE.bump()})


async def state(request: Request) -> Response:
    with _LOCK:
        return JSONResponse({"annotations": list(STORE.annotations.values()), "classes": STORE.classes,
                             "revision": STORE.revision, "requests": STORE.requests})


async def seed(request: Request) -> Response:
    """Store every shape of an image as an accepted annotation of the first class (made if none)."""
    image_id = int(request.path_params["image_id"])
    with _LOCK:
        if not STORE.classes:
            STORE.classes.append({"id": 100, "name": "product", "index": 1, "color": PALETTE[0]})
        for _, mask in shape_items(image_id):
            rle = rle_codec.encode(mask)
            a = {"id": STORE.next_id, "image_id": image_id, "class_id": STORE.classes[0]["id"], "status": "accepted",
                 "source": "sam", "score": 0.9, "rle": rle, "bbox": rle_codec.bbox(rle), "author": "test"}
            STORE.annotations[a["id"]] = a
            STORE.next_id += 1
        STORE.bump()
        return JSONResponse({"annotations": STORE.next_id - 1})


async def reset_route(request: Request) -> Response:
    reset()
    return JSONResponse({"ok": True})


def routes() -> list[BaseRoute]:
    return [
        Route(f"{API}/image/{{image_id:int}}", image),
        Route(f"{API}/decoder.onnx", decoder),
        Route(f"{API}/embedding/{{image_id:int}}", embedding_route),
        Route(f"{API}/predict", predict, methods=["POST"]),
        Route(f"{API}/annotations", create_annotation, methods=["POST"]),
        Route(f"{API}/annotations/{{annotation_id:int}}", update_annotation, methods=["POST"]),
        Route(f"{API}/annotations/{{annotation_id:int}}", delete_annotation, methods=["DELETE"]),
        Route(f"{API}/classes", create_class, methods=["POST"]),
        Route(f"{API}/_state", state),
        Route(f"{API}/_reset", reset_route, methods=["POST"]),
        Route(f"{API}/_seed/{{image_id:int}}", seed, methods=["POST"]),
    ]
