"""Teach a sign with raw frames (the frame-CNN + GRU model): the Sign language page records camera
frames into a clip dataset (no landmarker needed) and queues a frame_cnn_gru training job on it.
AppTest with the webcam component replaced by a stub whose frame callback the test calls: frames go
through the real live pipeline and SignSession into the real FrameRecorder (studio.live.frame_recorder)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from studio.errors import InvalidInput


def test_frame_recorder_status_cancel_and_refusals() -> None:
    from studio.live.frame_recorder import FrameRecorder

    recorder = FrameRecorder(min_frames=3, max_frames=4)
    assert not recorder.feed(np.zeros((20, 20, 3), np.uint8))  # not recording: ignored
    recorder.start("hi")
    recorder.feed(np.zeros((20, 20, 3), np.uint8))
    assert recorder.status().frames == 1 and recorder.status_line() == "REC hi: 1/4 frames"
    with pytest.raises(InvalidInput, match="expected .* like the clip's first frame"):
        recorder.feed(np.zeros((30, 20, 3), np.uint8))
    recorder.cancel()
    assert not recorder.recording and recorder.status().frames == 0
    recorder.start("hi")
    recorder.feed(np.zeros((20, 20, 3), np.uint8))
    with pytest.raises(InvalidInput, match="too short: 1 frames; expected at least 3"):
        recorder.stop()


def test_the_page_records_raw_frames_and_queues_frame_cnn_gru(studio_env: dict[str, str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import av
    import streamlit as st
    import streamlit_webrtc
    from streamlit.testing.v1 import AppTest

    from studio.frame_clips import clip_counts, version_info
    from studio.jobs import get_job
    from tests.conftest import REPO

    streams: list[dict] = []
    monkeypatch.setattr(streamlit_webrtc, "webrtc_streamer", lambda **kwargs: streams.append(kwargs))
    st.cache_resource.clear()
    page = AppTest.from_file(str(REPO / "app_pages" / "sign.py"), default_timeout=60)
    page.run()
    page.toggle(key="sign_raw").set_value(True)
    page.run()
    assert not page.exception and not page.error, (page.exception, [e.value for e in page.error])

    def record(gloss: str, frames: int, seed: int) -> None:
        page.text_input(key="sign_gloss").input(gloss)
        page.run()
        next(b for b in page.button if b.label == "Start recording").click()
        page.run()
        callback = streams[-1]["video_frame_callback"]
        rng = np.random.default_rng(seed)  # every clip different (the same frames twice are one clip)
        for _ in range(frames):
            callback(av.VideoFrame.from_ndarray(rng.integers(0, 255, (48, 64, 3), np.uint8), format="rgb24"))
            time.sleep(0.03)  # the pipeline drops frames while busy: give it time for each
        time.sleep(0.1)
        next(b for b in page.button if b.label == "Stop and save").click()
        page.run()
        assert not page.error, [e.value for e in page.error]

    for seed, gloss in enumerate(("hello", "hello", "thanks", "thanks")):
        record(gloss, 14, seed)
    assert any("Saved a clip of 'thanks'" in s.value for s in page.success)
    assert clip_counts("my-signs") == {"hello": 2, "thanks": 2}
    next(b for b in page.button if b.label == "Train").click()
    page.run()
    job = get_job(page.session_state["sign_train_job"])
    config = job.params["config"]
    assert (job.kind, config["architecture"], config["dataset"], config["task"]) == \
        ("train", "frame_cnn_gru", "my-signs", "sequence")
    clip = version_info("my-signs", config["dataset_version"]).clips[0].load()
    assert clip.shape[1:] == (48, 64, 3) and len(clip) >= 8  # raw frames, kept at their size (under 128 px)
