"""The `studio` command line, run as a real subprocess against an isolated studio."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import studio_env_vars


def studio(root: Path, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **studio_env_vars(root)}
    result = subprocess.run([sys.executable, "-m", "studio.cli", *args], env=env, cwd=root,
                            capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.mark.parametrize("command", [
    [], ["init"], ["demo"], ["worker"], ["serve"], ["datasets"], ["stats"], ["snapshot"],
    ["import"], ["import", "images"], ["import", "coco"], ["import", "yolo"], ["import", "masks"],
    ["export"], ["export", "coco"], ["export", "yolo"], ["export", "masks"],
    ["jobs"], ["jobs", "list"], ["jobs", "show"], ["jobs", "cancel"], ["jobs", "retry"],
    ["train"], ["tune"], ["models"], ["models", "list"], ["models", "show"], ["models", "import"],
    ["models", "remove"], ["models", "cleanup"],
])
def test_every_command_has_help(tmp_path: Path, command: list[str]) -> None:
    result = studio(tmp_path, *command, "--help")
    assert result.returncode == 0 and "Usage" in result.stdout


def test_failures_are_one_line_with_nonzero_exit(tmp_path: Path) -> None:
    result = studio(tmp_path, "stats", "nope")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["studio: no dataset named 'nope'; existing: (none)"]


def test_demo_export_snapshot_and_refusals(tmp_path: Path) -> None:
    studio(tmp_path, "init", check=True)
    from tests.test_db import head_revision

    assert f"revision {head_revision()}" in studio(tmp_path, "init", check=True).stdout  # idempotent
    studio(tmp_path, "demo", "--images", "3", check=True)
    assert "already has datasets" in studio(tmp_path, "demo", "--if-empty", check=True).stdout
    listing = studio(tmp_path, "datasets", check=True).stdout
    assert "shelves" in listing and "3 images" in listing

    out = tmp_path / "export"
    exported = studio(tmp_path, "export", "coco", str(out), "--dataset", "shelves", "--mode", "polygon", check=True)
    assert "checked" in exported.stdout and (out / "annotations.json").exists()
    again = studio(tmp_path, "export", "coco", str(out), "--dataset", "shelves")
    assert again.returncode == 1 and "--force" in again.stderr and len(again.stderr.strip().splitlines()) == 1

    assert "saved as shelves (data v1)" in studio(tmp_path, "snapshot", "shelves", check=True).stdout
    assert "unchanged since shelves (data v1)" in studio(tmp_path, "snapshot", "shelves", check=True).stdout
    stats = json.loads(studio(tmp_path, "stats", "shelves", check=True).stdout)
    assert stats["total_images"] == 3 and stats["versions"][0]["version"] == 1

    studio(tmp_path, "import", "coco", str(out), "--dataset", "copy", check=True)
    assert "copy" in studio(tmp_path, "datasets", check=True).stdout


def test_queued_import_can_be_listed_and_cancelled(tmp_path: Path) -> None:
    studio(tmp_path, "init", check=True)
    queued = studio(tmp_path, "import", "images", str(tmp_path), "--dataset", "x", "--queue", check=True)
    job_id = queued.stdout.split()[2]
    assert job_id in studio(tmp_path, "jobs", "list", check=True).stdout
    assert "cancelled" in studio(tmp_path, "jobs", "cancel", job_id, check=True).stdout
    assert json.loads(studio(tmp_path, "jobs", "show", job_id, check=True).stdout)["status"] == "cancelled"
