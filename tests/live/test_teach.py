"""Teach a sign: the clip recorder, saving clips into a keypoint dataset, queueing the training job,
and finding the version it produced."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from studio.errors import Conflict, InvalidInput
from studio.keypoints.layout import frame_vector
from studio.live.teach import (ClipRecorder, clip_counts, newest_version, queue_training, save_clip,
                               trained_version, trim_handless)


def _hand(x: float, layout: str = "hands_pose156") -> np.ndarray:
    return frame_vector({"right": np.tile([x, 0.5, 0.0], (21, 1))}, None, layout)


def _clip(n: int, start: float = 0.3, layout: str = "hands_pose156") -> np.ndarray:
    return np.stack([_hand(start + 0.01 * k, layout) for k in range(n)])


def test_recorder_keeps_frames_between_start_and_stop_within_min_and_max() -> None:
    recorder = ClipRecorder(min_frames=5, max_frames=12)
    assert recorder.feed(_hand(0.1)) is False  # not recording: ignored
    with pytest.raises(InvalidInput, match="not recording"):
        recorder.stop()
    recorder.start("hello")
    for k in range(3):
        assert recorder.feed(_hand(0.1 * k))
    assert recorder.status().frames == 3 and recorder.status_line() == "REC hello: 3/12 frames"
    with pytest.raises(InvalidInput, match=r"too short: 3 frames with hands; expected at least 5"):
        recorder.stop()
    assert not recorder.recording

    recorder.start("hello")
    kept = [recorder.feed(_hand(0.01 * k)) for k in range(20)]
    assert kept == [True] * 12 + [False] * 8  # stops by itself at max_frames
    status = recorder.status()
    assert (status.recording, status.finished, status.frames) == (False, True, 12)
    clip = recorder.take()
    assert clip.shape == (12, 156) and clip.dtype == np.float32
    assert np.allclose(clip[3], _hand(0.03))

    with pytest.raises(InvalidInput, match="min_frames 9 is above max_frames 4"):
        ClipRecorder(min_frames=9, max_frames=4)
    with pytest.raises(InvalidInput, match="gloss"):
        recorder.start("  ")


def test_recorder_trims_handless_ends_and_checks_the_layout() -> None:
    empty = frame_vector({}, None, "hands126")
    recorder = ClipRecorder(min_frames=4, max_frames=50, layout="hands126")
    recorder.start("wave")
    for vector in [empty] * 3 + list(_clip(6, layout="hands126")) + [empty] + list(_clip(2, layout="hands126")) \
            + [empty] * 5:
        recorder.feed(vector)
    clip = recorder.stop()
    assert clip.shape == (9, 126)  # the gap in the middle stays, the ends go
    recorder.start("wave")
    with pytest.raises(InvalidInput, match="expected 126 values"):
        recorder.feed(_hand(0.2))
    assert trim_handless(np.stack([empty] * 3), "hands126").shape == (0, 126)


def test_the_camera_thread_can_feed_while_the_page_stops() -> None:
    recorder = ClipRecorder(min_frames=1, max_frames=10_000)
    recorder.start("go")
    stop = threading.Event()

    def camera() -> None:
        while not stop.is_set():
            recorder.feed(_hand(0.4))

    thread = threading.Thread(target=camera)
    thread.start()
    try:
        while recorder.status().frames < 50:
            pass
        clip = recorder.stop()
    finally:
        stop.set()
        thread.join()
    assert clip.shape[0] >= 50 and np.isfinite(clip).all()


def test_save_clip_creates_the_dataset_with_the_layout(studio_env: dict[str, str]) -> None:
    from studio.keypoints.dataset import dataset_layout

    assert clip_counts("mine") == {}
    first = save_clip("mine", "hello", _clip(10), layout="hands_pose156")
    save_clip("mine", "hello", _clip(12, 0.35))
    save_clip("mine", "thanks", _clip(9, 0.5))
    assert save_clip("mine", "hello", _clip(10)) == first  # the same frames again: no second copy
    assert dataset_layout("mine").name == "hands_pose156"
    assert clip_counts("mine") == {"hello": 2, "thanks": 1}
    with pytest.raises(InvalidInput, match="expected 156 values per frame"):
        save_clip("mine", "hello", _clip(10, layout="hands126"))
    with pytest.raises(Conflict):
        save_clip("mine", "thanks", _clip(10))  # the same frames under another gloss


def test_queue_training_snapshots_and_queues_a_train_job(studio_env: dict[str, str]) -> None:
    from studio.jobs import get_job
    from studio.keypoints.dataset import list_versions
    from studio.training.config import TrainConfig

    save_clip("mine", "hello", _clip(10))
    with pytest.raises(InvalidInput, match="no clips|at least 2 signs"):
        queue_training("mine")
    for k in range(3):
        save_clip("mine", "hello", _clip(10 + 2 * k, 0.2 + 0.05 * k))
        save_clip("mine", "thanks", _clip(14 + 2 * k, 0.6 - 0.05 * k))
    with pytest.raises(InvalidInput, match=r"at least 5 clips each; glosses with too few clips: hello \(4\), "
                                           r"thanks \(3\)"):
        queue_training("mine", min_clips=5)
    assert list_versions("mine") == []  # nothing queued, no snapshot taken
    job_id = queue_training("mine", architecture="sign_transformer", epochs=7)
    job = get_job(job_id)
    assert job.kind == "train" and job.status == "queued" and job.params["run_id"]
    config = TrainConfig.from_dict(job.params["config"])  # the worker reads it back
    assert (config.task, config.architecture, config.dataset, config.dataset_version, config.epochs) == \
        ("sequence", "sign_transformer", "mine", 1, 7)
    assert config.sequence_length == 14 and config.backbone == ""  # the median clip length (10..18)
    assert "hflip" not in config.augment and config.augment["rotate"] > 0
    assert list_versions("mine") == [1]
    with pytest.raises(InvalidInput, match="no clips yet"):
        queue_training("nothing-here")


def _register(root: Path, dataset: str) -> str:
    from studio import registry
    from studio.nets import create_model

    kwargs = {"input_dim": 126, "hidden_dim": 8, "num_layers": 1}
    path = registry.save_checkpoint(root / f"{dataset}.pt", model=create_model(
        "sign_gru", num_classes=2, backbone=None, **kwargs).state_dict())
    version = registry.register_model(
        task="sequence", architecture="sign_gru", backbone="", dataset=dataset, files={"best": path},
        classes=[{"name": "hello", "index": 0}, {"name": "thanks", "index": 1}],
        config={"model_kwargs": kwargs, "dataset": dataset, "keypoint_dataset": dataset, "categories": []},
        preprocessing={"layout": "hands126", "dim": 126, "sequence_length": 16})
    return version.name


def test_newest_version_of_a_dataset_and_the_version_a_job_made(studio_env: dict[str, str], tmp_path: Path) -> None:
    from studio.db import session_scope
    from studio.jobs import finish_job, update_job
    from studio.jobs.kinds import TrainSpec
    from studio.tables import Job, JobStatus
    from studio.training.config import TrainConfig

    assert newest_version("mine") is None
    older = _register(tmp_path, "mine")
    _register(tmp_path, "other")
    newer = _register(tmp_path, "mine")
    assert older != newer and newest_version("mine").name == newer
    assert newest_version("other").name != newer and newest_version("nope") is None

    job_id = "j1"  # a train job's row as the worker sees it (no worker runs here)
    spec = TrainSpec(config=TrainConfig(task="sequence", architecture="sign_gru", dataset="mine"), run_id="r1")
    with session_scope() as session:
        session.add(Job(id=job_id, kind="train", params=spec.to_params()))
    assert trained_version(job_id) is None  # still queued
    update_job(job_id, status=JobStatus.running)
    finish_job(job_id, JobStatus.succeeded, result={
        "model": newer, "model_id": 3, "run_id": "r1", "best_metric": 0.9, "monitor": "accuracy", "best_epoch": 2,
        "epochs": 3, "resumed_from": 0, "stopped_early": False})
    assert trained_version(job_id) == newer


def test_the_page_records_clips_from_the_camera_and_queues_training(studio_env: dict[str, str],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """app_pages/sign.py in AppTest: the webcam component is replaced by a stub whose frame callback the test
    calls (frames go through the real pipeline and session), the landmarker by one that sees a moving hand."""
    import time

    import av
    import streamlit as st
    import streamlit_webrtc
    from streamlit.testing.v1 import AppTest

    import studio.live.sign_session as sign
    from studio.config import get_settings
    from studio.jobs import get_job
    from studio.live.landmarks import FrameLandmarks
    from tests.conftest import REPO

    seen = {"n": 0}

    class MovingHand:  # stands in for the MediaPipe landmarker (its .task files cannot be fetched here)
        def __init__(self, layout: object) -> None:
            self.layout = layout

        def detect(self, frame: np.ndarray) -> FrameLandmarks:
            seen["n"] += 1
            return FrameLandmarks({"right": np.tile([0.2 + 0.005 * seen["n"], 0.5, 0.0], (21, 1))}, None)

    streams: list[dict] = []
    monkeypatch.setattr(sign, "Landmarker", MovingHand)
    monkeypatch.setattr(streamlit_webrtc, "webrtc_streamer", lambda **kwargs: streams.append(kwargs))
    st.cache_resource.clear()
    page = AppTest.from_file(str(REPO / "app_pages" / "sign.py"), default_timeout=60)
    page.run()
    assert not page.exception, page.exception
    assert any("No sign model yet" in i.value for i in page.info)
    assert any("hand_landmarker.task is missing" in e.value and "studio pull mediapipe" in e.value
               for e in page.error)  # nothing else runs until the landmarker files are there
    folder = get_settings().models_dir / "mediapipe"
    folder.mkdir(parents=True)
    for name in ("hand_landmarker.task", "pose_landmarker.task"):
        (folder / name).write_bytes(b"stand-in")
    page.run()
    assert not page.exception and not page.error, (page.exception, page.error)
    assert streams[-1]["rtc_configuration"] == get_settings().rtc_configuration

    def record(gloss: str, frames: int) -> None:
        page.text_input(key="sign_gloss").input(gloss)
        page.run()
        next(b for b in page.button if b.label == "Start recording").click()
        page.run()
        callback = streams[-1]["video_frame_callback"]
        for _ in range(frames):
            before, deadline = seen["n"], time.monotonic() + 10
            out = callback(av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24"))
            while seen["n"] == before and time.monotonic() < deadline:
                time.sleep(0.002)
        assert out.to_ndarray(format="rgb24").shape == (48, 64, 3)
        time.sleep(0.05)
        next(b for b in page.button if b.label == "Stop and save").click()
        page.run()
        assert not page.error, [e.value for e in page.error]

    record("hello", 12)
    assert any("Saved a clip of 'hello'" in s.value for s in page.success)
    record("hello", 10)
    record("thanks", 11)
    record("thanks", 14)
    assert clip_counts("my-signs") == {"hello": 2, "thanks": 2}
    next(b for b in page.button if b.label == "Train").click()
    page.run()
    job = get_job(page.session_state["sign_train_job"])
    assert job.kind == "train" and job.params["config"]["dataset"] == "my-signs"
