"""Page tests: a migrated studio holding a small generated demo dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO

APP = str(REPO / "app.py")


@pytest.fixture
def demo_studio(studio_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    from studio.datasets import ingest_doc
    from studio.demo import generate_demo

    ingest_doc(generate_demo(tmp_path / "demo", n_images=4, seed=1), dataset="shelves")
    return studio_env
