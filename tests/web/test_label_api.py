"""The label API over HTTP (starlette's TestClient on the real routes), against the real
SQLite database and the real fallback segmenter; SAM (random vit_b weights) for what only
SAM has: the fp16 embedding with its headers, the exported decoder, and a truncated cached
embedding that is recomputed. SAM's encoder takes ~20 s per image on a CPU, so the SAM part
computes ONE embedding (module-scoped) and reuses it."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from studio import annotations as ann
from studio import masks
from studio_ui.web import label_api


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(Starlette(routes=label_api.routes())) as test_client:
        yield test_client


def ingest_demo(folder: Path, n_images: int = 3, dataset: str = "shelves") -> list[np.ndarray]:
    """Demo scenes, the first one unlabelled; its true masks."""
    from studio.datasets import ingest_doc
    from studio.demo import generate_demo

    doc = generate_demo(folder, n_images=n_images, seed=0)
    first = doc.images[0].key
    truth = [masks.decode(a.rle).astype(bool) for a in doc.annotations if a.image_key == first]
    doc.annotations = [a for a in doc.annotations if a.image_key != first]
    ingest_doc(doc, dataset=dataset)
    return truth


@pytest.fixture
def fallback_ws(studio_env: dict[str, str], tmp_path: Path):  # noqa: ANN201
    from studio.label_workspace import LabelWorkspace
    from studio.segment import FallbackSegmenter

    truth = ingest_demo(tmp_path / "demo")
    ws = LabelWorkspace("shelves", FallbackSegmenter(), author="tester")
    token = label_api.register(ws)
    yield ws, label_api.api_base(token), truth
    label_api.release(ws)


def interior(mask: np.ndarray) -> list[int]:
    import cv2

    distance = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return [int(x), int(y)]


# ---------------------------------------------------------------------- tokens and files


def test_tokens_are_capabilities_released_with_their_workspace(client: TestClient, fallback_ws) -> None:  # noqa: ANN001
    from studio.label_workspace import LabelWorkspace
    from studio.segment import FallbackSegmenter

    ws, api, _ = fallback_ws
    assert label_api.register(ws) == api.rsplit("/", 1)[1]  # one token per workspace
    unknown = client.get(f"{label_api.BASE}/not-a-token/image/{ws.item.id}")
    assert unknown.status_code == 403 and "reload the Label page" in unknown.json()["error"]

    other = LabelWorkspace("shelves", FallbackSegmenter())
    token = label_api.register(other)
    assert token != api.rsplit("/", 1)[1] and len(token) >= 24
    assert client.get(f"{label_api.api_base(token)}/image/{ws.item.id}").status_code == 200
    del other
    gc.collect()  # the session ended: its workspace is gone, and its token with it
    assert client.get(f"{label_api.api_base(token)}/image/{ws.item.id}").status_code == 403
    label_api.release(ws)
    assert client.get(f"{api}/image/{ws.item.id}").status_code == 403


def test_images_are_served_from_the_store_or_named_when_gone(client: TestClient, fallback_ws) -> None:  # noqa: ANN001
    ws, api, _ = fallback_ws
    item = ws.items[0]
    reply = client.get(f"{api}/image/{item.id}")
    assert reply.status_code == 200 and reply.content == item.path.read_bytes()
    assert reply.headers["cache-control"] == "private, max-age=3600" and reply.headers["content-type"] == "image/jpeg"
    assert client.get(f"{api}/image/99999").json() == {"error": "image 99999 is not in dataset 'shelves'"}

    gone = ws.items[2]
    gone.path.unlink()
    reply = client.get(f"{api}/image/{gone.id}")
    assert reply.status_code == 404 and f"{gone.file_name} is missing from the image store" in reply.json()["error"]
    reply = client.post(f"{api}/predict", json={"image_id": gone.id, "points": [[5, 5]], "labels": [1]})
    assert reply.status_code == 404


def test_the_fallback_has_no_embedding_or_decoder_for_the_browser(client: TestClient, fallback_ws) -> None:  # noqa: ANN001
    ws, api, _ = fallback_ws
    reply = client.get(f"{api}/embedding/{ws.item.id}")
    assert reply.status_code == 404 and "POST predict" in reply.json()["error"]
    assert client.get(f"{api}/decoder.onnx").status_code == 404


# ------------------------------------------------------------------- the server path


def test_predict_then_accept_update_delete(client: TestClient, fallback_ws) -> None:  # noqa: ANN001
    ws, api, truth = fallback_ws
    product = max(truth, key=lambda m: m.sum())
    reply = client.post(f"{api}/predict", json={"image_id": ws.item.id, "points": [interior(product)], "labels": [1],
                                                "box": None, "multimask": True, "mask_input": None})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert set(body) == {"prediction", "masks", "scores", "ms"} and len(body["masks"]) == 3
    best = int(np.argmax(body["scores"]))
    mask = masks.decode(body["masks"][best]).astype(bool)
    assert (mask & product).sum() / (mask | product).sum() >= 0.9

    refined = client.post(f"{api}/predict", json={
        "image_id": ws.item.id, "points": [interior(product), [3, 3]], "labels": [1, 0], "multimask": False,
        "mask_input": {"prediction": body["prediction"], "candidate": best}})
    assert refined.status_code == 200 and len(refined.json()["masks"]) == 1

    accepted = client.post(f"{api}/annotations", json={
        "image_id": ws.item.id, "class_id": ws.classes[1].id, "rle": body["masks"][best], "source": "fallback",
        "seconds": 3.0, "score": body["scores"][best], "annotation_id": None})
    assert accepted.status_code == 200, accepted.text
    annotation = accepted.json()["annotation"]
    assert accepted.json()["revision"] == ws.revision
    (stored,) = ann.list_annotations(ws.item.id)  # committed before the reply
    assert (stored.id, stored.class_id, stored.status, stored.source) == (annotation["id"], ws.classes[1].id,
                                                                          "accepted", "fallback")
    assert stored.rle == annotation["rle"] and annotation["bbox"] == stored.bbox and annotation["author"] == "tester"

    updated = client.post(f"{api}/annotations/{stored.id}", json={"class_id": ws.classes[3].id, "status": "draft"})
    assert updated.status_code == 200 and updated.json()["annotation"]["status"] == "draft"
    assert ann.list_annotations(ws.item.id)[0].class_id == ws.classes[3].id
    deleted = client.delete(f"{api}/annotations/{stored.id}")
    assert deleted.json() == {"deleted": stored.id, "revision": ws.revision}
    assert client.delete(f"{api}/annotations/{stored.id}").status_code == 404
    assert ann.list_annotations(ws.item.id) == []


@pytest.mark.parametrize(("body", "message"), [
    # a field the format does not have
    ({"points": [[5, 5]], "labels": [1], "zoom": 2}, "unknown field(s) zoom"),
    # labels must match the points one to one
    ({"points": [[5, 5], [6, 6]], "labels": [1]}, "labels must be a list of 2 values"),
    # a point is [x, y]
    ({"points": [[5, 5, 1]], "labels": [1]}, "points[0] must be [x, y]"),
    # labels are 1 / 0 only (box corners are the server's business)
    ({"points": [[5, 5]], "labels": [2]}, "labels[0] must be 1 (positive) or 0 (negative)"),
    # nothing to segment
    ({"points": [], "labels": []}, "at least one point or a box"),
    # a box has four numbers
    ({"points": [], "labels": [], "box": [1, 2, 3]}, "box must be [x0, y0, x1, y1]"),
    # not a number
    ({"points": [[5, "x"]], "labels": [1]}, "points[0][1] must be a finite number"),
    # outside the 640x480 image
    ({"points": [[700, 5]], "labels": [1]}, "outside the image"),
    # a mask_input of another size
    ({"points": [[5, 5]], "labels": [1], "mask_input": {"rle": {"size": [10, 10], "counts": "0PR1"}}},
     "mask size [10, 10] (height, width) does not match"),
])
def test_bad_predict_requests_are_400_with_what_was_expected(client: TestClient, fallback_ws, body: dict,
                                                             message: str) -> None:  # noqa: ANN001
    ws, api, _ = fallback_ws
    reply = client.post(f"{api}/predict", json={"image_id": ws.item.id, **body})
    assert reply.status_code == 400 and message in reply.json()["error"], reply.text


def test_bad_writes_are_refused_and_nothing_is_written(client: TestClient, fallback_ws) -> None:  # noqa: ANN001
    ws, api, truth = fallback_ws
    h, w = truth[0].shape
    wide = np.zeros((h, w + 4), bool)
    wide[:5, w:] = True  # a brush stroke partly outside the image, not clipped
    base = {"image_id": ws.item.id, "class_id": ws.classes[0].id, "source": "manual"}
    cases = [
        ({**base, "rle": masks.encode(wide)}, 400, "expected [480, 640]; a brush stroke must be clipped"),
        ({**base, "rle": masks.encode(np.zeros((h, w), bool))}, 400, "mask is empty"),
        ({**base, "rle": {"size": [h, w], "counts": "!!"}}, 400, "RLE counts made of characters"),
        ({**base, "rle": masks.encode(truth[0]), "source": "magic"}, 400, "source must be one of sam, fallback"),
        ({**base, "rle": masks.encode(truth[0]), "class_id": 9999}, 400, "not a class of this image's dataset"),
        ({**base, "rle": masks.encode(truth[0]), "annotation_id": 9999}, 404, "no annotation with id 9999"),
        ({**base, "rle": masks.encode(truth[0]), "seconds": -1}, 400, "seconds must be within"),
    ]
    for body, status, message in cases:
        reply = client.post(f"{api}/annotations", json=body)
        assert reply.status_code == status and message in reply.json()["error"], (body, reply.text)
    assert client.post(f"{api}/annotations", content=b"{not json").json() == {"error": "request body: expected JSON"}
    assert client.post(f"{api}/annotations/1", json={}).status_code == 400  # neither class nor status
    assert ann.list_annotations(ws.item.id) == [] and ws.revision == 1


def test_classes_are_created_with_the_reasons_for_refusals(client: TestClient, fallback_ws) -> None:  # noqa: ANN001
    ws, api, _ = fallback_ws
    reply = client.post(f"{api}/classes", json={"name": "cereal"})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["class"]["name"] == "cereal" and body["class"]["color"].startswith("#")
    assert [c["name"] for c in body["classes"]][-1] == "cereal" and ws.class_id == body["class"]["id"]
    for payload, message in [({"name": "cereal"}, "already has a class"), ({"name": ""}, "empty"),
                             ({"name": "x", "color": "red"}, "color must be '#rrggbb'"), ({"nom": "x"}, "unknown field")]:
        reply = client.post(f"{api}/classes", json=payload)
        assert reply.status_code == 400 and message in reply.json()["error"], reply.text


# ---------------------------------------------------------------------------------- SAM


@pytest.fixture(scope="module")
def sam_api(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """A SAM (random vit_b) workspace whose first image's cached embedding is a truncated
    file: the first GET embedding finds it unreadable, computes it (the module's one encoder
    run) and stores it again. Yields (client, api, workspace, first reply)."""
    from studio.label_workspace import LabelWorkspace
    from studio.segment.cache import get_cache
    from studio.segment.sam import SamSegmenter
    from tests.conftest import isolated_studio

    with isolated_studio(tmp_path_factory.mktemp("sam-api")) as root:
        ingest_demo(root / "demo", n_images=2)
        ws = LabelWorkspace("shelves", SamSegmenter("vit_b", None, device="cpu"), author="tester")
        path = get_cache().path_for(ws.segmenter.id, ws.item.content_hash)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"PK\x03\x04 truncated")
        api = label_api.api_base(label_api.register(ws))
        with TestClient(Starlette(routes=label_api.routes())) as test_client:
            first = test_client.get(f"{api}/embedding/{ws.item.id}")
            yield test_client, api, ws, first


def test_a_truncated_cached_embedding_is_recomputed_and_served_as_fp16(sam_api) -> None:  # noqa: ANN001
    from studio.segment.cache import EmbeddingCache, get_cache

    client, api, ws, reply = sam_api
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/octet-stream"
    assert reply.headers["x-studio-input-size"] == "768,1024"  # 480x640 -> longest side 1024
    assert reply.headers["x-studio-image-size"] == "480,640"
    assert reply.headers["x-studio-segmenter"] == "sam-vit_b-random0"
    features = np.frombuffer(reply.content, "<f2").reshape(1, 256, 64, 64)
    on_disk, source = EmbeddingCache(get_cache().root, 10**10, memory_items=0).get(ws.segmenter.id,
                                                                                  ws.item.content_hash)
    assert source == "disk" and np.array_equal(features.astype(np.float32), on_disk.arrays["features"])  # valid again
    again = client.get(f"{api}/embedding/{ws.item.id}")  # from the cache now: the same bytes
    assert again.content == reply.content


def test_the_decoder_file_is_exported_once_and_decodes_like_the_server(sam_api) -> None:  # noqa: ANN001
    import onnxruntime as ort

    from studio.segment.base import Prompt
    from studio.segment.onnx_decoder import decoder_path, run_decoder

    client, api, ws, _ = sam_api
    reply = client.get(f"{api}/decoder.onnx")
    assert reply.status_code == 200 and len(reply.content) > 1_000_000
    path = decoder_path(ws.segmenter.id)
    assert path.read_bytes() == reply.content and path.parent.name == "decoders"
    mtime = path.stat().st_mtime_ns
    assert client.get(f"{api}/decoder.onnx").content == reply.content and path.stat().st_mtime_ns == mtime

    session = ort.InferenceSession(reply.content, providers=["CPUExecutionProvider"])
    embedding = ws.embedding(ws.item.id)
    server = client.post(f"{api}/predict", json={"image_id": ws.item.id, "points": [[320, 240]], "labels": [1]}).json()
    browser_like = run_decoder(session, embedding, Prompt.from_clicks([(320, 240)], [1]))
    for rle, mask in zip(server["masks"], browser_like.masks):
        served = masks.decode(rle).astype(bool)
        assert (served & mask).sum() / max((served | mask).sum(), 1) >= 0.99
