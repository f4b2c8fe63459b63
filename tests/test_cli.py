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
    ["models", "remove"], ["models", "cleanup"], ["models", "promote"], ["models", "production"], ["models", "gate"],
    ["models", "bundle"], ["evaluations"], ["evaluations", "list"], ["evaluations", "report"], ["rank"], ["todo"],
])
def test_every_command_has_help(tmp_path: Path, command: list[str]) -> None:
    result = studio(tmp_path, *command, "--help")
    assert result.returncode == 0 and "Usage" in result.stdout


def test_failures_are_one_line_with_nonzero_exit(tmp_path: Path) -> None:
    studio(tmp_path, "init", check=True)
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


def _without_studio_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_")}


def test_read_only_commands_refuse_to_create_a_database_and_say_where_they_looked(tmp_path: Path) -> None:
    """Run from another folder: `studio datasets` names the database it looked for, exits 1,
    and creates nothing -- neither in the current folder nor in the studio home."""
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**_without_studio_env(), "STUDIO_HOME": str(home)}
    for command in (["datasets"], ["stats", "shelves"], ["jobs", "list"], ["models", "list"], ["serve"]):
        result = subprocess.run([sys.executable, "-m", "studio.cli", *command], env=env, cwd=elsewhere,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        assert result.stderr.strip().splitlines() == [
            f"studio: no studio database at {home / 'annotations.db'}; run `studio init` (or `make run`) there, "
            f"or set STUDIO_HOME / STUDIO_DB_URL (home: {home}, STUDIO_HOME)"], command
    assert list(elsewhere.iterdir()) == [] and not home.exists()


def test_init_and_demo_create_the_database_in_the_home_whatever_the_current_folder(tmp_path: Path) -> None:
    """A relative STUDIO_HOME is taken from the folder `studio` starts in; once created, every
    command in any folder finds the same database, and nothing lands in the current folder."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()

    def run(cwd: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        env = {**_without_studio_env(), "STUDIO_HOME": str(tmp_path / "home"), **extra}
        done = subprocess.run([sys.executable, "-m", "studio.cli", *args], env=env, cwd=cwd,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done

    run(first, "demo", "--images", "2", STUDIO_HOME="../home")  # relative: from `first`
    assert (tmp_path / "home" / "annotations.db").is_file() and (tmp_path / "home" / "data" / "store").is_dir()
    assert "shelves" in run(second, "datasets").stdout
    assert f"sqlite:///{tmp_path / 'home' / 'annotations.db'}" in run(second, "init").stdout
    assert list(first.iterdir()) == [] and list(second.iterdir()) == []
