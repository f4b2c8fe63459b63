"""Models: every version with its metadata, training curves, files and production status;
promote a version, download it as a bundle, import outside models and bundles."""

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from studio.bundles import bundle_version
from studio.errors import StudioError
from studio.jobs import enqueue
from studio.jobs.kinds import ExportModelSpec
from studio.naming import metrics_label
from studio.plots import training_curves
from studio.model_import import import_model
from studio.production import production_slots, promote, slots_of
from studio.registry import downloads, get_model, list_models, model_dir, remove_model
from studio.training.loop import read_log
from studio.training.readout import chance_warning, monitored_metric, train_vs_eval_note
from studio.transfer import save_upload
from studio_ui.widgets import benchmark_table, log_scale_toggle


def bundle_bytes(name: str) -> bytes:
    """The version's bundle zip, built when the download is clicked."""
    with tempfile.TemporaryDirectory() as folder:
        return bundle_version(name, Path(folder) / f"{name}.zip").read_bytes()


st.title("Models")
task = st.segmented_control("Task", ["all", "semantic", "instance", "classification", "sequence"], default="all",
                            key="models_task")
versions = list_models(None if task in (None, "all") else task)
if not versions:
    st.info("No model versions yet: queue a training run on the Train page, or import a checkpoint below.")
else:
    in_production = {s.model_version_id: f"{s.dataset} / {s.task}" for s in production_slots()}
    table = pd.DataFrame([{"name": v.name, "task": v.task, "production": in_production.get(v.id, ""),
                           "classes": len(v.classes), "source": v.source,
                           **{metrics_label(k): round(x, 4) for k, x in v.metrics.items() if isinstance(x, float)},
                           "evaluations": v.evaluations, "created": v.created} for v in versions])
    st.dataframe(table, hide_index=True, width="stretch")
    name = st.selectbox("Version", [v.name for v in versions], key="models_version")
    version = get_model(name)
    folder = model_dir(version)
    left, right = st.columns([2, 1])
    with left:
        rows = read_log(folder / "training_log.csv")
        if rows:
            log_loss = log_scale_toggle("models_log_loss")
            st.plotly_chart(training_curves(rows, title="Training", log_loss=log_loss,
                                            monitor=monitored_metric(version)), width="stretch")
        metrics = {k: v for k, v in version.metrics.items() if isinstance(v, (int, float)) and k != "evaluation_id"}
        for column, (key, value) in zip(st.columns(max(min(len(metrics), 4), 1)), list(metrics.items())[:4]):
            column.metric(metrics_label(key), f"{value:.4f}" if isinstance(value, float) else value)
        if note := train_vs_eval_note(version):
            st.info(note, icon=":material/info:")
        if warning := chance_warning(version):
            st.warning(warning, icon=":material/warning:")
    with right:
        st.markdown(f"**{version.architecture}** {version.backbone} · {version.task} · v{version.semver} · "
                    f"{version.source}")
        st.markdown("Classes: " + ", ".join(c["name"] for c in version.classes))
        st.caption(f"Folder: `{folder}` · sha256 `{version.checksum[:16]}…`")
        for role, file_name in downloads(version):
            path = folder / file_name
            st.download_button(f"{role}: {file_name} ({path.stat().st_size / 1e6:.1f} MB)", path.read_bytes(),
                               file_name=file_name, key=f"dl-{version.id}-{role}", icon=":material/download:")
        st.download_button("Bundle (.zip: weights, config, model card, changelog)", lambda: bundle_bytes(version.name),
                           file_name=f"{version.name}.zip", mime="application/zip", key=f"bundle-{version.id}",
                           icon=":material/inventory_2:", help="`studio models import` (or the import below) takes it "
                           "back in any studio")
        if "last" in version.files:
            st.caption(f"The resume state (`{version.files['last']}`: weights + optimizer, to continue training) "
                       "stays in the folder; the weights file above is what predicts.")
        slots = slots_of(version)
        if slots:
            st.success("In production for " + ", ".join(f"{s.dataset} / {s.task}" for s in slots),
                       icon=":material/verified:")
        elif st.button("Promote to production", key="models_promote", icon=":material/verified:",
                       help="the version serving its dataset and task (one per pair); Compare gates candidates "
                       "against it"):
            try:
                st.toast(promote(version.id).line())
                st.rerun()
            except StudioError as exc:
                st.error(str(exc))
        with st.popover("Remove this version", icon=":material/delete:"):
            force = st.checkbox("Also delete its evaluations", key="models_force")
            if st.button("Remove", type="primary", key="models_remove"):
                try:
                    st.toast(f"removed {remove_model(version.id, force=force)}")
                    st.rerun()
                except StudioError as exc:
                    st.error(str(exc))
        with st.expander("config.yaml"):
            st.json(version.config, expanded=False)
        if st.button("Export to ONNX", icon=":material/output:", key="models_export",
                     help="dynamic batch and image size; checked against PyTorch before it is kept"):
            try:
                job_id = enqueue(ExportModelSpec(model=version.name, format="onnx", force=True))
                st.toast(f"ONNX export queued as job {job_id[:8]}")
            except StudioError as exc:
                st.error(str(exc))
    st.subheader("Speed")
    benchmark_table([version.name], key="models")

st.subheader("Import a model")
upload = st.file_uploader("A bundle .zip (from a studio's Bundle download), a .pt / .pth checkpoint (state_dict or "
                          "checkpoint dict) or an .onnx file", type=["zip", "pt", "pth", "onnx"], key="models_upload")
cols = st.columns(4)
import_task = cols[0].selectbox("Task", ["(from the file)", "semantic", "classification", "instance", "sequence"])
import_arch = cols[1].text_input("Architecture", placeholder="unet")
import_backbone = cols[2].text_input("Backbone", placeholder="resnet34")
import_classes = cols[3].text_input("Classes (comma separated)", placeholder="box,jar,bottle")
if st.button("Import", icon=":material/upload:", disabled=upload is None):
    try:
        path = save_upload(upload.name, upload.getvalue())
        imported = import_model(path, task=None if import_task.startswith("(") else import_task,
                                architecture=import_arch or None, backbone=import_backbone or None,
                                classes=import_classes or None)
        st.success(f"Imported as {imported.name}")
    except StudioError as exc:
        st.error(str(exc))
