"""Class names (studio.class_names): trimming and refusals, and class lists from a comma
list or a file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.class_names import clean_class_name, parse_class_list
from studio.errors import InvalidInput, NotFound


@pytest.mark.parametrize("raw, expected", [
    (" cereal ", "cereal"),  # leading and trailing blanks are trimmed
    ("Müsli 500 g", "Müsli 500 g"),  # inner spaces, non-ASCII letters, digits are fine
    ("x" * 64, "x" * 64),  # exactly the limit
])
def test_names_are_trimmed(raw: str, expected: str) -> None:
    assert clean_class_name(raw) == expected


@pytest.mark.parametrize("raw, message", [
    ("", "empty"),  # nothing typed
    ("   ", "empty"),  # blanks only
    ("x" * 65, "65 characters long; expected at most 64"),  # over the limit
    ("tab\there", "control characters"),  # a pasted tab
    ("two\nlines", "control characters"),  # a pasted line break
    ("nul\x00", "control characters"),  # a NUL byte
    ("line\u2028sep", "control characters"),  # Unicode line separator
])
def test_bad_names_are_refused(raw: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        clean_class_name(raw)


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("make, expected", [
    (lambda d: "box, jar,can", ["box", "jar", "can"]),  # comma list, blanks trimmed
    (lambda d: "box,,jar,", ["box", "jar"]),  # empty items skipped
    (lambda d: "cereal", ["cereal"]),  # one name
    (lambda d: _write(d, "class_names.txt", "box\n\n jar \ncan\n"), ["box", "jar", "can"]),  # one per line
    (lambda d: str(_write(d, "labels.txt", "__ignore__\n_background_\ncat\ndog\n")), ["cat", "dog"]),  # labelme
    (lambda d: _write(d, "classes.json", json.dumps(["cat", "dog"])), ["cat", "dog"]),  # JSON list
    (lambda d: _write(d, "classes.json", json.dumps([{"name": "cat", "index": 1}, {"name": "dog", "index": 2}])),
     ["cat", "dog"]),  # a model's classes.json
    (lambda d: _write(d, "c.json", json.dumps({"classes": ["cat"]})), ["cat"]),  # {"classes": [...]}
    (lambda d: _write(d, "bom.txt", "\ufeffcat\r\ndog\r\n"), ["cat", "dog"]),  # Windows file with a BOM
])
def test_parse_class_list(tmp_path: Path, make, expected: list[str]) -> None:  # noqa: ANN001
    assert parse_class_list(make(tmp_path)) == expected


@pytest.mark.parametrize("make, error, message", [
    (lambda d: "box,Box", InvalidInput, "'Box' is given twice"),  # duplicate ignoring case
    (lambda d: " , ", InvalidInput, "names no class"),  # nothing
    (lambda d: "ok," + "x" * 70, InvalidInput, "at most 64"),  # over-long
    (lambda d: str(d / "clases.txt"), NotFound, "clases.txt not found"),  # a typo in the file name
    (lambda d: _write(d, "empty.txt", "\n\n"), InvalidInput, "names no class"),  # empty file
    (lambda d: _write(d, "bad.json", "[cat"), InvalidInput, "not valid JSON"),  # broken JSON
    (lambda d: _write(d, "num.json", "[1, 2]"), InvalidInput, "entry 1 is not a name"),  # numbers
    (lambda d: _write(d, "obj.json", '{"cat": 1}'), InvalidInput, "expected a JSON list"),  # a mapping
    (lambda d: _write(d, "tab.txt", "a\tb\n"), InvalidInput, "control characters"),  # a TSV line
])
def test_bad_class_lists_are_refused(tmp_path: Path, make, error: type, message: str) -> None:  # noqa: ANN001
    with pytest.raises(error, match=message):
        parse_class_list(make(tmp_path))
