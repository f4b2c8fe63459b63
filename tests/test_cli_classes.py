"""`studio classes ...` through typer's CliRunner (in process) against the real database."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from studio.classes import class_summaries
from studio.cli import app
from studio.errors import InvalidInput, NotFound

runner = CliRunner()

# pycocotools' decode trips numpy 2's copy-keyword deprecation; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture
def shelves(studio_env: dict[str, str], tmp_path: Path) -> str:
    from studio.datasets import ingest_doc
    from studio.demo import generate_demo

    ingest_doc(generate_demo(tmp_path / "demo", n_images=2, seed=4, width=320, height=240), dataset="shelves")
    return "shelves"


def _ok(*args: str) -> str:
    result = runner.invoke(app, ["classes", *args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def _names() -> list[str]:
    return [c.name for c in class_summaries(dataset="shelves")]


@pytest.mark.parametrize("command", ["list", "add", "rename", "recolor", "reorder", "merge", "remove"])
def test_every_classes_command_has_help(command: str) -> None:
    result = runner.invoke(app, ["classes", command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_list_add_rename_recolor_reorder_merge_remove(shelves: str, tmp_path: Path) -> None:
    listing = _ok("list", shelves)
    assert "box" in listing and "#ffe119" in listing and "annotations" in listing
    assert "added class 'cereal' (index 6, colour #000075)" in _ok("add", shelves, "cereal", "--color", "#000075")
    labels = tmp_path / "labels.txt"
    labels.write_text("soap\ntea\n")
    added = _ok("add", shelves, "rice,oil", str(labels))
    assert all(f"added class '{n}'" in added for n in ("rice", "oil", "soap", "tea"))
    assert "renamed 'can' to 'tin'" in _ok("rename", shelves, "can", "tin")
    assert "now #abcdef" in _ok("recolor", shelves, "tin", "#ABCDEF")
    order = ["tape", "tin", "box", "jar", "bottle", "cereal", "rice", "oil", "soap", "tea"]
    assert _ok("reorder", shelves, ",".join(order[:5]), *order[5:]).strip() == f"shelves: {', '.join(order)}"
    jar = next(s.annotations for s in class_summaries(dataset=shelves) if s.name == "jar")
    assert f"merged 'jar' into 'box': {jar} annotations re-labelled" in _ok("merge", shelves, "jar", "box")
    assert "removed class 'tea'" in _ok("remove", shelves, "tea")
    moved = _ok("remove", shelves, "tape", "--reassign-to", "tin")
    assert "removed class 'tape'" in moved and "annotations now 'tin'" in moved
    assert _names() == ["tin", "box", "bottle", "cereal", "rice", "oil", "soap"]
    rows = json.loads(_ok("list", shelves, "--json"))
    assert [r["name"] for r in rows] == _names() and rows[0]["index"] == 4 and rows[0]["color"] == "#abcdef"


@pytest.mark.parametrize("args, error, message", [
    (["add", "shelves", "Box"], InvalidInput, "already has a class 'box'"),  # duplicate ignoring case
    (["add", "shelves", " "], InvalidInput, "names no class"),  # empty
    (["add", "shelves", "x" * 65], InvalidInput, "at most 64"),  # over-long
    (["add", "shelves", "a", "b", "--color", "#ffffff"], InvalidInput, "single name"),  # one colour, two names
    (["add", "shelves", "clases.txt"], NotFound, "clases.txt not found"),  # a mistyped classes file
    (["rename", "shelves", "jar", "bottle"], InvalidInput, "already has a class 'bottle'"),  # duplicate
    (["recolor", "shelves", "jar", "orange"], InvalidInput, "expected '#rrggbb'"),  # not a hex colour
    (["reorder", "shelves", "box,jar"], InvalidInput, "missing"),  # not every class
    (["merge", "shelves", "jar", "jar"], InvalidInput, "into itself"),  # merge into itself
    (["merge", "shelves", "jar", "cup"], NotFound, "no class 'cup'"),  # unknown target
    (["remove", "shelves", "jar"], InvalidInput, "used by .* --reassign-to"),  # in use
    (["list", "nope"], NotFound, "no dataset named 'nope'"),  # unknown dataset
])
def test_refusals_change_nothing(shelves: str, args: list[str], error: type, message: str) -> None:
    before = class_summaries(dataset=shelves)
    result = runner.invoke(app, ["classes", *args])
    assert result.exit_code != 0 and isinstance(result.exception, error), result.output
    assert re.search(message, str(result.exception)), result.exception
    assert class_summaries(dataset=shelves) == before  # main() prints it as one line: `studio: <reason>`


def test_an_empty_dataset_says_how_to_add_a_class(studio_env: dict[str, str]) -> None:
    from studio.datasets import get_or_create_dataset
    from studio.db import session_scope

    with session_scope() as session:
        get_or_create_dataset(session, "photos")
    assert "no classes yet: `studio classes add photos NAME`" in _ok("list", "photos")
