"""Where a job runs (studio.commands.common.run_or_queue): one convention and one set of flags
(--here / --queue / --wait) for every job command, run as real `studio` subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_cli import studio


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    import numpy as np
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(np.full((32, 48, 3), 40 * i, np.uint8)).save(folder / f"p{i}.png")
    studio(tmp_path, "init", check=True)
    return folder


def test_flags_exclude_each_other(tmp_path: Path, photos: Path) -> None:
    result = studio(tmp_path, "import", "images", str(photos), "--dataset", "d", "--here", "--queue")
    assert result.returncode != 0 and "--here and --queue exclude each other" in result.stderr


def test_import_runs_here_by_default_and_queues_on_request(tmp_path: Path, photos: Path) -> None:
    here = studio(tmp_path, "import", "images", str(photos), "--dataset", "d", "--classes", "can, jar", check=True)
    assert "d: +2 images" in here.stdout and "new classes: can, jar" in here.stdout
    queued = studio(tmp_path, "import", "images", str(photos), "--dataset", "e", "--queue", check=True)
    assert "queued job" in queued.stdout and "import images photos into e" in queued.stdout
    job_id = queued.stdout.split("queued job ")[1].split()[0]
    shown = json.loads(studio(tmp_path, "jobs", "show", job_id, check=True).stdout)
    assert shown["kind"] == "import" and shown["status"] == "queued"
    assert shown["params"]["source"] == str(photos.resolve())  # prepared: an absolute path for any worker


def test_a_job_is_refused_before_it_is_queued(tmp_path: Path, photos: Path) -> None:
    studio(tmp_path, "import", "images", str(photos), "--dataset", "d", check=True)
    result = studio(tmp_path, "train", "--dataset", "d", "--image-size", "64", "--queue")
    assert result.returncode == 1 and "has no classes yet" in result.stderr
    assert studio(tmp_path, "jobs", "list", check=True).stdout.strip() == ""  # nothing queued
    assert json.loads(studio(tmp_path, "stats", "d", check=True).stdout)["versions"] == []  # no snapshot
