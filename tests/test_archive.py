"""Safe archive extraction: hostile archives are refused, leaving nothing; good ones extract."""

from __future__ import annotations

import io
import re
import stat
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from studio.archive import extract_archive, zip_folder
from studio.errors import Conflict, InvalidInput

# --------------------------------------------------------------------------- builders


def _zip(path: Path, members: list[tuple[str, bytes]], *, modes: dict[str, int] | None = None) -> Path:
    """A zip whose member names are written verbatim (zipfile does not sanitise writestr)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if modes and name in modes:
                info.external_attr = modes[name] << 16
            zf.writestr(info, data)
    return path


def _tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w:gz") -> Path:
    """A tar of regular files ``(name, data)`` and ready-made ``TarInfo`` headers (links, devices)."""
    with tarfile.open(path, mode) as tf:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tf.addfile(member)
            else:
                name, data = member
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return path


def _special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


OK = b"fine"
ZEROS = b"\0" * (2 * 2**20)  # 2 MiB that compresses to a few KiB

# (id, builder(tmp_path) -> archive, member the message must name, limits) -- one hostile case each
HOSTILE: list[tuple[str, Callable[[Path], Path], str, dict[str, int]]] = [
    # zip slip: a parent-directory member name
    ("zip-dotdot", lambda d: _zip(d / "a.zip", [("ok.txt", OK), ("../evil.txt", OK)]), "../evil.txt", {}),
    # absolute path in a zip
    ("zip-absolute", lambda d: _zip(d / "a.zip", [("/abs/path.txt", OK)]), "/abs/path.txt", {}),
    # '..' hidden in the middle of the path
    ("zip-nested-dotdot", lambda d: _zip(d / "a.zip", [("a/../../x.txt", OK)]), "a/../../x.txt", {}),
    # Windows separators: '..\\' is a parent reference too
    ("zip-backslash", lambda d: _zip(d / "a.zip", [("..\\evil.txt", OK)]), "..\\evil.txt", {}),
    # Windows drive letter
    ("zip-drive", lambda d: _zip(d / "a.zip", [("C:/evil.txt", OK)]), "C:/evil.txt", {}),
    # a zip member flagged as a unix symlink
    ("zip-symlink", lambda d: _zip(d / "a.zip", [("link", b"/etc/passwd")],
                                   modes={"link": stat.S_IFLNK | 0o777}), "link", {}),
    # a file and a folder with the same name
    ("zip-collision", lambda d: _zip(d / "a.zip", [("a", OK), ("a/b.txt", OK)]), "a/b.txt", {}),
    # too many members (limit lowered to 10)
    ("zip-too-many", lambda d: _zip(d / "a.zip", [(f"f{i:02d}.txt", OK) for i in range(11)]), "f10.txt",
     {"max_files": 10}),
    # declared uncompressed size over the limit: a small zip that expands to 2 MiB
    ("zip-bomb", lambda d: _zip(d / "a.zip", [("ok.txt", OK), ("zeros.bin", ZEROS)]), "zeros.bin",
     {"max_total_bytes": 2**20}),
    # tar slip
    ("tar-dotdot", lambda d: _tar(d / "a.tar.gz", [("../evil", OK)]), "../evil", {}),
    # absolute path in a tar
    ("tar-absolute", lambda d: _tar(d / "a.tar.gz", [("/abs/path", OK)]), "/abs/path", {}),
    # nested '..' in a tar
    ("tar-nested-dotdot", lambda d: _tar(d / "a.tar.gz", [("a/../../x", OK)]), "a/../../x", {}),
    # symlink pointing outside, then a file written through it
    ("tar-symlink", lambda d: _tar(d / "a.tar.gz", [_special("data/link", tarfile.SYMTYPE, "../../outside"),
                                                    ("data/link/evil.txt", OK)]), "data/link", {}),
    # hard link to a file outside
    ("tar-hardlink", lambda d: _tar(d / "a.tar", [_special("hard", tarfile.LNKTYPE, "/etc/passwd")], "w"),
     "hard", {}),
    # character device
    ("tar-device", lambda d: _tar(d / "a.tar", [_special("dev/null", tarfile.CHRTYPE)], "w"), "dev/null", {}),
    # named pipe
    ("tar-fifo", lambda d: _tar(d / "a.tar", [_special("pipe", tarfile.FIFOTYPE)], "w"), "pipe", {}),
    # too many members in a tar (refused while streaming; the partial output is removed)
    ("tar-too-many", lambda d: _tar(d / "a.tar.gz", [(f"f{i:02d}", OK) for i in range(11)]), "f10",
     {"max_files": 10}),
    # tar.gz bomb by declared size
    ("tar-bomb", lambda d: _tar(d / "a.tar.gz", [("ok", OK), ("zeros.bin", ZEROS)]), "zeros.bin",
     {"max_total_bytes": 2**20}),
]


def _files_outside(tmp_path: Path, archive: Path) -> list[Path]:
    """Everything under tmp_path except the archive and the (expected empty) extraction parent."""
    return [p for p in tmp_path.rglob("*") if p != archive and p != tmp_path / "out"]


@pytest.mark.parametrize(("build", "member", "limits"), [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE])
def test_hostile_archives_are_refused_without_leftovers(tmp_path: Path, build: Callable[[Path], Path],
                                                        member: str, limits: dict[str, int]) -> None:
    archive = build(tmp_path)
    target = tmp_path / "out" / "dataset"
    with pytest.raises(InvalidInput, match=re.escape(repr(member))):
        extract_archive(archive, target, **limits)
    assert not target.exists()
    assert list((tmp_path / "out").iterdir()) == [], "partial extraction left behind"
    assert _files_outside(tmp_path, archive) == [], "something was written outside the target"


# unknown or broken inputs: (id, file bytes, words the message must contain)
NOT_ARCHIVES = [
    ("text", b"just some text\n" * 40, "expected one of .zip"),  # not an archive at all
    ("empty", b"", "expected one of .zip"),  # zero bytes
    ("truncated-zip", b"PK\x03\x04" + b"\0" * 40, "expected one of .zip"),  # zip header, no directory
]


@pytest.mark.parametrize(("data", "words"), [c[1:] for c in NOT_ARCHIVES], ids=[c[0] for c in NOT_ARCHIVES])
def test_unknown_formats_name_the_supported_ones(tmp_path: Path, data: bytes, words: str) -> None:
    source = tmp_path / "upload.bin"
    source.write_bytes(data)
    with pytest.raises(InvalidInput, match=re.escape(words)):
        extract_archive(source, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_missing_archive(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such archive"):
        extract_archive(tmp_path / "nope.zip", tmp_path / "out")


def test_non_empty_target_is_a_conflict(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "a.zip", [("x.txt", OK)])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_bytes(b"mine")
    with pytest.raises(Conflict):
        extract_archive(archive, tmp_path / "out")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["keep.txt"]


# --------------------------------------------------------------------------- good archives

FILES = {"shelves/images/a.jpg": b"\xff\xd8jpeg-a", "shelves/images/b.jpg": b"\xff\xd8jpeg-b",
         "shelves/annotations.json": b"{}"}

# (id, builder, expected root relative to target ("" = target), files expected under target)
GOOD: list[tuple[str, Callable[[Path], Path], str, dict[str, bytes]]] = [
    # one top-level folder: it is the dataset root
    ("zip-single-folder", lambda d: _zip(d / "a.zip", list(FILES.items())), "shelves", FILES),
    # the same as tar.gz, with explicit './' prefixes
    ("targz-single-folder", lambda d: _tar(d / "a.tar.gz", [(f"./{k}", v) for k, v in FILES.items()]),
     "shelves", FILES),
    # bz2 and xz tars are read too
    ("tarbz2", lambda d: _tar(d / "a.tar.bz2", list(FILES.items()), "w:bz2"), "shelves", FILES),
    ("tarxz", lambda d: _tar(d / "a.tar.xz", list(FILES.items()), "w:xz"), "shelves", FILES),
    # two top-level entries: the target is the root
    ("zip-flat", lambda d: _zip(d / "a.zip", [("images/a.jpg", b"a"), ("labels/a.txt", b"0 0.5 0.5")]), "",
     {"images/a.jpg": b"a", "labels/a.txt": b"0 0.5 0.5"}),
    # a single top-level FILE is not a folder root
    ("zip-one-file", lambda d: _zip(d / "a.zip", [("a.jpg", b"a")]), "", {"a.jpg": b"a"}),
    # macOS junk is skipped and does not spoil single-folder detection
    ("zip-macosx", lambda d: _zip(d / "a.zip", [*FILES.items(), ("__MACOSX/shelves/._a.jpg", b"junk")]),
     "shelves", FILES),
    # directory entries and backslash separators (Windows tools) are fine
    ("zip-dirs-backslash", lambda d: _zip(d / "a.zip", [("data/", b""), ("data\\x.txt", b"x")]), "data",
     {"data/x.txt": b"x"}),
]


@pytest.mark.parametrize(("build", "root", "files"), [c[1:] for c in GOOD], ids=[c[0] for c in GOOD])
def test_good_archives_extract(tmp_path: Path, build: Callable[[Path], Path], root: str,
                               files: dict[str, bytes]) -> None:
    target = tmp_path / "out" / "dataset"
    found = extract_archive(build(tmp_path), target)
    assert found == (target / root if root else target)
    got = {p.relative_to(target).as_posix(): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    assert got == files
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["dataset"], "temp folder left behind"


def test_empty_existing_target_is_reused(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    assert extract_archive(_zip(tmp_path / "a.zip", [("x.txt", OK)]), tmp_path / "out") == tmp_path / "out"
    assert (tmp_path / "out" / "x.txt").read_bytes() == OK


def test_zip_folder_round_trip(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    for name, data in {"images/a.jpg": b"\xff\xd8a", "annotations.json": b'{"images": []}',
                       "deep/er/x.txt": b"x"}.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    out = tmp_path / "dl" / "export.zip"
    out.parent.mkdir()
    out.write_bytes(b"old")  # replaced, not appended to
    assert zip_folder(folder, out) == out
    assert [p.name for p in out.parent.iterdir()] == ["export.zip"], "temp file left behind"
    with zipfile.ZipFile(out) as zf:
        kinds = {i.filename: i.compress_type for i in zf.infolist()}
    assert kinds["export/images/a.jpg"] == zipfile.ZIP_STORED  # already compressed
    assert kinds["export/annotations.json"] == zipfile.ZIP_DEFLATED
    root = extract_archive(out, tmp_path / "back")
    assert root == tmp_path / "back" / "export"
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == \
           ["annotations.json", "deep/er/x.txt", "images/a.jpg"]
    assert (root / "images" / "a.jpg").read_bytes() == b"\xff\xd8a"


def test_zip_folder_inside_itself_skips_its_own_output(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"a")
    out = zip_folder(tmp_path, tmp_path / "self.zip")
    with zipfile.ZipFile(out) as zf:
        assert zf.namelist() == [f"{tmp_path.name}/a.txt"]


def test_zip_folder_needs_a_folder(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="expected a folder"):
        zip_folder(tmp_path / "missing", tmp_path / "x.zip")
