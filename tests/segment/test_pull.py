"""`studio pull`: verified downloads to a temp name, never touching the network in tests."""

from __future__ import annotations

import hashlib
import urllib.error
from pathlib import Path

import pytest

from studio.errors import InvalidInput, StudioError
from studio.segment.pull import PULLERS, SAM_CHECKPOINTS, pull_file, pull_sam, register_puller, run_puller


def source_file(tmp_path: Path, data: bytes = b"pretend weights " * 1000) -> tuple[str, str, str]:
    path = tmp_path / "source" / "weights.bin"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path.as_uri(), hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()


def test_the_official_names_carry_the_md5_prefix() -> None:
    assert set(SAM_CHECKPOINTS) == {"vit_b", "vit_l", "vit_h"}
    for spec in SAM_CHECKPOINTS.values():
        assert spec.file.endswith(f"_{spec.md5_prefix}.pth") and len(spec.sha256) == 64
        assert spec.url == f"https://dl.fbaipublicfiles.com/segment_anything/{spec.file}"
    assert {"sam-vit-b", "sam-vit-l", "sam-vit-h"} <= set(PULLERS)


def test_a_verified_download_lands_under_its_name(tmp_path: Path) -> None:
    url, sha, md5 = source_file(tmp_path)
    reports: list[tuple[float, str]] = []
    dest = pull_file(url, tmp_path / "models" / "w.bin", sha256=sha, md5_prefix=md5[:6],
                     progress=lambda f, m: reports.append((f, m)))
    assert dest.read_bytes() == b"pretend weights " * 1000
    assert reports[-1][0] == 1.0 and [p.name for p in dest.parent.iterdir()] == ["w.bin"]

    def no_network(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("downloaded again although the file is there and verified")

    assert pull_file(url, dest, sha256=sha, opener=no_network) == dest


def test_a_checksum_mismatch_leaves_nothing_behind(tmp_path: Path) -> None:
    url, _, _ = source_file(tmp_path)
    folder = tmp_path / "sam"
    with pytest.raises(StudioError, match="checksum mismatch"):
        pull_sam("vit_b", folder, url=url)
    assert list(folder.iterdir()) == []


def test_offline_says_which_file_to_put_where(tmp_path: Path) -> None:
    def offline(url: str, timeout: float):  # noqa: ANN202
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    folder = tmp_path / "sam"
    with pytest.raises(StudioError) as caught:
        pull_sam("vit_h", folder, opener=offline)
    message = str(caught.value)
    assert "sam_vit_h_4b8939.pth" in message and str(folder) in message
    assert "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth" in message
    assert list(folder.iterdir()) == []


def test_pullers_are_a_registry(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="sam-vit-b"):
        run_puller("nothing-like-this")
    register_puller("test-thing", "a test download", lambda dest, progress: Path(dest or tmp_path) / "thing")
    try:
        assert run_puller("test-thing", tmp_path) == tmp_path / "thing"
    finally:
        PULLERS.pop("test-thing")
    with pytest.raises(InvalidInput, match="expected one of vit_b"):
        pull_sam("vit_x", tmp_path)
