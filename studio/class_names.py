"""Class names: the rules a name follows, and class lists given on the command line.

A name is trimmed and must be 1..64 characters without control characters; names in one
dataset are unique regardless of case (``check_new_names``). A class list is a comma list
(``"box, jar,can"``) or a file (``parse_class_list``). No database here: studio.classes
applies these rules to a dataset's classes.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from pathlib import Path

from studio.errors import InvalidInput, NotFound

MAX_NAME_LENGTH = 64
# Lines of a labels file that name no class (labelme's labels.txt convention).
_SKIPPED_LABELS = frozenset({"__ignore__", "_background_", "__background__"})
_LIST_FILE_SUFFIXES = (".txt", ".json", ".names")  # text naming such a file is read as a file


# ---- validation ------------------------------------------------------------------------

def clean_class_name(name: str) -> str:
    """``name`` trimmed; InvalidInput when it is empty, longer than 64 characters, or holds
    control characters (tabs, newlines, ...)."""
    if not isinstance(name, str):
        raise InvalidInput(f"class name {name!r}: expected text such as 'bottle'")
    text = name.strip()
    if not text:
        raise InvalidInput("class name is empty; expected a short name such as 'bottle'")
    bad = [ch for ch in text if unicodedata.category(ch) in ("Cc", "Zl", "Zp")]
    if bad:
        raise InvalidInput(f"class name {text!r} contains control characters ({', '.join(repr(c) for c in bad)}); "
                           "expected plain text on one line")
    if len(text) > MAX_NAME_LENGTH:
        raise InvalidInput(f"class name {text[:20]!r}... is {len(text)} characters long; "
                           f"expected at most {MAX_NAME_LENGTH}")
    return text


def check_new_names(names: Sequence[str], taken: Sequence[str]) -> list[str]:
    """The cleaned ``names``; InvalidInput when one repeats another or one of ``taken``
    (case-insensitive)."""
    cleaned = [clean_class_name(n) for n in names]
    existing = {t.casefold(): t for t in taken}
    seen: dict[str, str] = {}
    for name in cleaned:
        key = name.casefold()
        if key in existing:
            raise InvalidInput(f"the dataset already has a class {existing[key]!r}; expected a new name "
                               "(names are compared ignoring case)")
        if key in seen:
            raise InvalidInput(f"class name {name!r} is given twice; expected each name once")
        seen[key] = name
    return cleaned


def parse_class_list(text_or_file: str | Path) -> list[str]:
    """Class names from a comma list (``"box, jar,can"``) or a file: ``*.json`` holding a list
    of names (or of ``{"name": ...}`` objects, or ``{"classes": [...]}``), any other file one
    name per line (class_names.txt, labels.txt; blank lines and labelme's ``__ignore__`` /
    ``_background_`` lines skipped). A ``Path``, or text without a comma that names an existing
    file or ends in .txt / .json / .names, is read as a file. InvalidInput when a name is
    invalid or repeated (ignoring case), or none is given; NotFound when the file is missing."""
    path = text_or_file if isinstance(text_or_file, Path) else None
    text = str(text_or_file)
    if path is None and "," not in text and text.strip():
        candidate = Path(text.strip()).expanduser()
        if candidate.is_file() or candidate.suffix.lower() in _LIST_FILE_SUFFIXES:
            path = candidate  # a typo in a file name is "not found", not a class called "clases.txt"
    if path is not None:
        names, where = _names_in_file(path), f"classes file {path}"
    else:
        names, where = [part for part in text.split(",") if part.strip()], "class list"
    if not names:
        raise InvalidInput(f"{where} names no class; expected names separated by commas "
                           "(e.g. 'box,jar') or a file with one name per line or a JSON list")
    try:
        return check_new_names(names, [])
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: {exc}") from None


def _names_in_file(path: Path) -> list[str]:
    if not path.is_file():
        raise NotFound(f"classes file {path} not found; expected a .json list or a text file with one name per line")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"classes file {path} cannot be read as UTF-8 text: {exc}") from None
    if path.suffix.lower() != ".json":
        return [line.strip() for line in text.splitlines() if line.strip() and line.strip() not in _SKIPPED_LABELS]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"classes file {path} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if isinstance(data, dict) and isinstance(data.get("classes"), list):
        data = data["classes"]
    if not isinstance(data, list):
        raise InvalidInput(f"classes file {path}: expected a JSON list of names (or of {{\"name\": ...}} objects)")
    names = []
    for item in data:
        name = item.get("name") if isinstance(item, dict) else item
        if not isinstance(name, str):
            raise InvalidInput(f"classes file {path}: entry {item!r} is not a name; expected text such as 'bottle'")
        if name.strip() not in _SKIPPED_LABELS:
            names.append(name)
    return names
