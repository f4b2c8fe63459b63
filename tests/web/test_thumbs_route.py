"""GET /studio-api/thumbs/{image_id}.jpg through starlette's TestClient on a real studio."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.testclient import TestClient

from studio_ui.web import ROUTE_MODULES, routes
from studio_ui.web.thumbnails import thumbnail_url


@pytest.fixture
def client_and_items(studio_env: dict[str, str], tmp_path: Path):  # noqa: ANN201
    from studio.annotations import image_queue
    from studio.datasets import ingest_doc
    from studio.demo import generate_demo

    ingest_doc(generate_demo(tmp_path / "demo", n_images=2, seed=5), dataset="shelves")
    with TestClient(Starlette(routes=routes())) as client:
        yield client, image_queue("shelves")


def test_the_module_is_registered() -> None:
    assert "studio_ui.web.thumbnails" in ROUTE_MODULES
    assert thumbnail_url(12) == "/studio-api/thumbs/12.jpg"


def test_a_thumbnail_is_a_small_jpeg_with_cache_headers(client_and_items, studio_env: dict[str, str]) -> None:  # noqa: ANN001
    client, items = client_and_items
    item = items[0]
    reply = client.get(thumbnail_url(item.id))
    assert reply.status_code == 200 and reply.headers["content-type"] == "image/jpeg"
    assert reply.headers["cache-control"] == "private, max-age=86400"
    image = Image.open(io.BytesIO(reply.content))
    assert image.format == "JPEG" and max(image.size) == min(256, max(item.width, item.height))
    assert (Path(studio_env["STUDIO_DATA_DIR"]) / "thumbs" / item.content_hash[:2] / f"{item.content_hash}.jpg").is_file()

    again = client.get(thumbnail_url(item.id), headers={"If-None-Match": reply.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


@pytest.mark.parametrize(("path", "message"), [
    ("/studio-api/thumbs/99999.jpg", "no image with id 99999"),  # unknown id
    ("/studio-api/thumbs/abc.jpg", "expected /thumbs/<image id>.jpg with a numeric id"),
])
def test_unknown_ids_are_404_json(client_and_items, path: str, message: str) -> None:  # noqa: ANN001
    client, _ = client_and_items
    reply = client.get(path)
    assert reply.status_code == 404 and message in reply.json()["error"]


def test_an_image_gone_from_the_store_gets_an_uncached_placeholder(client_and_items) -> None:  # noqa: ANN001
    client, items = client_and_items
    items[1].path.unlink()
    reply = client.get(thumbnail_url(items[1].id))
    assert reply.status_code == 200 and reply.headers["x-studio-thumbnail"] == "placeholder"
    assert reply.headers["cache-control"] == "no-store" and "missing from the store" in reply.headers["x-studio-reason"]
    assert Image.open(io.BytesIO(reply.content)).size == (256, 256)
