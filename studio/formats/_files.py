"""File helpers shared by the format modules: safe names, image sizes, atomic output folders."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from PIL import Image

from studio.errors import Conflict, InvalidInput

_EXIF_ORIENTATION = 0x0112  # values 5..8 mean the stored image is rotated by 90 degrees


def image_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` of an image as displayed (EXIF orientation 5-8 swaps them);
    reads only the header."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{path}: expected a readable image, found {exc}") from exc
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def safe_relative(key: str) -> PurePosixPath:
    """An image key as a relative path that cannot leave its folder (no absolute, no '..')."""
    rel = PurePosixPath(key.replace("\\", "/"))
    if not key or rel.is_absolute() or ".." in rel.parts or rel.name in ("", "."):
        raise InvalidInput(f"image key {key!r}: expected a relative file path inside the dataset")
    return rel


def short_hash(text: str, length: int = 8) -> str:
    """A short stable hex digest of ``text`` (used to keep file names unique)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:length]


def unique_names(items: list[tuple[str, str]], keep_dirs: bool) -> dict[str, str]:
    """``[(group, image key), ...]`` -> ``{key: relative file name}`` for an export folder.

    The name is the key (``keep_dirs``) or its base name; where two keys of one group would
    share a name stem (``a.jpg`` / ``a.png``, or ``x/a.jpg`` / ``y/a.jpg`` without dirs), each
    gets a short hash of its key as prefix, so images and their label/mask files stay paired.
    """
    names = {key: safe_relative(key) if keep_dirs else PurePosixPath(safe_relative(key).name) for _, key in items}
    stems = Counter((group, names[key].with_suffix("").as_posix().lower()) for group, key in items)
    out = {}
    for group, key in items:
        name = names[key]
        if stems[(group, name.with_suffix("").as_posix().lower())] > 1:
            name = name.with_name(f"{short_hash(key)}_{name.name}")
        out[key] = name.as_posix()
    return out


def refuse_existing(path: Path, force: bool) -> None:
    """Raise Conflict if ``path`` exists and ``force`` is False."""
    if path.exists() and not force:
        raise Conflict(f"{path} already exists; choose another output or replace it (--force)")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextmanager
def atomic_output_dir(target: Path, force: bool = False) -> Iterator[Path]:
    """Build an output folder under a temporary name next to ``target``; publish it on success.

    Yields the temporary folder. When the ``with`` body returns, the folder is renamed to
    ``target`` (an existing ``target`` is replaced only with ``force``; otherwise Conflict is
    raised before anything is written). When the body raises, the temporary folder is
    removed and ``target`` is left as it was.
    """
    target = Path(target)
    refuse_existing(target, force)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    try:
        yield tmp
        if target.exists() or target.is_symlink():
            old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(target, old)
            os.replace(tmp, target)
            _remove(old)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            _remove(tmp)


def copy_file(source: Path, target: Path) -> None:
    """Copy bytes of ``source`` to ``target``, creating parent folders."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copyfile(source, target)
    except OSError as exc:
        raise InvalidInput(f"{source}: expected a readable image file to copy, found {exc}") from exc
