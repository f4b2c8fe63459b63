"""Keypoint tests: an isolated data folder (keypoint datasets are files; no database needed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SHARED_FIXTURES, reset_studio_caches

MEDIAPIPE = SHARED_FIXTURES / "mediapipe_hand_keypoints_csv"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``STUDIO_DATA_DIR`` in ``tmp_path`` (settings cache cleared before and after)."""
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    reset_studio_caches()
    yield tmp_path / "data"
    reset_studio_caches()


@pytest.fixture(scope="session")
def mediapipe_csvs() -> Path:
    """The real MediaPipe hand-gesture CSVs in ../shared/fixtures; skip when absent."""
    if not MEDIAPIPE.is_dir():
        pytest.skip(f"{MEDIAPIPE} is absent (real-data fixtures live beside the repo)")
    return MEDIAPIPE
