"""MediaPipe Holistic keypoints (1662 values per frame) imported into keypoint datasets: generated
Holistic folders in both storage forms, the mapping onto hands126 / hands_pose156 with the
missing-part rule (checked against frame_vector, the live path), auto-detection by
`studio keypoints import`, and a table of bad folders refused with nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from studio.errors import InvalidInput
from studio.keypoints.dataset import dataset_dir, load_manifest, snapshot, version_info
from studio.keypoints.holistic import HOLISTIC_DIM, to_layout
from studio.keypoints.importers import detect_kind, import_path
from studio.keypoints.layout import HANDS126, HANDS_POSE156, frame_vector


def holistic_frame(rng: np.random.Generator, *, pose: bool = True, left: bool = True, right: bool = True,
                   shift: float = 0.0) -> np.ndarray:
    """One (1662,) Holistic vector: a signer with shoulders at x 0.4 / 0.6, hands near them; absent parts zero."""
    body = np.zeros((33, 4))
    if pose:
        body[:, :2] = rng.uniform(0.3, 0.7, (33, 2))
        body[11, :2], body[12, :2] = (0.6 + shift, 0.5), (0.4 + shift, 0.5)  # left / right shoulder
        body[:, 2] = rng.uniform(-0.3, 0.3, 33)
        body[:, 3] = rng.uniform(0.5, 1.0, 33)  # visibility (dropped by the mapping)
    face = rng.uniform(0.4, 0.6, (468, 3)) if pose else np.zeros((468, 3))
    hands = [rng.uniform(0.2, 0.8, (21, 3)) if present else np.zeros((21, 3)) for present in (left, right)]
    return np.concatenate([body.ravel(), face.ravel(), hands[0].ravel(), hands[1].ravel()]).astype(np.float32)


def expected(vector: np.ndarray, layout: object) -> np.ndarray:
    """What the live path (frame_vector on MediaPipe's parts) makes of one Holistic frame."""
    pose = vector[:132].reshape(33, 4)[:, :3]
    left, right = vector[1536:1599].reshape(21, 3), vector[1599:].reshape(21, 3)
    hands = {k: v for k, v in (("left", left), ("right", right)) if v.any()}
    return frame_vector(hands, pose if pose.any() else None, layout)


def write_frames(folder: Path, frames: list[np.ndarray], names: list[str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in zip(names or [f"{i}.npy" for i in range(len(frames))], frames):
        np.save(folder / name, frame)
    return folder


def holistic_folder(root: Path, signs: dict[str, int], frames: int = 6, seed: int = 0) -> Path:
    """``root/<sign>/<sequence>/<frame>.npy``: ``signs[sign]`` sequences each; in sequence 0 of every sign
    the left hand is missing in frame 2 and the pose in frame 3."""
    rng = np.random.default_rng(seed)
    for s, (sign, count) in enumerate(signs.items()):
        for q in range(count):
            clip = [holistic_frame(rng, left=not (q == 0 and t == 2), pose=not (q == 0 and t == 3), shift=0.01 * s)
                    for t in range(frames)]
            write_frames(root / sign / str(q), clip)
    return root


def test_per_frame_folders_are_detected_and_mapped_like_live_frames(data_dir: Path, tmp_path: Path) -> None:
    root = holistic_folder(tmp_path / "MP_Data", {"hello": 3, "thanks": 2})
    assert detect_kind(root) == "holistic"
    report = import_path("asl", root)
    assert (report.kind, report.rows, report.added, report.glosses) == ("holistic", 5, 5, ["hello", "thanks"])
    version = version_info("asl", snapshot("asl"))
    assert version.layout == HANDS_POSE156  # Holistic has a pose: a new dataset keeps it
    first = next(c for c in version.clips if c.source == "hello/0")
    frames = first.load()
    raw = np.stack([np.load(root / "hello" / "0" / f"{t}.npy") for t in range(6)])
    assert frames.shape == (6, 156)
    np.testing.assert_allclose(frames, np.stack([expected(v, HANDS_POSE156) for v in raw]), atol=1e-5)
    assert not frames[2, :63].any() and frames[2, 63:126].any()  # left hand missing in frame 2: zeros
    assert not frames[3, 126:].any()  # no pose in frame 3: pose slots zero (image reference for the hands)
    again = import_path("asl", root)
    assert again.added == 0 and len(again.duplicates) == 5  # importing twice adds nothing


def test_one_array_per_clip_into_an_existing_hands126_dataset(data_dir: Path, tmp_path: Path) -> None:
    from studio.keypoints.dataset import create_keypoint_dataset

    rng = np.random.default_rng(1)
    root = tmp_path / "arrays"
    for sign in ("yes", "no"):
        (root / sign).mkdir(parents=True)
        for q in range(2):
            np.save(root / sign / f"{q}.npy", np.stack([holistic_frame(rng, right=q == 0) for _ in range(5)]))
    assert detect_kind(root) == "holistic"
    create_keypoint_dataset("hands", "hands126")
    report = import_path("hands", root)
    assert report.added == 4 and load_manifest("hands")["layout"]["name"] == "hands126"
    clip = next(c for c in version_info("hands", snapshot("hands")).clips if c.source == "no/1.npy")
    raw = np.load(root / "no" / "1.npy")
    np.testing.assert_allclose(clip.load(), np.stack([expected(v, HANDS126) for v in raw]), atol=1e-5)
    assert not clip.load()[:, 63:].any()  # no right hand in that clip


def test_a_folder_of_layout_arrays_stays_a_clips_import(tmp_path: Path) -> None:
    (tmp_path / "hello").mkdir()
    np.save(tmp_path / "hello" / "a.npy", np.zeros((4, 156), np.float32))
    assert detect_kind(tmp_path) == "clips"


def _good(rng: np.random.Generator, n: int = 4) -> list[np.ndarray]:
    return [holistic_frame(rng) for _ in range(n)]


def _bad_folder(root: Path, case: str) -> None:
    rng = np.random.default_rng(2)
    write_frames(root / "ok" / "0", _good(rng))  # a good sign beside the bad one: still nothing is imported
    seq = root / "bad" / "0"
    if case == "short vector":
        write_frames(seq, _good(rng, 2) + [np.zeros(1661, np.float32)])
    elif case == "gap":
        write_frames(seq, _good(rng, 3), ["0.npy", "1.npy", "3.npy"])
    elif case == "duplicate":
        write_frames(seq, _good(rng, 3), ["0.npy", "1.npy", "01.npy"])
    elif case == "not a number":
        write_frames(seq, _good(rng, 3), ["0.npy", "1.npy", "frame_two.npy"])
    elif case == "late start":
        write_frames(seq, _good(rng, 2), ["3.npy", "4.npy"])
    elif case == "nan":
        frames = _good(rng, 3)
        frames[1][1540] = np.nan
        write_frames(seq, frames)
    elif case == "empty sequence":
        seq.mkdir(parents=True)
        (seq / "notes.txt").write_text("no frames here")
    elif case == "narrow array":
        seq.parent.mkdir(parents=True)
        np.save(root / "bad" / "0.npy", np.zeros((5, 1600), np.float32))


@pytest.mark.parametrize("case, message", [
    ("short vector", r"bad/0/2\.npy: expected 1662 values .*got shape \(1661,\)"),  # a frame of the wrong length
    ("gap", r"frame numbering has gaps: missing 2 \(between 0 and 3\)"),  # a lost frame
    ("duplicate", r"frame 1 appears twice \(01\.npy and 1\.npy\)"),  # two files, one number
    ("not a number", r"frame_two\.npy: frame file name 'frame_two\.npy' is not a number"),  # ragged naming
    ("late start", r"frames start at 3; expected numbering from 0 \(or 1\)"),  # the first frames are missing
    ("nan", r"bad/0/1\.npy: expected finite values, got NaN or inf \(frame 1\)"),  # NaN in a hand
    ("empty sequence", r"bad/0: no frame files"),  # a folder without frames
    ("narrow array", r"bad/0\.npy: expected \(T, 1662\) .*got shape \(5, 1600\)"),  # a (T, D) array of another D
])
def test_bad_holistic_folders_are_refused_with_nothing_written(data_dir: Path, tmp_path: Path, case: str,
                                                               message: str) -> None:
    root = tmp_path / "holistic"
    _bad_folder(root, case)
    with pytest.raises(InvalidInput, match=message):
        import_path("broken", root, kind="holistic")
    assert not (dataset_dir("broken") / "manifest.json").exists()


def test_to_layout_refuses_other_widths() -> None:
    with pytest.raises(InvalidInput, match=rf"expected \(T, {HOLISTIC_DIM}\).*got shape \(3, 156\)"):
        to_layout(np.zeros((3, 156)), "hands126")


def test_the_cli_imports_a_holistic_folder(data_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from studio.cli import app

    root = holistic_folder(tmp_path / "MP_Data", {"hello": 2, "bye": 2}, frames=4)
    result = CliRunner().invoke(app, ["keypoints", "import", "signs", str(root)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("signs: 4 clips added from 4 holistic rows") and "glosses: bye, hello" in result.output
