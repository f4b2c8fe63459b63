"""Widgets more than one page shows."""

from __future__ import annotations

from typing import Any

import streamlit as st

from studio.jobs import job_result
from studio.jobs.kinds import BenchSpec, TrainSpec
from studio.plots import training_curves
from studio.tables import Job, JobStatus


def log_scale_toggle(key: str) -> bool:
    """The "Log-scale loss" switch of a training chart (remembered per ``key``)."""
    return st.toggle("Log-scale loss", key=key, help="a log axis keeps a loss spike from flattening the rest")


def training_job_panel(job: Job) -> None:
    """A training job: status, progress with ETA, live loss / metric curves (log-scale toggle,
    the monitored metric named), the result with Evaluate's value and a chance-level warning."""
    from studio.naming import metric_label, monitored_label
    from studio.training.config import TrainConfig
    from studio.training.history import epoch_rows

    config = job.params.get("config", {})
    try:
        monitor = TrainConfig.from_dict(config).monitor_metric
    except Exception:  # noqa: BLE001 - an old or odd row: the chart just names no metric
        monitor = None
    st.markdown(f"**{config.get('architecture', '?')} {config.get('backbone', '')}** on "
                f"`{config.get('dataset', '?')}` · job `{job.id[:8]}` · {job.status}"
                + (f" · monitored: {monitored_label(monitor)}" if monitor else ""))
    if not JobStatus(job.status).finished:
        st.progress(job.progress, text=job.message or "waiting for the worker")
    rows = epoch_rows(job.id)
    if rows:
        log_loss = log_scale_toggle(f"log-{job.id}")
        st.plotly_chart(training_curves(rows, log_loss=log_loss, monitor=monitor), width="stretch",
                        key=f"curves-{job.id}-{len(rows)}-{log_loss}")
    outcome = job_result(job, TrainSpec) if job.kind == TrainSpec.kind else None
    if outcome is not None:
        evaluated = (f"; val {metric_label(outcome.monitor)} {outcome.eval_metric:.4f} as Evaluate scores it "
                     f"(evaluation {outcome.evaluation_id})") if outcome.eval_metric is not None else ""
        st.success(f"Model version **{outcome.model}**: {monitored_label(outcome.monitor)} "
                   f"{outcome.best_metric:.4f} at epoch {outcome.best_epoch}{evaluated}")
        if outcome.warning:
            st.warning(outcome.warning, icon=":material/warning:")
    elif job.status == JobStatus.failed.value:
        st.error(job.error or "failed")


def benchmark_table(models: list[str], key: str) -> None:
    """Stored latency benchmarks of ``models`` (newest first) and a button that queues one."""
    import pandas as pd

    from studio.benchmarking import list_benchmarks
    from studio.errors import StudioError
    from studio.jobs import enqueue

    rows = [r for m in models for r in list_benchmarks(m)]
    if rows:
        table = pd.DataFrame([{"model": r["model"], "runtime": r["runtime"], "provider": r.get("provider") or "",
                               "device": r["device"], "batch": r["batch_size"], "input": r["input_size"],
                               "mean ms": round(r["latency_mean_ms"], 2), "std ms": round(r["latency_std_ms"], 2),
                               "p95 ms": round(r["latency_p95_ms"], 2), "FPS": round(r["fps"], 1),
                               "peak MB": r["peak_memory_mb"], "when": str(r["created_at"])[:16]} for r in rows])
        st.dataframe(table, hide_index=True, width="stretch")
    else:
        st.caption("No benchmarks yet.")
    left, middle, right = st.columns([2, 1, 1])
    model = left.selectbox("Benchmark", models, key=f"{key}_bench_model", label_visibility="collapsed")
    runtime = middle.selectbox("Runtime", ["torch", "onnx", "onnx_int8"], key=f"{key}_bench_runtime",
                               label_visibility="collapsed", help="onnx needs an exported file (studio export onnx), "
                               "onnx_int8 an INT8 one (studio export int8); torch is compiled on CUDA")
    if right.button("Queue benchmark", key=f"{key}_bench_go", icon=":material/speed:"):
        try:
            job_id = enqueue(BenchSpec(model=model, runtime=runtime))
            st.toast(f"benchmark queued as job {job_id[:8]}; the table fills when it is done (Jobs page)")
        except StudioError as exc:
            st.error(str(exc))


def class_legend(title: str, classes: list[dict[str, Any]]) -> None:
    """A version's full name and its classes as colour swatches (the colours the overlay draws)."""
    import html

    from studio.live.overlay import legend_entries

    swatches = " ".join(f"<span style='white-space:nowrap'><span style='display:inline-block;width:0.9em;height:0.9em;"
                        f"background:rgb{colour};border:1px solid #888;vertical-align:middle'></span> "
                        f"{html.escape(name)}</span>" for name, colour in legend_entries(classes))
    st.markdown(f"**{html.escape(title)}**<br>{swatches}", unsafe_allow_html=True)


def camera_stream(key: str, on_frame: Any, *, receive_only: bool = False, player_factory: Any = None) -> Any:
    """The webcam widget of the live pages: 640 x 480 video, no audio, frames through
    ``on_frame(av.VideoFrame) -> av.VideoFrame`` off the UI thread, the studio's ICE settings
    (none on localhost). ``receive_only`` with ``player_factory``: a video file stands in."""
    from streamlit_webrtc import WebRtcMode, webrtc_streamer

    from studio.config import get_settings

    return webrtc_streamer(
        key=key, mode=WebRtcMode.RECVONLY if receive_only else WebRtcMode.SENDRECV,
        rtc_configuration=get_settings().rtc_configuration,
        media_stream_constraints={"video": {"width": 640, "height": 480}, "audio": False},
        video_frame_callback=on_frame, player_factory=player_factory, async_processing=True,
        video_html_attrs={"autoPlay": True, "controls": False, "muted": True, "style": {"width": "100%"}})
