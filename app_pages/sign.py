"""Sign language: webcam -> MediaPipe keypoints (or raw frames) -> a sequence model, live; and "Teach a sign".

Frames go through ``studio.live.pipeline.LivePipeline`` (drop-when-busy inference thread) running a
``studio.live.sign_session.SignSession``: landmarks, the recognizer, and the clip recorder of the teach section.
"""

import av
import pandas as pd
import streamlit as st

from studio import frame_clips
from studio.errors import StudioError
from studio.keypoints.layout import PRESETS
from studio.live.frame_recorder import FrameRecorder
from studio.live.landmarks import missing_landmarker_files, missing_message
from studio.live.sign import sign_model_info
from studio.live.sign_session import SignSession, landmarker_layout
from studio.live.teach import (ClipRecorder, clip_counts, queue_training, recording_layout, save_clip,
                               trained_version)
from studio.registry import list_models
from studio_ui.widgets import camera_stream, training_job_panel

NONE = "(none: only record clips)"
st.title("Sign language")
names = [v.name for v in list_models(task="sequence")]
if not names:
    st.info("No sign model yet. Teach signs below (record a few clips of each, then Train), or generate a demo "
            "dataset with `studio keypoints demo signs` and train on it (task: sequence, dataset: signs).",
            icon=":material/info:")
pending = st.session_state.pop("sign_use_version", None)  # "Use it" after a training job
if pending in names:
    st.session_state["sign_model"] = pending
left, right = st.columns([3, 2])
choice = left.selectbox("Sign model version", [*names, NONE], key="sign_model")
ref = None if choice == NONE else choice
teach = right.toggle("Teach a sign (record clips)", key="sign_teach", value=not names)
try:
    info = sign_model_info(ref) if ref else None
except StudioError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()
if info is not None:
    st.caption(info.describe() + (f"; categories: {', '.join(info.categories)}" if info.categories else ""))

dataset = record_layout = None
raw = False  # record raw camera frames (frame-CNN + GRU) instead of keypoints
if teach:
    raw = st.toggle("Record raw frames (for the frame-CNN + GRU model; no landmarker needed)", key="sign_raw",
                    value=info is not None and info.input_kind == "clip")
    c1, c2 = st.columns(2)
    dataset = c1.text_input("Dataset for the new clips", value="my-signs", key="sign_dataset").strip()
    default = info.layout.name if info is not None and info.layout is not None else "hands_pose156"
    if raw:
        c2.text_input("Stored as", "raw frames, longest side 128 px", disabled=True)
    elif dataset and clip_counts(dataset):
        record_layout = recording_layout(dataset)
        c2.text_input("Keypoint layout (the dataset's)", record_layout.name, disabled=True)
    else:
        record_layout = PRESETS[c2.selectbox("Keypoint layout of a new dataset", list(PRESETS),
                                             index=list(PRESETS).index(default), key="sign_layout")]

needed = landmarker_layout([info.layout if info is not None else None, record_layout])
missing = missing_landmarker_files(needed) if needed is not None else []
if missing:
    st.error(missing_message(missing), icon=":material/error:")
    st.code("studio pull mediapipe", language="bash")
    st.stop()
if info is None and not teach:
    st.info("Choose a sign model version, or switch on 'Teach a sign' to record clips.")
    st.stop()


@st.cache_resource(max_entries=2, show_spinner="Loading the model and the landmarkers ...")
def session_for(ref: str | None, record_layout: str | None, raw: bool = False):  # noqa: ANN201
    recorder = FrameRecorder() if raw else ClipRecorder(layout=record_layout) if record_layout else None
    session = SignSession.for_version(ref, recorder=recorder)
    return session, session.pipeline()


try:
    session, pipeline = session_for(ref, record_layout.name if record_layout is not None else None, raw)
except StudioError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()


def on_frame(frame: av.VideoFrame) -> av.VideoFrame:
    """aiortc's thread: no st.* here."""
    return av.VideoFrame.from_ndarray(pipeline.process(frame.to_ndarray(format="rgb24")), format="rgb24")


video, panel = st.columns([3, 2])
with video:
    camera_stream(f"sign-{ref}-{record_layout.name if record_layout else ''}{'-raw' if raw else ''}", on_frame)
    st.caption("Press START and allow the camera. Sign with your hands in view; the best three signs and the "
               "category are drawn on the video and listed beside it.")


