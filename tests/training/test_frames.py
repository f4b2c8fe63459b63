"""The frame-CNN + GRU sign model trained from recorded clips: a clip store of raw frames (recorded
frame by frame, or imported from videos, frame folders and arrays), snapshots that reuse unchanged
content, and a train job on synthetic clips (a square that grows, shrinks or blinks: grow and
shrink differ only in the order of their frames) that learns well above chance; the registered version is
evaluated on its clip dataset's val split (the accuracy training reported) and runs in the live ClipRecognizer. Real OpenCV video files, a real torch model, real SQLite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from studio.errors import InvalidInput

MOTIONS = ("grow", "shrink", "blink")  # grow and shrink show the same frames: only their order differs


def moving_square(motion: str, rng: np.random.Generator, frames: int = 8, size: int = 24) -> np.ndarray:
    """(T, size, size, 3) uint8: a bright square on a noisy frame that grows, shrinks or blinks; a
    per-frame CNN with global pooling sees sizes, so the order of the frames is what tells grow from shrink."""
    clip = rng.integers(0, 60, (frames, size, size, 3), dtype=np.uint8)
    centre = rng.integers(8, size - 8, 2)
    for t in range(frames):
        half = {"grow": 1 + t, "shrink": frames - t, "blink": 6 if t % 2 else 0}[motion]
        if half:
            y0, x0 = max(0, centre[0] - half), max(0, centre[1] - half)
            clip[t, y0:centre[0] + half, x0:centre[1] + half] = (230, 220, 40)
    return clip


@pytest.fixture
def data(studio_env: dict[str, str]) -> Path:
    from studio.config import get_settings

    return get_settings().data_dir


def test_recorded_and_imported_clips_are_stored_small_and_snapshots_reuse(data: Path, tmp_path: Path) -> None:
    import cv2

    from studio.frame_clips import add_frame_clip, import_frames, list_versions, snapshot, version_info
    from studio.live.frame_recorder import FrameRecorder

    rng = np.random.default_rng(0)
    recorder = FrameRecorder(min_frames=4, max_frames=6, max_side=32)
    recorder.start("hello")
    for _ in range(8):  # stops by itself at max_frames
        recorder.feed(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    clip = recorder.stop()
    assert clip.shape == (6, 24, 32, 3) and clip.dtype == np.uint8  # shrunk as it arrived, aspect kept
    add_frame_clip("signs", clip, "hello", source="camera")

    root = tmp_path / "videos"
    (root / "bye").mkdir(parents=True)
    writer = cv2.VideoWriter(str(root / "bye" / "wave.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (40, 30))
    for t in range(5):
        writer.write(np.full((30, 40, 3), 40 * t, np.uint8))
    writer.release()
    folder = root / "bye" / "take2"
    folder.mkdir()
    for t in (1, 2, 10):  # natural order: 1, 2, 10
        cv2.imwrite(str(folder / f"{t}.png"), np.full((16, 16, 3), 20 * t, np.uint8))
    (root / "hello").mkdir()
    np.save(root / "hello" / "array.npy", moving_square("grow", rng))
    report = import_frames("signs", root)
    assert report.added == 3 and report.duplicates == []
    number = snapshot("signs")
    assert snapshot("signs") == number == 1 and list_versions("signs") == [1]  # unchanged: reused
    version = version_info("signs", 1)
    assert version.glosses == ["hello", "bye"] and len(version.clips) == 4
    video = next(c for c in version.clips if c.source == "bye/wave.avi").load()
    assert video.shape == (5, 30, 40, 3)
    frames = next(c for c in version.clips if c.source == "bye/take2").load()
    assert [int(f.mean()) for f in frames] == [20, 40, 200]  # in natural name order
    assert import_frames("signs", root).added == 0  # importing again adds nothing


@pytest.mark.parametrize("make, message", [
    (lambda root: (root / "a" / "broken.mp4").write_bytes(b"not a video"), "OpenCV cannot open this video"),
    (lambda root: np.save(root / "a" / "flat.npy", np.zeros((4, 16, 16), np.uint8)),
     r"expected \(T, H, W, 3\) RGB frames, got shape \(4, 16, 16\)"),
    (lambda root: np.save(root / "a" / "floats.npy", np.zeros((4, 16, 16, 3), np.float32)), "expected uint8 pixels"),
    (lambda root: (root / "a" / "empty").mkdir(), "no frame images"),
])
def test_bad_clips_are_refused_and_nothing_is_created(data: Path, tmp_path: Path, make: object, message: str) -> None:
    from studio.frame_clips import import_frames, is_frame_dataset

    root = tmp_path / "bad"
    (root / "a").mkdir(parents=True)
    make(root)  # type: ignore[operator]
    with pytest.raises(InvalidInput, match=message):
        import_frames("bad", root)
    assert not is_frame_dataset("bad")


def test_frame_cnn_gru_learns_the_motion_of_synthetic_clips(data: Path) -> None:
    import torch

    from studio.frame_clips import add_frame_clips, create_frame_dataset
    from studio.jobs.kinds import TrainSpec
    from studio.live.sign import ClipRecognizer
    from studio.training.config import TrainConfig
    from studio.training.run import run_training

    torch.set_num_threads(1)
    rng = np.random.default_rng(1)
    create_frame_dataset("motions", max_side=24)
    add_frame_clips("motions", [{"frames": moving_square(m, rng), "gloss": m, "source": f"{m} {k}",
                                 "split": "val" if k % 4 == 0 else "train"}
                                for k in range(16) for m in MOTIONS])
    config = TrainConfig(task="sequence", architecture="frame_cnn_gru", backbone="", dataset="motions",
                         sequence_length=8, image_size=16, epochs=20, batch_size=8, lr=5e-3, num_workers=0,
                         augment={"color_jitter": 0.2}, model_kwargs={"channels": [8, 16], "hidden_dim": 32})
    spec = TrainSpec(config=config).prepare()  # the clip dataset's version is fixed when queued
    assert spec.config.dataset_version == 1 and spec.describe() == "train frame_cnn_gru on motions (data v1)"
    outcome = run_training(spec.config, "motions")
    chance = 1 / len(MOTIONS)
    print(f"\nframe_cnn_gru on synthetic clips: val accuracy {outcome.result.best_metric:.3f} (chance {chance:.3f})")
    assert outcome.result.best_metric >= 0.75 > chance, f"val accuracy {outcome.result.best_metric:.3f}"
    version = outcome.version
    assert version.task == "sequence" and [c["name"] for c in version.classes] == list(MOTIONS)

    from studio.evaluation.run import evaluate_version
    from studio.evaluation.views import get_evaluation

    evaluation = get_evaluation(evaluate_version(version.name, split="val"))  # on the model's clip dataset version
    assert evaluation.summary["keypoint_dataset"] == "motions (data v1)" and evaluation.image_count == 12
    assert evaluation.summary["accuracy"] == pytest.approx(outcome.result.best_metric, abs=1e-6)  # as training scored it
    assert np.asarray(evaluation.confusion).sum() == 12
    from studio.training.frames import FrameClipDataset, clip_tensor, prepared_clip  # evaluation's input = a val item

    clip, mean, std = moving_square("grow", rng), (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    item = FrameClipDataset(clip_tensor(clip, 8, 16)[None], np.array([0]), np.array([-1]), mean, std)[0][0]
    np.testing.assert_allclose(prepared_clip(clip, 8, 16, mean, std), item.numpy(), atol=1e-6)

    recognizer = ClipRecognizer.for_version(version.name, alpha=1.0)  # the live path reads the same version
    assert (recognizer.size, recognizer.window) == (16, 8)
    for frame in moving_square("shrink", np.random.default_rng(99)):
        state = recognizer.feed(frame)
    assert state.status == "ready" and state.top[0][0] == "shrink"


def test_the_cli_imports_lists_and_snapshots_clip_datasets(data: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from studio.cli import app

    rng = np.random.default_rng(2)
    for motion in MOTIONS[:2]:
        (tmp_path / "clips" / motion).mkdir(parents=True)
        np.save(tmp_path / "clips" / motion / "a.npy", moving_square(motion, rng))
    runner = CliRunner()
    imported = runner.invoke(app, ["frames", "import", "squares", str(tmp_path / "clips")])
    assert imported.exit_code == 0 and imported.output.startswith("squares: 2 clips added"), imported.output
    assert runner.invoke(app, ["frames", "snapshot", "squares"]).output.startswith("squares: saved as squares (data v1)")
    assert runner.invoke(app, ["frames", "snapshot", "squares"]).output.startswith("squares: unchanged since")
    listing = runner.invoke(app, ["frames", "list"]).output
    assert "squares" in listing and "2 glosses" in listing and "data v1" in listing
