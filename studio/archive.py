"""Safe extraction of uploaded dataset archives, and zipping a folder for download.

``extract_archive`` never writes outside its target: every member name is checked
(no absolute paths, drive letters, ``..`` components or NUL bytes; backslashes count as
separators), links and device files are refused, and the declared member count and total
uncompressed size are checked against limits before the bytes are copied (zip bombs); the
copy itself is also counted, so a member that holds more than it declares is refused.
Members are written by this module (never ``extractall``) into a temp folder next to the
target, renamed into place only when everything succeeded; on any error the temp folder is
removed and ``studio.errors.InvalidInput`` names the offending member and what was expected.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Literal

from studio.errors import Conflict, InvalidInput

SUPPORTED_FORMATS = ".zip, .tar, .tar.gz/.tgz, .tar.bz2, .tar.xz"
_SKIPPED_TOP = frozenset({"__MACOSX"})  # macOS resource-fork junk: not extracted
_CHUNK = 1 << 20
# compressed files gain nothing from deflate: stored as is in zip_folder
_STORED_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gz", ".zip", ".pt", ".pth", ".onnx", ".mp4"})


@dataclass(frozen=True)
class _Entry:
    """One archive member that passed the checks."""

    name: str  # as stored in the archive (for messages)
    rel: PurePosixPath | None  # safe relative path; None = skip (".", "__MACOSX/...")
    kind: Literal["file", "dir"]
    size: int  # declared uncompressed size in bytes (0 for dirs)


class _Budget:
    """Running member count and declared byte total, refused past the limits."""

    def __init__(self, archive: Path, max_total_bytes: int, max_files: int) -> None:
        self.archive, self.max_total_bytes, self.max_files = archive, max_total_bytes, max_files
        self.files = 0
        self.bytes = 0

    def add(self, entry: _Entry) -> None:
        self.files += 1
        self.bytes += entry.size
        if self.files > self.max_files:
            raise InvalidInput(f"{self.archive.name}: member {entry.name!r} is past the limit of "
                               f"{self.max_files:,} members; expected at most {self.max_files:,}")
        if self.bytes > self.max_total_bytes:
            raise InvalidInput(f"{self.archive.name}: member {entry.name!r} ({entry.size:,} bytes) brings the "
                               f"declared uncompressed size to {self.bytes:,} bytes; expected at most "
                               f"{self.max_total_bytes:,} (refused as a possible archive bomb)")


# --------------------------------------------------------------------------- member checks


def _refuse(archive: Path, name: str, problem: str) -> InvalidInput:
    return InvalidInput(f"{archive.name}: member {name!r} {problem}; expected relative paths "
                        "to regular files and folders inside the archive")


def safe_member_path(archive: Path, name: str) -> PurePosixPath | None:
    """The relative path a member name may be written to, ``None`` for "nothing to write".

    Raises ``InvalidInput`` for absolute paths, drive letters, ``..`` components and NUL bytes.
    """
    if "\x00" in name:
        raise _refuse(archive, name, "has a NUL byte in its name")
    normal = name.replace("\\", "/")
    if normal.startswith("/") or (len(normal) >= 2 and normal[1] == ":"):
        raise _refuse(archive, name, "has an absolute path")
    parts = [p for p in normal.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _refuse(archive, name, "has a '..' component (would write outside the target)")
    if not parts or parts[0] in _SKIPPED_TOP:
        return None
    return PurePosixPath(*parts)


def _zip_entry(archive: Path, info: zipfile.ZipInfo) -> _Entry:
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise _refuse(archive, info.filename, "is a symbolic link")
    if mode and stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise _refuse(archive, info.filename, "is a device or special file")
    if info.flag_bits & 0x1:
        raise _refuse(archive, info.filename, "is encrypted")
    kind: Literal["file", "dir"] = "dir" if info.is_dir() else "file"
    return _Entry(info.filename, safe_member_path(archive, info.filename), kind,
                  0 if kind == "dir" else info.file_size)


def _tar_entry(archive: Path, member: tarfile.TarInfo) -> _Entry:
    if member.issym() or member.islnk():
        what = "symbolic" if member.issym() else "hard"
        raise _refuse(archive, member.name, f"is a {what} link (to {member.linkname!r})")
    if member.isdir():
        return _Entry(member.name, safe_member_path(archive, member.name), "dir", 0)
    if not member.isreg():
        raise _refuse(archive, member.name, "is a device, FIFO or other special file")
    return _Entry(member.name, safe_member_path(archive, member.name), "file", member.size)


# --------------------------------------------------------------------------- writing


def _destination(root: Path, entry: _Entry) -> Path:
    """``root / entry.rel``, checked once more to resolve inside ``root``."""
    assert entry.rel is not None
    dest = root / entry.rel
    if not dest.resolve().is_relative_to(root.resolve()):
        raise InvalidInput(f"member {entry.name!r} resolves outside the target folder; expected a path inside it")
    return dest


def _write_entry(root: Path, entry: _Entry, source: IO[bytes] | None, budget: _Budget) -> None:
    """Create the folder or copy the file of ``entry``, counting real bytes against limits."""
    dest = _destination(root, entry)
    if entry.kind == "dir":
        try:
            dest.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise InvalidInput(f"{budget.archive.name}: folder member {entry.name!r} collides with a file "
                               "of the same name; expected distinct paths") from None
        return
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        out = open(dest, "wb")
    except (FileExistsError, IsADirectoryError, NotADirectoryError):
        raise InvalidInput(f"{budget.archive.name}: member {entry.name!r} collides with another member "
                           "(a file and a folder of the same name); expected distinct paths") from None
    written = 0
    with out:
        while source is not None and (chunk := source.read(_CHUNK)):
            written += len(chunk)
            if written > entry.size:
                raise InvalidInput(f"{budget.archive.name}: member {entry.name!r} holds more than its declared "
                                   f"{entry.size:,} bytes; expected the declared size (refused as a possible bomb)")
            out.write(chunk)


def _extract_zip(archive: Path, root: Path, budget: _Budget) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        if len(infos) > budget.max_files:
            raise InvalidInput(f"{archive.name}: {len(infos):,} members (member {infos[budget.max_files].filename!r} "
                               f"is past the limit); expected at most {budget.max_files:,}")
        entries = [(_zip_entry(archive, info), info) for info in infos]
        for entry, _ in entries:  # everything is checked before the first byte is written
            budget.add(entry)
        for entry, info in entries:
            if entry.rel is None:
                continue
            if entry.kind == "dir":
                _write_entry(root, entry, None, budget)
            else:
                with zf.open(info) as source:
                    _write_entry(root, entry, source, budget)


def _extract_tar(archive: Path, root: Path, budget: _Budget) -> None:
    """One streaming pass: each header is checked (and counted) before its data is copied."""
    with tarfile.open(archive, "r:*") as tf:
        for member in _iter_tar(tf):
            entry = _tar_entry(archive, member)
            budget.add(entry)
            if entry.rel is None:
                continue
            if entry.kind == "dir":
                _write_entry(root, entry, None, budget)
            else:
                source = tf.extractfile(member)
                try:
                    _write_entry(root, entry, source, budget)
                finally:
                    if source is not None:
                        source.close()


def _iter_tar(tf: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """Members one at a time, without keeping the whole member list in memory."""
    while (member := tf.next()) is not None:
        yield member
        tf.members.clear()


def _archive_kind(archive: Path) -> Literal["zip", "tar"]:
    if not archive.is_file():
        raise InvalidInput(f"{archive}: no such archive file; expected one of {SUPPORTED_FORMATS}")
    if zipfile.is_zipfile(archive):
        return "zip"
    if tarfile.is_tarfile(archive):
        return "tar"
    raise InvalidInput(f"{archive.name}: not a recognised archive; expected one of {SUPPORTED_FORMATS}")


def dataset_root(folder: Path) -> Path:
    """``folder`` itself, or its only top-level subfolder when it holds nothing else visible."""
    visible = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if len(visible) == 1 and visible[0].is_dir():
        return visible[0]
    return folder


def _prepare_target(target: Path) -> None:
    """Refuse a non-empty target (``Conflict``); remove an empty one so the rename can land."""
    if target.is_dir() and not target.is_symlink():
        if any(target.iterdir()):
            raise Conflict(f"{target}: folder exists and is not empty; expected a new or empty folder")
        target.rmdir()
    elif target.exists() or target.is_symlink():
        raise Conflict(f"{target}: exists and is not a folder; expected a new or empty folder")
    target.parent.mkdir(parents=True, exist_ok=True)


def extract_archive(archive: Path, target: Path, *, max_total_bytes: int = 20 * 2**30,
                    max_files: int = 200_000) -> Path:
    """Extract a zip / tar / tar.gz / tar.bz2 / tar.xz ``archive`` to the new folder ``target``.

    Returns the dataset root: ``target``, or ``target/<name>`` when the archive holds exactly
    one top-level folder (and nothing else). Raises ``InvalidInput`` (naming the member) for
    unsafe or special members, more than ``max_files`` members, more than ``max_total_bytes``
    declared uncompressed bytes, a corrupt or unknown archive; ``Conflict`` when ``target``
    exists and is not empty. On error nothing is left at ``target``.
    """
    archive, target = Path(archive), Path(target)
    kind = _archive_kind(archive)
    _prepare_target(target)
    budget = _Budget(archive, max_total_bytes, max_files)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        (_extract_zip if kind == "zip" else _extract_tar)(archive, tmp, budget)
        os.rename(tmp, target)
    except InvalidInput:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, NotImplementedError, RuntimeError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InvalidInput(f"{archive.name}: corrupt or unsupported archive ({exc}); "
                           f"expected a readable {SUPPORTED_FORMATS} file") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dataset_root(target)


# --------------------------------------------------------------------------- zip for download


def _files_under(folder: Path, exclude: Path) -> list[Path]:
    """Regular files under ``folder`` (symlinked folders are not followed), sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames.sort()
        found.extend(Path(dirpath) / f for f in sorted(filenames))
    return [p for p in found if p.is_file() and p.resolve() != exclude]


def zip_folder(folder: Path, out: Path) -> Path:
    """Zip ``folder`` to ``out`` with entries under ``<folder name>/``; returns ``out``.

    Already-compressed files (images, archives, checkpoints) are stored, the rest deflated.
    Written to a temp name next to ``out`` and renamed, so ``out`` is never half-written;
    an existing ``out`` is replaced.
    """
    folder, out = Path(folder), Path(out)
    if not folder.is_dir():
        raise InvalidInput(f"{folder}: expected a folder to zip")
    files = _files_under(folder, out.resolve())
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
            for path in files:
                arcname = f"{folder.name}/{path.relative_to(folder).as_posix()}"
                stored = path.suffix.lower() in _STORED_SUFFIXES
                zf.write(path, arcname, compress_type=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out
