"""`studio pull | cache info | cache clear | embed` (typer's CliRunner, in process)."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from studio.cli import app
from studio.errors import StudioError
from studio.segment.cache import get_cache
from tests.segment.conftest import FakeSegmenter

runner = CliRunner()


def test_cache_info_and_clear(studio_env: dict[str, str]) -> None:
    empty = runner.invoke(app, ["cache", "info"])
    assert empty.exit_code == 0 and "0 entries" in empty.stdout
    for seg_id in ("seg-a", "seg-b"):
        fake = FakeSegmenter(id=seg_id)
        get_cache().get_or_compute(fake, "ab" * 32, lambda f=fake: f.set_image(np.zeros((4, 4, 3), np.uint8)))
    shown = runner.invoke(app, ["cache", "info"])
    assert shown.exit_code == 0 and "2 entries" in shown.stdout and "seg-a" in shown.stdout
    data = json.loads(runner.invoke(app, ["cache", "info", "--json"]).stdout)
    assert data["entries"] == 2 and set(data["by_segmenter"]) == {"seg-a", "seg-b"}
    cleared = runner.invoke(app, ["cache", "clear", "--segmenter", "seg-a"])
    assert cleared.exit_code == 0 and "removed 1" in cleared.stdout
    assert runner.invoke(app, ["cache", "clear"]).stdout.startswith("removed 1")


def test_pull_lists_and_refuses_unknown_names(studio_env: dict[str, str]) -> None:
    listing = runner.invoke(app, ["pull", "list"])
    assert listing.exit_code == 0 and "sam-vit-b" in listing.stdout and "sam-vit-h" in listing.stdout
    unknown = runner.invoke(app, ["pull", "sam-vit-x"])
    assert isinstance(unknown.exception, StudioError) and "sam-vit-b" in str(unknown.exception)


def test_embed_refuses_an_unknown_dataset_and_has_help(studio_env: dict[str, str]) -> None:
    result = runner.invoke(app, ["embed", "nope"])
    assert isinstance(result.exception, StudioError) and "no dataset named 'nope'" in str(result.exception)
    for command in (["embed"], ["pull"], ["cache"], ["cache", "info"], ["cache", "clear"]):
        assert runner.invoke(app, [*command, "--help"]).exit_code == 0
