"""Widgets more than one page shows."""

from __future__ import annotations

import streamlit as st

from studio.plots import training_curves
from studio.tables import Job, JobStatus


def training_job_panel(job: Job) -> None:
    """A training job: status, progress with ETA, live loss / metric curves, the result."""
    from studio.training.history import epoch_rows

    config = job.params.get("config", {})
    st.markdown(f"**{config.get('architecture', '?')} {config.get('backbone', '')}** on "
                f"`{config.get('dataset', '?')}` · job `{job.id[:8]}` · {job.status}")
    if not JobStatus(job.status).finished:
        st.progress(job.progress, text=job.message or "waiting for the worker")
    rows = epoch_rows(job.id)
    if rows:
        st.plotly_chart(training_curves(rows), width="stretch", key=f"curves-{job.id}-{len(rows)}")
    if job.status == JobStatus.succeeded.value and job.result:
        st.success(f"Model version **{job.result.get('model')}**: best {config.get('monitor') or 'metric'} "
                   f"{job.result.get('best_metric', 0):.4f} at epoch {job.result.get('best_epoch')}")
    elif job.status == JobStatus.failed.value:
        st.error(job.error or "failed")
