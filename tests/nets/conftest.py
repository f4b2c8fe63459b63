"""Fixtures for the architecture tests: an empty models dir, and a socket guard that records any
attempt to reach the network (and fails it)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``STUDIO_MODELS_DIR`` pointing at an empty folder (so ``pretrained/`` holds only what a test puts there)."""
    from studio.config import get_settings

    root = tmp_path / "models"
    root.mkdir()
    monkeypatch.setenv("STUDIO_MODELS_DIR", str(root))
    get_settings.cache_clear()
    yield root
    get_settings.cache_clear()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every connect / DNS lookup raises OSError and is recorded; the test asserts the list stays empty."""
    attempts: list[str] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(repr(args[1:] if args and isinstance(args[0], socket.socket) else args)[:200])
        raise OSError("network access blocked by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield attempts
