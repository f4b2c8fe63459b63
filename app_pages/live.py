"""Live: the webcam (or a video file) through one or two model versions, side by side.

Frames go through ``studio.live.pipeline.LivePipeline``: inference runs on its own thread,
frames are dropped (not queued) when it is slower than the camera, models load once.
"""

import av
import streamlit as st

from studio.errors import StudioError
from studio.live.session import LIVE_TASKS, build_pipeline
from studio.registry import get_model, list_models
from studio.transfer import save_upload
from studio_ui.widgets import camera_stream, class_legend

st.title("Live")
versions = [m for m in list_models() if m.task in LIVE_TASKS]
if not versions:
    st.info("No image model versions yet: train one on the Train page (or import one on the Models page).")
    st.stop()
names = [v.name for v in versions]
left, middle, right = st.columns([2, 2, 1])
model_a = left.selectbox("Model A", names, key="live_a")
model_b = middle.selectbox("Model B (optional)", ["(none)", *names], key="live_b",
                           index=min(2, len(names)) if len(names) > 1 else 0)
runtime = right.selectbox("Runtime", ["torch", "onnx", "onnx_int8"], key="live_runtime",
                          help="torch is compiled on CUDA (warm-up below); onnx needs an exported file (Models page "
                          "or `studio export onnx`), onnx_int8 an INT8 one (`studio export int8`)")
source = st.segmented_control("Source", ["Webcam", "Video file"], default="Webcam", key="live_source")
refs = (model_a,) if model_b == "(none)" else (model_a, model_b)


@st.cache_resource(max_entries=2, show_spinner="Loading the models ...")
def pipeline_for(refs: tuple[str, ...], runtime: str):  # noqa: ANN201 - LivePipeline
    return build_pipeline(list(refs), runtime)


for column, tag, ref in zip(st.columns(len(refs)), ("A", "B"), refs):
    with column:
        class_legend(f"{tag}: {ref}" if len(refs) > 1 else ref, get_model(ref).classes)

try:
    pipeline = pipeline_for(refs, runtime)
except StudioError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()


def on_frame(frame: av.VideoFrame) -> av.VideoFrame:
    """aiortc's thread: no st.* here."""
    return av.VideoFrame.from_ndarray(pipeline.process(frame.to_ndarray(format="rgb24")), format="rgb24")


player_factory = None
if source == "Video file":
    path = st.text_input("Video file path on this machine", key="live_path", placeholder="/data/demo.mp4")
    upload = st.file_uploader("... or upload a video", type=["mp4", "webm", "avi", "mov", "mkv", "y4m"],
                              key="live_upload")
    if upload is not None:
        path = str(save_upload(upload.name, upload.getvalue()))
    if not path:
        st.info("Choose a video: it plays through the same pipeline as the webcam, so results can be reproduced.")
        st.stop()

    def player_factory():  # noqa: ANN202 - aiortc MediaPlayer
        from aiortc.contrib.media import MediaPlayer

        return MediaPlayer(path, loop=True)


camera_stream(f"live-{source}-{'-'.join(refs)}", on_frame, receive_only=player_factory is not None,
              player_factory=player_factory)
st.caption("Press START and allow the camera. The left half is model A, the right half model B; each shows its "
           "latency and the pipeline's FPS. No STUN/TURN server is used on localhost (STUDIO_TURN_URL sets one).")


@st.fragment(run_every=1.0)
def live_stats() -> None:
    stats = pipeline.stats()
    columns = st.columns(3 + len(stats.latency_ms))
    columns[0].metric("Pipeline FPS", f"{stats.fps:.1f}")
    columns[1].metric("Frames shown", stats.frames_done)
    columns[2].metric("Frames dropped", stats.frames_dropped, help="dropped while a model was busy (never queued)")
    for column, (name, ms) in zip(columns[3:], stats.latency_ms.items()):
        column.metric(f"{name.split(':')[0]} latency" if len(refs) > 1 else "Latency", f"{ms:.0f} ms", help=name)
    for name, line in stats.warmup.items():  # the full names: two versions of a lineage share a long prefix
        st.caption(f"{name}: {line}" + (" · models run concurrently" if stats.concurrent else ""))
    if stats.error:
        st.warning(f"Last inference error: {stats.error}")


live_stats()
