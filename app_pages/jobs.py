"""Jobs: live progress (training curves for training jobs), cancel, retry / resume, logs."""

import pandas as pd
import streamlit as st

from studio.jobs import cancel, list_jobs, retry
from studio.tables import JobStatus
from studio_ui.widgets import training_job_panel

st.title("Jobs")
status_filter = st.segmented_control("Show", ["all", *[s.value for s in JobStatus]], default="all")


@st.fragment(run_every=1.0)
def job_board() -> None:
    jobs = list_jobs(status=None if status_filter in (None, "all") else status_filter, limit=50)
    if not jobs:
        st.info("No jobs yet. Imports, exports, embeddings and training runs appear here.")
        return
    for job in [j for j in jobs if not JobStatus(j.status).finished]:
        with st.container(border=True):
            left, right = st.columns([5, 1])
            with left:
                if job.kind == "train":
                    training_job_panel(job)
                else:
                    st.markdown(f"**{job.kind}** `{job.id[:8]}` — {job.status}")
                    st.progress(job.progress, text=job.message or "waiting for the worker")
            if right.button("Cancel", key=f"cancel-{job.id}", icon=":material/cancel:", disabled=job.cancel_requested):
                cancel(job.id)
                st.rerun(scope="fragment")
    table = pd.DataFrame([{"id": j.id[:8], "kind": j.kind, "status": j.status, "progress": j.progress,
                           "message": j.message, "created": j.created_at, "finished": j.finished_at} for j in jobs])
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0, max_value=1)})
    for job in jobs:
        if not JobStatus(job.status).finished or not (job.error or job.log or job.kind == "train"):
            continue
        with st.expander(f"{job.kind} {job.id[:8]} — {job.status}"):
            if job.kind == "train":
                training_job_panel(job)
            elif job.error:
                st.error(job.error)
            if job.status in (JobStatus.failed.value, JobStatus.cancelled.value):
                label = "Resume" if job.kind == "train" else "Retry"
                if st.button(label, key=f"retry-{job.id}", icon=":material/replay:",
                             help="Queue it again; a training run continues from its last checkpoint"):
                    st.toast(f"queued again as job {retry(job.id)[:8]}")
            st.code(job.log[-5000:] or "(no log)")


job_board()
