"""The asset route of the studio's front ends (studio_ui/web/assets.py): content types,
caching, and nothing outside the dist folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from studio_ui.web import assets


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    """A dist folder like frontend/canvas/build.mjs writes, plus a secret next to it."""
    root = tmp_path / "dist"
    (root / "ort").mkdir(parents=True)
    (root / "chunks").mkdir()
    (root / "canvas.js").write_text("export default function () {}\n")
    (root / "chunks" / "ort-ABC123.js").write_text("export const x = 1;\n")
    (root / "ort" / "ort-wasm-simd-threaded.wasm").write_bytes(b"\x00asm\x01\x00\x00\x00")
    (root / "ort" / "ort-wasm-simd-threaded.mjs").write_text("export default 1;\n")
    (root / "manifest.json").write_text('{"build": "abc"}\n')
    (root / "notes.exe").write_text("unknown type")
    (root / ".hidden.js").write_text("HIDDEN-CONTENT")
    (tmp_path / "secret.js").write_text("OUTSIDE-CONTENT")
    return root


@pytest.fixture
def client(dist: Path) -> TestClient:
    return TestClient(Starlette(routes=assets.routes(dist)))


@pytest.mark.parametrize("path, content_type", [
    ("canvas.js", "text/javascript; charset=utf-8"),              # the bundle
    ("ort/ort-wasm-simd-threaded.mjs", "text/javascript; charset=utf-8"),  # ORT's loader, an ES module
    ("ort/ort-wasm-simd-threaded.wasm", "application/wasm"),      # instantiateStreaming needs this type
    ("manifest.json", "application/json; charset=utf-8"),
])
def test_serves_files_with_their_content_types(client: TestClient, path: str, content_type: str) -> None:
    reply = client.get(f"{assets.BASE}/{path}")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == content_type
    assert reply.headers["x-content-type-options"] == "nosniff"


def test_versioned_and_hashed_urls_are_immutable_the_rest_revalidates(client: TestClient) -> None:
    assert client.get(f"{assets.BASE}/canvas.js?v=abc").headers["cache-control"] == assets.IMMUTABLE
    assert client.get(f"{assets.BASE}/chunks/ort-ABC123.js").headers["cache-control"] == assets.IMMUTABLE
    plain = client.get(f"{assets.BASE}/canvas.js")
    assert plain.headers["cache-control"] == "no-cache"
    again = client.get(f"{assets.BASE}/canvas.js", headers={"If-None-Match": plain.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_head_requests_answer_without_a_body(client: TestClient) -> None:
    reply = client.head(f"{assets.BASE}/ort/ort-wasm-simd-threaded.wasm")
    assert reply.status_code == 200 and reply.headers["content-type"] == "application/wasm"


@pytest.mark.parametrize("path", [
    "../secret.js",            # traversal
    "ort/../../secret.js",     # traversal further down
    "%2e%2e/secret.js",        # encoded traversal
    "ort/..%2f..%2fsecret.js",  # encoded separator
    ".hidden.js",              # hidden file
    "notes.exe",               # unknown type
    "ort",                     # a folder
    "missing.js",              # absent
    "canvas.js/",              # trailing slash
])
def test_refuses_anything_but_files_inside(client: TestClient, path: str) -> None:
    reply = client.get(f"{assets.BASE}/{path}")
    assert reply.status_code == 404  # (the client itself may already fold a plain "../")
    assert "OUTSIDE-CONTENT" not in reply.text and "HIDDEN-CONTENT" not in reply.text


def test_resolve_rejects_what_the_url_layer_might_pass(dist: Path) -> None:
    assert assets.resolve(dist, "canvas.js") == (dist / "canvas.js").resolve()
    for bad in ("", "/etc/passwd", "..\\secret.js", "canvas.js\x00", "./canvas.js", "a//b.js"):
        assert assets.resolve(dist, bad) is None, bad


def test_a_missing_build_says_how_to_build(tmp_path: Path) -> None:
    client = TestClient(Starlette(routes=assets.routes(tmp_path / "nowhere")))
    reply = client.get(f"{assets.BASE}/canvas.js")
    assert reply.status_code == 404 and "make install" in reply.json()["error"]


def test_the_studio_serves_its_assets() -> None:
    from studio_ui.web import ROUTE_MODULES

    assert "studio_ui.web.assets" in ROUTE_MODULES