@st.fragment(run_every=0.5)
def recognition() -> None:
    state = session.state()
    stats = pipeline.stats()
    if state is None:
        st.caption("No model chosen: landmarks only.")
    elif state.status != "ready":
        st.info(state.lines()[0], icon=":material/back_hand:")
    else:
        for gloss, p in state.top:
            st.progress(min(max(p, 0.0), 1.0), text=f"{gloss} {p:.0%}")
        if state.category is not None:
            st.metric("Category", f"{state.category[0]} {state.category[1]:.0%}")
    if session.recorder is not None and session.recorder.recording:
        st.warning(session.recorder.status_line(), icon=":material/radio_button_checked:")
    st.caption(f"{stats.fps:.1f} FPS · {stats.frames_dropped} frames dropped"
               + (f" · last error: {stats.error}" if stats.error else ""))


with panel:
    recognition()

if info is not None and info.layout is not None:
    with st.expander(f"Keypoint layout {info.layout.name} (D = {info.layout.dim})"):
        st.markdown("Each frame is a vector of x, y, z per landmark, in this order. `hands126`: left then right "
                    "hand (MediaPipe Hands order); `hands_pose156` adds 10 upper-body pose points and is "
                    "normalised by the shoulders (centre = their midpoint, unit = their distance); `hands126` "
                    "by the image (it spans -1..1). A hand not seen is zeros.")
        st.dataframe(pd.DataFrame(info.layout.to_dict()["landmarks"], columns=["source", "index", "name"]),
                     hide_index=True, height=240)

if teach and session.recorder is not None and dataset:
    st.subheader("Teach a sign")
    recorder: ClipRecorder = session.recorder
    g1, g2 = st.columns([3, 1])
    gloss = g1.text_input("Sign (gloss) to record", key="sign_gloss", placeholder="hello").strip()
    wanted = g2.number_input("Clips per sign", 1, 50, 5, key="sign_wanted")
    b1, b2, b3 = st.columns(3)
    if b1.button("Start recording", disabled=not gloss or recorder.recording, type="primary"):
        recorder.start(gloss)
        st.rerun()
    if b2.button("Stop and save", disabled=not (recorder.recording or recorder.status().finished)):
        recorded = recorder.status().gloss or gloss
        try:
            clip = recorder.stop()
            if raw:
                frame_clips.add_frame_clip(dataset, clip, recorded, source="teach a sign")
            else:
                save_clip(dataset, recorded, clip, layout=record_layout)
            st.success(f"Saved a clip of {recorded!r} ({len(clip)} frames) to {dataset}.")
        except StudioError as exc:
            st.error(str(exc))
    if b3.button("Cancel", disabled=not recorder.recording):
        recorder.cancel()
    counts = frame_clips.clip_counts(dataset) if raw else clip_counts(dataset)
    if counts:
        st.dataframe(pd.DataFrame({"sign": list(counts), "clips": list(counts.values()),
                                   "to go": [max(0, int(wanted) - n) for n in counts.values()]}), hide_index=True)
    t1, t2, t3 = st.columns(3)
    architecture = t1.selectbox("Architecture", ["frame_cnn_gru"] if raw else ["sign_gru", "sign_transformer"],
                                key="sign_arch_raw" if raw else "sign_arch")
    epochs = t2.number_input("Epochs", 1, 500, 40, key="sign_epochs")
    if t3.button("Train", disabled=len(counts) < 2):
        try:
            st.session_state["sign_train_job"] = frame_clips.queue_training(dataset, epochs=int(epochs)) if raw \
                else queue_training(dataset, architecture=architecture, epochs=int(epochs))
        except StudioError as exc:
            st.error(str(exc))

    @st.fragment(run_every=2.0)
    def training_job() -> None:
        from studio.jobs import get_job

        job_id = st.session_state.get("sign_train_job")
        if not job_id:
            return
        training_job_panel(get_job(job_id))
        version = trained_version(job_id)
        if version and st.button("Use it", key="sign_use"):
            st.session_state["sign_use_version"] = version
            st.rerun(scope="app")

    training_job()
