"""Train: pick a dataset version, an architecture and the key settings (the rest as YAML),
queue the run on the worker, watch it learn."""

import streamlit as st
import yaml

from studio import frame_clips
from studio.datasets import dataset_stats, list_datasets
from studio.keypoints.dataset import list_keypoint_datasets
from studio.keypoints.dataset import list_versions as list_keypoint_versions
from studio.errors import StudioError
from studio.jobs import enqueue, list_jobs
from studio.jobs.kinds import TrainSpec
from studio.naming import data_version_short
from studio.nets import list_architectures, model_info
from studio.nets.classical import ARCHITECTURES as CLASSICAL
from studio.training.config import TrainConfig
from studio_ui.widgets import training_job_panel

TASK_LABELS = {"semantic": "Semantic segmentation", "instance": "Instance segmentation (YOLOv8-seg)",
               "classification": "Image classification (object crops)",
               "sequence": "Sign language (keypoint sequences or raw-frame clips)"}
KEY_FIELDS = {"task", "architecture", "backbone", "dataset", "dataset_version", "epochs", "batch_size", "image_size",
              "lr", "optimizer", "loss"}

st.title("Train")
image_datasets = [d.name for d in list_datasets()]
keypoint_datasets = [d.name for d in list_keypoint_datasets()]
frame_datasets = [n for n in frame_clips.list_frame_datasets() if n not in keypoint_datasets]  # raw-frame clips
if not image_datasets and not keypoint_datasets and not frame_datasets:
    st.info("No datasets yet: import one on the Datasets page, or run `studio demo` "
            "(keypoint datasets: `studio keypoints demo NAME` or Teach a sign).")
    st.stop()

left, right = st.columns(2)
with left:
    task = st.selectbox("Task", list(TASK_LABELS), format_func=TASK_LABELS.get, key="train_task")
    if task == "sequence":
        names = keypoint_datasets + frame_datasets
        versions_of = lambda name: frame_clips.list_versions(name) if name in frame_datasets else \
            list_keypoint_versions(name)  # noqa: E731
    else:
        names, versions_of = image_datasets, (lambda name: [v["version"] for v in dataset_stats(name).versions])
    if not names:
        st.info("No keypoint datasets yet: `studio keypoints demo NAME`, `studio keypoints import`, or Teach a "
                "sign on the Sign language page." if task == "sequence" else "No image datasets yet.")
        st.stop()
    dataset = st.selectbox("Dataset", names, key="train_dataset")
    versions = versions_of(dataset)
    version = st.selectbox("Dataset version", [None, *reversed(versions)], key="train_version",
                           format_func=lambda v: "snapshot now (when the job starts)" if v is None else data_version_short(v),
                           help="Training reads an immutable snapshot, never the live dataset.")
    architectures = list_architectures(task)
    if task == "sequence":  # raw-frame models read clip datasets, keypoint models keypoint datasets
        reads_frames = dataset in frame_datasets
        architectures = [a for a in architectures if (a in frame_clips.CLIP_ARCHITECTURES) == reads_frames]
    if task == "classification":
        architectures += list(CLASSICAL)
    architecture = st.selectbox("Architecture", architectures, key="train_arch")
    if architecture in CLASSICAL:
        st.caption("HOG + LBP + colour-histogram features of each object crop -> "
                   f"{'a linear SVM' if CLASSICAL[architecture] == 'svm' else 'a random forest'}; fitted once "
                   "(epochs do not apply); image size = the feature side (a multiple of 16; 64 suggested)")
        backbone = st.selectbox("Backbone", [""], key="train_backbone_none")
    else:
        info = model_info(architecture)
        st.caption(info.description)
        backbone = st.selectbox("Backbone", list(info.backbones) or [""], key="train_backbone",
                                index=list(info.backbones).index(info.default_backbone)
                                if info.default_backbone in info.backbones else 0)
with right:
    epochs = st.number_input("Epochs", 1, 1000, 20, key="train_epochs")
    batch_size = st.number_input("Batch size", 1, 512, 8, key="train_batch")
    image_size = st.number_input("Image size (pixels, multiple of 32)", 16, 2048, 256, step=16, key="train_size",
                                 disabled=task == "sequence" and architecture not in frame_clips.CLIP_ARCHITECTURES)
    lr = st.number_input("Learning rate", 1e-6, 1.0, 1e-3, format="%.0e", key="train_lr")
    optimizer = st.selectbox("Optimizer", ["adamw", "adam", "sgd"], key="train_opt")
    loss = st.selectbox("Loss", ["ce", "focal", "dice", "compound"] if task == "semantic" else ["ce", "focal"],
                        key="train_loss", disabled=task == "instance")

defaults = {k: v for k, v in TrainConfig().to_dict().items() if k not in KEY_FIELDS}
with st.expander("All other settings (YAML)"):
    extra_text = st.text_area("Settings", yaml.safe_dump(defaults, sort_keys=False), height=300, key="train_yaml",
                              help="Every field of TrainConfig with a comment lives in studio/training/config.py.")

if st.button("Queue training", type="primary", icon=":material/play_arrow:"):
    try:
        extra = yaml.safe_load(extra_text) or {}
        if not isinstance(extra, dict):
            raise StudioError("the settings YAML must be a mapping of fields")
        config = TrainConfig.from_dict({**extra, "task": task, "architecture": architecture, "backbone": backbone,
                                        "dataset": dataset, "dataset_version": version, "epochs": int(epochs),
                                        "batch_size": int(batch_size), "image_size": int(image_size), "lr": float(lr),
                                        "optimizer": optimizer, "loss": loss if task != "instance" else "ce"})
        job_id = enqueue(TrainSpec(config=config))
        st.session_state["train_job"] = job_id
        st.success(f"Training queued as job {job_id[:8]}; its curves appear below and on the Jobs page.")
    except (StudioError, yaml.YAMLError) as exc:
        st.error(str(exc))


@st.fragment(run_every=2.0)
def recent_runs() -> None:
    jobs = list_jobs(kind="train", limit=3)
    if jobs:
        st.subheader("Recent training runs")
    for job in jobs:
        with st.container(border=True):
            training_job_panel(job)


recent_runs()
