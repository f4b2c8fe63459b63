"""Shared fixtures for the format tests: the real public files in ``<repo>/../shared/fixtures``."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures"


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """The shared fixtures folder; tests using it skip cleanly when it is absent."""
    if not FIXTURES.is_dir():
        pytest.skip(f"shared fixtures not found at {FIXTURES}")
    return FIXTURES.resolve()


@pytest.fixture(scope="session")
def coco_sample(shared_fixtures: Path) -> Path:
    """COCO val2017 sample: instances.json (polygons), rle.json (polygons + crowd RLE), images/."""
    path = shared_fixtures / "labelbox_coco_val2017_instance_rle_panoptic"
    if not (path / "instances.json").is_file():
        pytest.skip(f"COCO sample not found at {path}")
    return path


@pytest.fixture(scope="session")
def voc_sample(shared_fixtures: Path) -> Path:
    """labelme VOC export: palette PNG masks with 255 borders and class_names.txt."""
    path = shared_fixtures / "labelme_voc2011_semantic" / "data_dataset_voc"
    if not (path / "class_names.txt").is_file():
        pytest.skip(f"VOC sample not found at {path}")
    return path
