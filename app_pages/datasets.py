"""Datasets: list, stats, classes, import (upload or path) and export with download. Work runs as jobs.
Read-only (stats and classes) for users who may not edit datasets (annotators, reviewers)."""

from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from studio.classes import class_summaries
from studio.datasets import dataset_stats, list_datasets, take_snapshot
from studio.errors import StudioError
from studio.jobs import enqueue, get_job
from studio.jobs.kinds import ExportSpec, ImportSpec
from studio.naming import data_version_short
from studio.transfer import EXPORT_FORMATS, IMPORT_FORMATS, export_target, save_upload, zipped
from studio_ui.classes import class_manager
from studio_ui.login import allowed

st.title("Datasets")

summaries = list_datasets()
if not summaries:
    st.info("No datasets yet. Import one below, or run `studio demo` for generated shelf scenes.")
else:
    st.dataframe(pd.DataFrame([s.__dict__ for s in summaries]), hide_index=True, width="stretch")

names = [s.name for s in summaries]
editor = allowed("datasets.edit")
if editor:
    tab_stats, tab_classes, tab_import, tab_export = st.tabs(["Stats", "Classes", "Import", "Export"])
else:
    tab_stats, tab_classes = st.tabs(["Stats", "Classes"])
    tab_import = tab_export = None

with tab_stats:
    if names:
        name = st.selectbox("Dataset", names, key="stats_dataset")
        stats = dataset_stats(name)
        cols = st.columns(4)
        cols[0].metric("Images", stats.total_images)
        cols[1].metric("Labelled images", stats.labelled_images)
        cols[2].metric("Objects", sum(stats.annotations_by_class.values()))
        cols[3].metric("Versions", len(stats.versions))
        left, right = st.columns(2)
        if stats.annotations_by_class:
            by_class = pd.DataFrame({"class": list(stats.annotations_by_class),
                                     "objects": list(stats.annotations_by_class.values())})
            left.plotly_chart(px.bar(by_class, x="class", y="objects", title="Objects per class"), width="stretch")
        by_split = pd.DataFrame({"split": list(stats.images_by_split), "images": list(stats.images_by_split.values())})
        right.plotly_chart(px.bar(by_split, x="split", y="images", title="Images per split"), width="stretch")
        if stats.versions:
            st.subheader("Versions")
            st.dataframe(pd.DataFrame(stats.versions), hide_index=True)
        if editor:  # snapshots change what training sees: admins
            note = st.text_input("Snapshot note", placeholder="what changed since the last version")
            if st.button("Snapshot now", icon=":material/photo_camera:"):
                try:
                    taken = take_snapshot(name, note)
                    version = taken.version
                    st.success(f"{'Unchanged since' if taken.reused else 'Saved as'} {taken.label}: "
                               f"{version.image_count} images, {version.annotation_count} objects")
                except StudioError as exc:
                    st.error(str(exc))

with tab_classes:
    if names and editor:
        class_manager(st.selectbox("Dataset", names, key="classes_dataset"), key="classes")
    elif names:
        shown = class_summaries(dataset=st.selectbox("Dataset", names, key="classes_dataset"))
        st.dataframe(pd.DataFrame([{"class": c.name, "index": c.index, "colour": c.color, "annotations": c.annotations}
                                   for c in shown]), hide_index=True)

if not editor:
    st.stop()  # import and export: admins

with tab_import:
    fmt = st.selectbox("Format", IMPORT_FORMATS, help="images: a folder; coco: annotations.json + images/; "
                       "yolo: data.yaml + images/ + labels/; masks: VOC-style PNG masks + classes file")
    target = st.text_input("Into dataset", value=names[0] if names else "", help="created if it does not exist")
    upload = st.file_uploader("Upload a .zip / .tar.gz (or a COCO .json)", type=["zip", "tar", "gz", "tgz", "json"])
    path = st.text_input("…or a path on this machine", placeholder="/data/my_dataset")
    link = st.checkbox("Keep images in place (do not copy into the store)", disabled=upload is not None)
    if st.button("Import", type="primary", icon=":material/upload:"):
        try:
            source = save_upload(upload.name, upload.getvalue()) if upload is not None else Path(path)
            if not str(path) and upload is None:
                raise StudioError("choose a file to upload or type a path")
            job_id = enqueue(ImportSpec(format=fmt, source=source, dataset=target, link=link and upload is None))
            st.success(f"Import queued as job {job_id}. Follow it on the Jobs page.")
        except StudioError as exc:
            st.error(str(exc))

with tab_export:
    if names:
        name = st.selectbox("Dataset", names, key="export_dataset")
        fmt = st.selectbox("Format", EXPORT_FORMATS, key="export_format")
        mode = st.radio("COCO masks as", ["rle", "polygon"], horizontal=True, disabled=fmt != "coco",
                        help="polygon: masks with holes are still written as RLE, so no hole is lost")
        versions = [v["version"] for v in dataset_stats(name).versions]
        version = st.selectbox("Version", [None, *versions], format_func=data_version_short)
        if st.button("Export", type="primary", icon=":material/download:"):
            out = export_target(name, fmt, mode)
            st.session_state["export_job"] = enqueue(ExportSpec(format=fmt, dataset=name, out=out, mode=mode,
                                                                version=version))

    @st.fragment(run_every=1.0)
    def export_status() -> None:
        job_id = st.session_state.get("export_job")
        if not job_id:
            return
        job = get_job(job_id)
        st.progress(job.progress, text=f"export {job.status}: {job.message}")
        if job.status == "succeeded":
            archive = zipped(Path(job.params["out"]))
            st.download_button("Download export (.zip)", archive.read_bytes(), file_name=archive.name,
                               icon=":material/download:", key=f"download-{job_id}")
            st.caption(f"Checked after writing: {job.result.get('checked')} objects, "
                       f"min IoU {job.result.get('min_iou', 0):.3f}. Folder: {job.params['out']}")
        elif job.status == "failed":
            st.error(job.error)

    export_status()
