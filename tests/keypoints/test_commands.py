"""`studio keypoints ...` through typer's CliRunner (in process, isolated data folder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from studio.cli import app
from studio.errors import NotFound

runner = CliRunner()


@pytest.mark.parametrize("command", [["keypoints"], ["keypoints", "import"], ["keypoints", "list"],
                                     ["keypoints", "show"], ["keypoints", "snapshot"], ["keypoints", "demo"]])
def test_every_keypoints_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_demo_list_show_snapshot(data_dir: Path) -> None:
    assert "no keypoint datasets yet" in runner.invoke(app, ["keypoints", "list"]).output
    result = runner.invoke(app, ["keypoints", "demo", "signs", "--glosses", "3", "--clips", "2", "--length", "6"])
    assert result.exit_code == 0 and "6 synthetic clips of 3 glosses added" in result.output
    again = runner.invoke(app, ["keypoints", "demo", "signs", "--glosses", "3", "--clips", "2", "--length", "6"])
    assert "0 synthetic clips" in again.output and "(6 already there)" in again.output
    result = runner.invoke(app, ["keypoints", "snapshot", "signs", "--note", "first"])
    assert result.exit_code == 0 and result.output.strip() == "signs: saved as signs (data v1): 6 clips, 3 glosses, " \
        "1 categories"
    again = runner.invoke(app, ["keypoints", "snapshot", "signs"])  # nothing changed: v1 again, no copy
    assert again.output.startswith("signs: unchanged since signs (data v1)")
    listing = runner.invoke(app, ["keypoints", "list"]).output
    assert "signs" in listing and "hands_pose156" in listing and "D=156" in listing and "versions: data v1" in listing
    shown = json.loads(runner.invoke(app, ["keypoints", "show", "signs"]).output)
    assert shown["clips"] == 6 and shown["versions"] == [1] and len(shown["glosses"]) == 3
    failed = runner.invoke(app, ["keypoints", "snapshot", "nope"])
    assert failed.exit_code != 0 and isinstance(failed.exception, NotFound)  # main() prints it as one line


def test_import_the_real_point_history(data_dir: Path, mediapipe_csvs: Path) -> None:
    result = runner.invoke(app, ["keypoints", "import", "gestures", str(mediapipe_csvs / "point_history_subset.csv")])
    assert result.exit_code == 0, result.output
    assert "100 clips added from 100 point_history rows" in result.output
    assert "glosses: Stop, Clockwise, Counter Clockwise, Move" in result.output
    again = runner.invoke(app, ["keypoints", "import", "gestures", str(mediapipe_csvs / "point_history_subset.csv")])
    assert "0 clips added" in again.output and "100 duplicates skipped" in again.output
