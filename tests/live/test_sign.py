"""The live sign recognizer: tiny sign classifiers trained here on generated signs (hands_pose156) and
on real MediaPipe recordings (hands126), fed frame by frame as the webcam would; the landmarker's
file checks, the download of its model files, the frame-CNN variant and the overlay."""

from __future__ import annotations

import re
import urllib.error
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from studio.errors import InvalidInput, StudioError
from studio.keypoints.layout import HANDS126, HANDS_POSE156, frame_vector
from studio.live.landmarks import (MEDIAPIPE_MODELS, FrameLandmarks, Landmarker, MediapipeModel, MissingLandmarker,
                                   assign_hands, missing_landmarker_files, pull_mediapipe)
from studio.live.sign import ClipRecognizer, SignRecognizer, recognizer_for, sign_model_info
from studio.live.sign_session import SignSession, draw_sign
from tests.conftest import SHARED_FIXTURES, reset_studio_caches, studio_env_vars

SMALL_GRU = {"hidden_dim": 32, "num_layers": 1, "dropout": 0.0}
GLOSSES, LENGTH = 4, 24


@pytest.fixture(scope="module")
def studio_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One isolated studio for the module (models are trained once), one torch thread (tiny nets)."""
    root = tmp_path_factory.mktemp("sign")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in studio_env_vars(root).items():
            patch.setenv(key, value)
        reset_studio_caches()
        from studio.db import migrate

        migrate()
        yield root
    reset_studio_caches()
    torch.set_num_threads(threads)


def _train(dataset: str, sequence_length: int, epochs: int) -> str:
    from studio.training.config import TrainConfig
    from studio.training.run import run_training

    config = TrainConfig(task="sequence", architecture="sign_gru", dataset=dataset, sequence_length=sequence_length,
                         epochs=epochs, batch_size=8, lr=1e-2, model_kwargs=dict(SMALL_GRU), augment={},
                         num_workers=0, seed=0)
    outcome = run_training(config, f"run-{dataset}")
    return outcome.version.name


@pytest.fixture(scope="module")
def signs156(studio_root: Path) -> str:
    """A SignGRU trained on 4 generated signs (hands_pose156, 24 frames)."""
    from studio.keypoints.dataset import add_clips, create_keypoint_dataset
    from studio.keypoints.synthetic import generate_signs

    create_keypoint_dataset("signs", "hands_pose156")
    add_clips("signs", generate_signs(GLOSSES, 20, LENGTH, "hands_pose156", seed=0))
    return _train("signs", LENGTH, 14)


@pytest.fixture(scope="module")
def gestures126(studio_root: Path) -> str:
    """A SignGRU trained on the real MediaPipe point-history recordings (hands126, 16 frames)."""
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"{SHARED_FIXTURES} is absent (real-data fixtures live beside the repo)")
    from studio.keypoints.importers import import_path

    import_path("gestures", SHARED_FIXTURES / "mediapipe_hand_keypoints_csv" / "point_history_subset.csv")
    return _train("gestures", 16, 12)


def _rest(layout, frames: int) -> list[np.ndarray]:  # noqa: ANN001
    """Frames with no hand in view (between signs)."""
    return [frame_vector({}, None, layout)] * frames


# ---------------------------------------------------------------------------------- recognition


def test_each_generated_sign_is_top1_after_a_window_of_it(signs156: str) -> None:
    """Fresh generated signs (not the training clips), one after the other with a pause between, each
    with single bad frames (a missed hand, a jittery detection), fed frame by frame."""
    from studio.keypoints.synthetic import generate_signs

    recognizer = recognizer_for(signs156)
    assert isinstance(recognizer, SignRecognizer)
    assert (recognizer.window, recognizer.sequence_length, recognizer.layout.name) == (LENGTH, LENGTH, "hands_pose156")
    rng = np.random.default_rng(3)
    results = []
    for frames, gloss, category in generate_signs(GLOSSES, 3, LENGTH, "hands_pose156", seed=11):
        for vector in _rest(HANDS_POSE156, 12):  # the hands go down between signs: the last one is forgotten
            state = recognizer.feed(vector)
        assert state.status == "show_hands" and state.label is None and "show your hands" in state.lines()[0]
        noisy = frames.copy()
        missed, jitter = rng.choice(np.arange(2, LENGTH - 2), 2, replace=False)
        noisy[missed, : HANDS126.dim] = 0
        noisy[jitter] += rng.normal(0, 0.1, noisy.shape[1]).astype(np.float32) * (noisy[jitter] != 0)
        for vector in noisy:
            state = recognizer.feed(vector)
        results.append((gloss, state.raw_top[0], state.label, state.category[0], category))
    assert state.status == "ready" and len(state.top) == 3 and state.top[0][1] >= state.top[1][1] >= state.top[2][1]
    assert all(raw == gloss for gloss, raw, *_ in results), results  # the window of this sign alone
    assert all(label == gloss for gloss, _, label, *_ in results), results  # smoothed over the sign
    assert all(cat == truth for *_, cat, truth in results), results


def test_smoothing_keeps_the_label_through_single_noisy_windows_but_follows_a_real_change() -> None:
    a, b = np.array([0.8, 0.1, 0.1]), np.array([0.05, 0.9, 0.05])
    noisy = {"now": False}

    def predict(window: np.ndarray) -> dict[str, np.ndarray]:
        assert window.shape == (8, HANDS126.dim)
        return {"gloss": b if noisy["now"] else a, "category": np.array([0.7, 0.3])}

    recognizer = SignRecognizer(predict, ["A", "B", "C"], categories=["one", "two"], layout="hands126",
                                sequence_length=8, window=16, stride=1, alpha=0.3)
    hand = frame_vector({"right": np.full((21, 3), 0.6)}, None, "hands126")
    states = [recognizer.feed(hand) for _ in range(20)]
    assert [s.status for s in states[:16]] == ["show_hands"] * 10 + ["collecting"] * 5 + ["ready"]
    assert states[-1].label == "A" and states[-1].category == ("one", pytest.approx(0.7))
    labels = []
    for _ in range(3):  # a single odd window now and then: the raw answer flips, the label does not
        noisy["now"] = True
        flipped = recognizer.feed(hand)
        noisy["now"] = False
        labels += [flipped.label] + [recognizer.feed(hand).label for _ in range(3)]
        assert flipped.raw_top == ("B", pytest.approx(0.9))
    assert set(labels) == {"A"}
    noisy["now"] = True  # the signer really changed sign: the label follows within a few predictions
    follow = [recognizer.feed(hand).label for _ in range(5)]
    assert follow[0] == "A" and follow[-1] == "B"


def test_stride_and_minimum_hand_frames() -> None:
    calls = []

    def predict(window: np.ndarray) -> dict[str, np.ndarray]:
        calls.append(window.copy())
        return {"gloss": np.array([0.4, 0.6])}

    recognizer = SignRecognizer(predict, ["x", "y"], layout="hands126", sequence_length=4, window=8, stride=4,
                                min_hand_frames=5)
    hand = frame_vector({"left": np.full((21, 3), 0.3)}, None, "hands126")
    empty = frame_vector({}, None, "hands126")
    for vector in [empty] * 4 + [hand] * 4:
        state = recognizer.feed(vector)
    assert state.status == "show_hands" and (state.hand_frames, state.min_hand_frames) == (4, 5) and not calls
    states = [recognizer.feed(hand) for _ in range(9)]
    assert [s.predictions for s in states] == [1, 1, 1, 1, 2, 2, 2, 2, 3]  # at once, then every 4th frame
    assert calls[0].shape == (3, 126)  # 5 frames since the hands came into view, of 8 resampled to 4
    assert calls[1].shape == (4, 126)  # a full window of hands: the 8 frames resampled to the model's 4
    assert states[-1].top == (("y", pytest.approx(0.6)), ("x", pytest.approx(0.4))) and states[-1].category is None
    with pytest.raises(InvalidInput, match="expected 126 values"):
        recognizer.feed(np.zeros(156, np.float32))
    with pytest.raises(InvalidInput, match="alpha"):
        SignRecognizer(predict, ["x"], layout="hands126", sequence_length=4, alpha=0)


def test_real_recorded_gestures_fed_frame_by_frame(gestures126: str) -> None:
    """Real MediaPipe recordings (hands126, no pose): the live path gives the model's own answer on each
    clip, and well above chance overall."""
    from studio.inference import load_predictor
    from studio.keypoints.dataset import version_info

    info = sign_model_info(gestures126)
    assert (info.layout.name, info.sequence_length, info.window) == ("hands126", 16, 16)
    assert [p.name for p in missing_landmarker_files(info.layout)] == ["hand_landmarker.task"]  # no pose needed
    predictor = load_predictor(gestures126)
    recognizer = recognizer_for(gestures126)
    clips = version_info("gestures", 1).split("val")
    agree = correct = direct_correct = 0
    for clip in clips:
        frames = clip.load()
        for vector in _rest(HANDS126, 9):
            recognizer.feed(vector)
        for vector in frames:
            state = recognizer.feed(vector)
        direct = info.glosses[int(np.argmax(predictor.predict(frames)["gloss"]))]
        agree += state.raw_top[0] == direct
        correct += state.label == clip.gloss
        direct_correct += direct == clip.gloss
    assert agree == len(clips)  # the last window is exactly the clip: the model's own answer
    assert correct >= direct_correct - 1 and correct / len(clips) >= 0.75, (correct, direct_correct, len(clips))


def test_both_layouts_run_in_a_live_session(signs156: str, gestures126: str) -> None:
    """hands_pose156 and hands126 versions through SignSession + LivePipeline, with a stand-in landmarker
    (the real one needs the .task files) replaying a hand that moves right."""
    from studio.live.video import moving_scene_frames
    from studio.keypoints.synthetic import hand_points

    class Replay:
        def __init__(self) -> None:
            self.k = 0

        def detect(self, frame: np.ndarray) -> FrameLandmarks:
            self.k += 1
            pose = np.tile([0.5, 0.6, 0.0], (33, 1))
            pose[11, 0], pose[12, 0] = 0.6, 0.4
            return FrameLandmarks({"right": hand_points("open", (0.3 + 0.004 * self.k, 0.5), 0.08)}, pose)

    for ref, layout in ((signs156, HANDS_POSE156), (gestures126, HANDS126)):
        session = SignSession.for_version(ref, landmarker=Replay())
        assert session.layout == layout
        pipeline = session.pipeline()
        try:
            for frame in moving_scene_frames(40, 160, 120):
                out = pipeline.process(frame)
                pipeline.wait_for_results(pipeline.stats().frames_in, timeout=20)
        finally:
            pipeline.stop()
        state = session.state()
        assert pipeline.stats().error is None
        assert state.status == "ready" and len(state.top) == 3, state
        assert out.shape == (120, 160, 3)
        assert abs(sum(p for _, p in state.top) - 1) < 0.35


# ---------------------------------------------------------------------------------- landmarker


def test_missing_landmarker_files_say_which_file_goes_where(studio_root: Path, signs156: str) -> None:
    folder = studio_root / "models" / "mediapipe"
    with pytest.raises(MissingLandmarker) as caught:
        Landmarker("hands_pose156")
    message = str(caught.value)
    for name in ("hand_landmarker.task", "pose_landmarker.task"):
        assert f"{folder / name}" in message
    assert "studio pull mediapipe" in message and MEDIAPIPE_MODELS["pose"].url in message
    assert caught.value.missing == [folder / "hand_landmarker.task", folder / "pose_landmarker.task"]
    with pytest.raises(MissingLandmarker, match=re.escape(str(folder / "hand_landmarker.task"))):
        SignSession.for_version(signs156)  # the page shows this message
    with pytest.raises(MissingLandmarker) as hands_only:
        Landmarker("hands126")
    assert hands_only.value.missing == [folder / "hand_landmarker.task"]  # hands126 skips the pose landmarker


def test_a_broken_task_file_is_refused_by_name(tmp_path: Path) -> None:
    """The real MediaPipe is asked to load the file: a file that is not a .task archive is a clear error."""
    (tmp_path / "hand_landmarker.task").write_bytes(b"not a zip archive" * 10)
    with pytest.raises(StudioError, match=r"hand_landmarker\.task: MediaPipe cannot load it .*studio pull mediapipe"):
        Landmarker("hands126", tmp_path)


def test_handedness_labels_are_kept_and_a_duplicate_takes_the_free_side() -> None:
    one, two = np.zeros((21, 3)), np.ones((21, 3))
    assert set(assign_hands([("Left", 0.9, one)])) == {"left"}
    both = assign_hands([("Right", 0.6, one), ("Right", 0.95, two)])
    assert both["right"] is two and both["left"] is one


def test_pull_mediapipe_downloads_both_files_and_says_where_they_go_offline(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    sources = {}
    for kind in MEDIAPIPE_MODELS:
        path = tmp_path / "server" / f"{kind}.task"
        path.parent.mkdir(exist_ok=True)
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr(f"{kind}.tflite", b"model bytes")
        sources[kind] = path.as_uri()
    folder = pull_mediapipe(tmp_path / "mp", urls=sources)
    assert sorted(p.name for p in folder.iterdir()) == ["hand_landmarker.task", "pose_landmarker.task"]
    assert missing_landmarker_files("hands_pose156", folder) == []

    def offline(url: str, timeout: float = 0) -> None:
        raise urllib.error.URLError("Temporary failure in name resolution")

    assert pull_mediapipe(folder, opener=offline) == folder  # present: nothing to download
    with pytest.raises(StudioError) as caught:
        pull_mediapipe(tmp_path / "empty", opener=offline)
    message = str(caught.value)
    assert str(tmp_path / "empty") in message and all(m.url in message for m in MEDIAPIPE_MODELS.values())
    assert not any((tmp_path / "empty").iterdir())  # nothing half-written

    # `studio pull mediapipe` runs it (urls pointed at the local files)
    from typer.testing import CliRunner

    from studio.cli import app

    for kind, uri in sources.items():
        spec = MEDIAPIPE_MODELS[kind]
        monkeypatch.setitem(MEDIAPIPE_MODELS, kind, MediapipeModel(spec.file, uri, spec.what))
    result = CliRunner().invoke(app, ["pull", "mediapipe", "--dest", str(tmp_path / "cli")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cli" / "pose_landmarker.task").is_file()


# ---------------------------------------------------------------------------------- frame CNN, overlay


def _register_clip_model(root: Path) -> str:
    from studio import registry
    from studio.nets import create_model, preprocessing

    torch.manual_seed(0)
    kwargs = {"channels": [8, 16, 16], "hidden_dim": 16, "num_categories": 2}
    model = create_model("frame_cnn_gru", num_classes=3, backbone=None, **kwargs)
    path = registry.save_checkpoint(root / "clip.pt", model=model.state_dict())
    classes = [{"name": g, "index": i, "color": None} for i, g in enumerate(("hello", "thanks", "yes"))]
    prep = {**preprocessing("frame_cnn_gru"), "image_size": 32, "sequence_length": 6}
    version = registry.register_model(task="sequence", architecture="frame_cnn_gru", backbone="", classes=classes,
                                      dataset="clips", files={"best": path}, preprocessing=prep,
                                      config={"model_kwargs": kwargs, "categories": ["greeting", "answer"]})
    return version.name


def test_frame_cnn_versions_read_raw_frames_without_a_landmarker(studio_root: Path) -> None:
    from studio.live.video import moving_scene_frames

    ref = _register_clip_model(studio_root)
    info = sign_model_info(ref)
    assert (info.input_kind, info.image_size, info.sequence_length, info.layout) == ("clip", 32, 6, None)
    session = SignSession.for_version(ref)  # no .task files exist: none are needed
    assert isinstance(session.recognizer, ClipRecognizer) and session.landmarker is None
    frames = list(moving_scene_frames(10, 160, 120))
    outputs = [session.infer(f) for f in frames]
    assert [o.state.status for o in outputs[:5]] == ["collecting"] * 5
    state = outputs[-1].state
    assert state.status == "ready" and [g for g, _ in state.top] != [] and state.category[0] in ("greeting", "answer")
    assert session.recognizer.prepare(frames[0]).shape == (3, 32, 32)
    drawn = session.draw(frames[-1].copy(), outputs[-1])
    assert (drawn != frames[-1]).any()


def test_the_overlay_draws_dots_and_the_top3() -> None:
    frame = np.zeros((240, 320, 3), np.uint8)
    hand = np.tile([0.75, 0.75, 0.0], (21, 1))
    from studio.live.sign import SignState
    from studio.live.sign_session import SignFrame

    state = SignState("ready", (("hello", 0.7), ("thanks", 0.2), ("yes", 0.1)), ("greeting", 0.9), 16, 16, 16, 8)
    assert state.lines() == ["1. hello 70%", "2. thanks 20%", "3. yes 10%", "category: greeting 90%"]
    out = draw_sign(frame, SignFrame(FrameLandmarks({"right": hand}), state, "REC hello: 3/90 frames"))
    assert out[int(0.75 * 239), int(0.75 * 319)].any()  # the landmark dot
    assert out[20:120, :150].any()  # the text lines
    assert draw_sign(np.zeros_like(frame), SignFrame(None, None)).sum() == 0


def test_a_non_sequence_version_is_refused() -> None:
    from studio.tables import ModelVersion

    unet = ModelVersion(name="unet_resnet18_shelves_v1.0.0_20260101", task="semantic", architecture="unet",
                        classes=[{"name": "box", "index": 1}], folder="semantic/x")
    with pytest.raises(InvalidInput, match="is a semantic model; the sign demo needs a sequence model"):
        sign_model_info(unet)


def test_the_page_shows_the_top3_beside_the_video(studio_root: Path, signs156: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """app_pages/sign.py in AppTest with the webcam component stubbed (the test calls its frame callback) and a
    landmarker that replays a generated sign as MediaPipe-like landmarks."""
    import time

    import av
    import streamlit as st
    import streamlit_webrtc
    from streamlit.testing.v1 import AppTest

    import studio.live.sign_session as sign
    from studio.keypoints.synthetic import _pose, hand_points
    from tests.conftest import REPO

    seen = {"n": 0}

    class Replay:
        def __init__(self, layout: object) -> None:
            self.layout = layout

        def detect(self, frame: np.ndarray) -> FrameLandmarks:
            seen["n"] += 1
            t = seen["n"] / LENGTH
            wrist = np.array([0.4 + 0.05 * np.cos(2 * np.pi * t), 0.45 + 0.05 * np.sin(2 * np.pi * t)])
            pose = _pose(np.array([0.5, 0.65]), 0.25, {"right": wrist, "left": np.array([0.7, 1.0])})
            return FrameLandmarks({"right": hand_points("open", tuple(wrist), 0.08)}, pose)

    streams: list[dict] = []
    monkeypatch.setattr(sign, "Landmarker", Replay)
    monkeypatch.setattr(streamlit_webrtc, "webrtc_streamer", lambda **kwargs: streams.append(kwargs))
    folder = studio_root / "models" / "mediapipe"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for name in ("hand_landmarker.task", "pose_landmarker.task"):
            (folder / name).write_bytes(b"stand-in")
        st.cache_resource.clear()
        page = AppTest.from_file(str(REPO / "app_pages" / "sign.py"), default_timeout=60)
        page.run()
        page.selectbox(key="sign_model").set_value(signs156)  # the module's studio holds other versions too
        page.run()
        assert not page.exception and not page.error, (page.exception, page.error)
        assert page.toggle(key="sign_teach").value is False  # there are models: teaching is opt-in
        assert any("collecting" in i.value or "show your hands" in i.value for i in page.info)
        callback = streams[-1]["video_frame_callback"]
        for _ in range(LENGTH + 4):
            before, deadline = seen["n"], time.monotonic() + 10
            callback(av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24"))
            while seen["n"] == before and time.monotonic() < deadline:
                time.sleep(0.002)
        time.sleep(0.05)
        page.run()
        assert not page.exception, page.exception
        bars = [p.proto.text for p in page.get("progress")]
        assert len(bars) == 3 and all(re.fullmatch(r"\S+ \d+%", text) for text in bars), bars
        assert [m.label for m in page.metric] == ["Category"]
        assert any("hands_pose156" in e.label for e in page.expander)
    finally:
        for path in folder.iterdir():
            path.unlink()
