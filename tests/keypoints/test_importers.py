"""Importers: the real MediaPipe hand-gesture CSVs (../shared/fixtures), bad rows, one file per clip."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from studio.errors import Conflict, InvalidInput
from studio.keypoints.dataset import create_keypoint_dataset, load_manifest, snapshot, version_info
from studio.keypoints.importers import detect_kind, import_path, read_labels
from studio.keypoints.layout import HANDS126, HANDS_POSE156


def _rows(path: Path) -> list[list[float]]:
    return [[float(v) for v in line.split(",")] for line in path.read_text().splitlines() if line.strip()]


def test_label_files_with_a_bom_read_clean(mediapipe_csvs: Path) -> None:
    assert read_labels(mediapipe_csvs / "keypoint_classifier_label.csv") == ["Open", "Close", "Pointer", "OK"]
    assert read_labels(mediapipe_csvs / "point_history_classifier_label.csv") == [
        "Stop", "Clockwise", "Counter Clockwise", "Move"]


def test_keypoint_csv_rows_become_static_right_hand_clips(data_dir: Path, mediapipe_csvs: Path) -> None:
    source = mediapipe_csvs / "keypoint_subset.csv"
    assert detect_kind(source) == "keypoint"
    report = import_path("poses", source, static_frames=4)
    assert (report.kind, report.rows, report.added, report.duplicates) == ("keypoint", 100, 100, [])
    assert report.glosses == ["Open", "Close", "Pointer", "OK"]
    assert report.files[1].endswith("keypoint_classifier_label.csv")  # found beside the data
    version = version_info("poses", snapshot("poses"))
    assert version.layout == HANDS126  # hand-only data: hands126 unless asked otherwise
    assert [sum(c.gloss == g for c in version.clips) for g in version.glosses] == [25, 25, 25, 25]
    first = version.clips[0]
    frames = first.load()
    assert frames.shape == (4, 126) and (frames == frames[0]).all() and first.source == "keypoint_subset.csv:1"
    row = _rows(source)[0]
    points = frames[0].reshape(42, 3)
    np.testing.assert_allclose(points[21:, :2], np.array(row[1:]).reshape(21, 2) * 0.5, atol=1e-6)  # right hand
    assert not points[:21].any() and not points[:, 2].any()
    # importing again adds nothing: every clip is reported as a duplicate
    again = import_path("poses", source, static_frames=4)
    assert again.added == 0 and len(again.duplicates) == 100


def test_point_history_rows_become_moving_fingertip_clips(data_dir: Path, mediapipe_csvs: Path) -> None:
    source = mediapipe_csvs / "point_history_subset.csv"
    report = import_path("tracks", source, layout="hands_pose156", hand="left")
    assert (report.kind, report.added) == ("point_history", 100)
    assert report.glosses == ["Stop", "Clockwise", "Counter Clockwise", "Move"]
    clips = version_info("tracks", snapshot("tracks")).clips
    row = _rows(source)[30]  # a Clockwise row
    clip = clips[30]
    assert clip.gloss == "Clockwise" and clip.source == "point_history_subset.csv:31"
    points = clip.load().reshape(16, 52, 3)
    tip = HANDS_POSE156.slots("left_hand", 8)
    np.testing.assert_allclose(clip.load()[:, tip][:, :2], np.array(row[1:]).reshape(16, 2) / 0.5, atol=1e-6)
    assert not points[:, 21:].any()  # right hand and pose absent
    wrist_to_tip = points[:, 0, :2] - points[:, 8, :2]
    np.testing.assert_allclose(wrist_to_tip, wrist_to_tip[:1].repeat(16, 0), atol=1e-6)  # the whole hand moves
    with pytest.raises(Conflict, match="already exists .layout hands_pose156"):
        import_path("tracks", source, layout="hands126")


@pytest.mark.parametrize("line, message", [
    ("0,1,2", r"bad\.csv:3: expected 33 fields \(label id \+ 16 x \(dx, dy\)\), got 3"),
    ("x" + ",0" * 32, r"bad\.csv:3: expected an integer label id first, got 'x'"),
    ("1" + ",0" * 31 + ",abc", r"bad\.csv:3: expected 32 numbers after the label id"),
    ("1" + ",0" * 31 + ",nan", r"bad\.csv:3: expected finite numbers"),
    ("7" + ",0" * 32, r"bad\.csv:3: label id 7 has no name; the label file lists 4"),
])
def test_malformed_rows_name_file_and_line_and_add_nothing(data_dir: Path, mediapipe_csvs: Path, tmp_path: Path,
                                                           line: str, message: str) -> None:
    good = (mediapipe_csvs / "point_history_subset.csv").read_text().splitlines()[:2]
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([*good, line]) + "\n")
    with pytest.raises(InvalidInput, match=message):
        import_path("tracks", bad, kind="point_history",
                    labels=mediapipe_csvs / "point_history_classifier_label.csv")
    with pytest.raises(Exception, match="no keypoint dataset named 'tracks'"):
        load_manifest("tracks")  # nothing was created


def test_csv_of_unknown_width_is_refused(data_dir: Path, tmp_path: Path) -> None:
    odd = tmp_path / "odd.csv"
    odd.write_text("0,1,2,3\n")
    with pytest.raises(InvalidInput, match=r"odd\.csv:1: 4 fields; expected 43 .* or 33"):
        import_path("x", odd)


def test_one_file_per_clip_folders(data_dir: Path, tmp_path: Path, mediapipe_csvs: Path) -> None:
    root = tmp_path / "clips"
    (root / "hello").mkdir(parents=True)
    (root / "thanks").mkdir()
    rng = np.random.default_rng(0)
    a, b, c = (rng.normal(size=(n, 156)).astype(np.float32) for n in (5, 7, 3))
    np.savetxt(root / "hello" / "a.csv", a, delimiter=",", header=",".join(f"v{i}" for i in range(156)), comments="")
    np.save(root / "hello" / "b.npy", b)
    np.savez(root / "thanks" / "c.npz", frames=c)
    (root / "categories.csv").write_text("gloss,category\nhello,greeting\nthanks,greeting\n")
    shutil.copy(mediapipe_csvs / "keypoint_classifier_label.csv", root / "README.txt")  # ignored: not a clip folder
    report = import_path("mine", root)
    assert (report.kind, report.added, report.glosses) == ("clips", 3, ["hello", "thanks"])
    version = version_info("mine", snapshot("mine"))
    assert version.layout == HANDS_POSE156 and version.categories == ["greeting"]  # layout from D = 156
    loaded = {c.source: c.load() for c in version.clips}
    np.testing.assert_allclose(loaded["hello/a.csv"], a, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(loaded["hello/b.npy"], b)
    np.testing.assert_array_equal(loaded["thanks/c.npz"], c)
    np.save(root / "thanks" / "d.npy", np.zeros((4, 126), np.float32))
    with pytest.raises(InvalidInput, match=r"d\.npy: expected 156 values per frame for layout hands_pose156, got 126"):
        import_path("mine", root)
    create_keypoint_dataset("empty", "hands126")
    (tmp_path / "none").mkdir()
    with pytest.raises(InvalidInput, match="no clip files"):
        import_path("empty", tmp_path / "none")


def test_a_failed_import_leaves_no_new_dataset(data_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "clips"
    for gloss in ("hello", "thanks"):  # the same frames under two glosses
        (root / gloss).mkdir(parents=True)
        np.save(root / gloss / "a.npy", np.ones((3, 126), np.float32))
    with pytest.raises(Conflict, match="the same frames are already clip"):
        import_path("mine", root)
    with pytest.raises(Exception, match="no keypoint dataset named 'mine'"):
        load_manifest("mine")
