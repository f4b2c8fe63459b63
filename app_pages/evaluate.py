"""Evaluate: a model version's evaluations: summary metrics (and why training showed another
value), the confusion matrix (click a cell to list the images behind it, with that confusion's
pixels marked), per-class bars, the worst images, an offline HTML report; queue a new evaluation."""

import numpy as np
import pandas as pd
import streamlit as st

from studio.errors import StudioError
from studio.evaluation.inspect import (
    clickable_confusion,
    confusion_cell,
    confusion_overlay,
    evaluation_label,
    headline_metrics,
    image_layers,
    overlay_pair,
)
from studio.evaluation.report import evaluation_report
from studio.evaluation.views import get_evaluation, images_for_confusion, list_evaluations, worst_images
from studio.images import load_rgb
from studio.jobs import enqueue, list_jobs
from studio.jobs.kinds import EvaluateSpec
from studio.naming import counted, metric_label
from studio.plots import class_bars
from studio.registry import get_model, list_models
from studio.tables import JobStatus
from studio.training.readout import train_vs_eval_note

TASKS = ("semantic", "instance", "classification", "sequence")
SPLITS = ["val", "train", "test"]

st.title("Evaluate")
versions = [v for v in list_models() if v.task in TASKS]
if not versions:
    st.info("No model versions yet: train one on the Train page, or import a checkpoint on the Models page.")
    st.stop()
name = st.selectbox("Model version", [v.name for v in versions], key="eval_model")
evaluations = list_evaluations(name)

with st.expander("Evaluate this version on a split", expanded=not evaluations, icon=":material/play_arrow:"):
    split = st.selectbox("Split", SPLITS, key="eval_split",
                         help="of the dataset version the model was trained on")
    if st.button("Queue evaluation", key="eval_queue", icon=":material/analytics:"):
        job_id = enqueue(EvaluateSpec(model=name, split=split))
        st.success(f"Evaluation queued as job {job_id[:8]}; the worker runs it and it appears here when done.")

    @st.fragment(run_every=2.0)
    def evaluate_jobs() -> None:
        jobs = [j for j in list_jobs(kind="evaluate", limit=20) if j.params.get("model") == name][:5]
        if jobs:
            st.dataframe(pd.DataFrame([{"job": j.id[:8], "split": j.params.get("split"), "status": j.status,
                                        "progress": j.progress, "message": j.error or j.message} for j in jobs]),
                         hide_index=True, width="stretch",
                         column_config={"progress": st.column_config.ProgressColumn(min_value=0, max_value=1)})
        done = {j.id for j in jobs if j.status == JobStatus.succeeded.value}
        seen = st.session_state.setdefault("eval_seen_jobs", set(done))
        if done - seen:  # a new evaluation landed: show it
            seen |= done
            st.rerun()

    evaluate_jobs()

if not evaluations:
    st.info(f"No evaluation of {name} yet: queue one above (pick a split, then Queue evaluation).")
    st.stop()

eval_id = st.selectbox("Evaluation", [e.id for e in evaluations], key="eval_id",
                       format_func=lambda i: evaluation_label(next(e for e in evaluations if e.id == i)))
view = get_evaluation(eval_id)
version = get_model(view.model_version_id)
classes = version.classes
names = view.class_names
noun = {"classification": "object", "sequence": "clip"}.get(view.task, "image")
st.caption(f"{counted(view.image_count, noun)} · {view.task} · {view.seconds:.1f} s · {view.created}")
headline = headline_metrics(view.task, view.summary)
for column, (metric, value) in zip(st.columns(max(len(headline), 1)), headline):
    column.metric(metric_label(metric), f"{value:.1f}" if metric == "ms_per_image" else f"{value:.3f}")
note = train_vs_eval_note(version, next(e for e in evaluations if e.id == eval_id))
if note:
    st.info(note, icon=":material/info:")
st.download_button("Report (HTML, opens offline)", lambda: evaluation_report(eval_id).encode(),
                   file_name=f"evaluation-{eval_id}-{version.name}.html", mime="text/html", key=f"eval_report_{eval_id}",
                   icon=":material/description:", help="one self-contained file: metrics, confusion matrix, per-class "
                   "results, the worst images and the training curves, with no link to any server")

left, right = st.columns(2)
with left:
    normalise = st.toggle("Row-normalised (recall on the diagonal)", key="eval_normalise")
    figure = clickable_confusion(view.confusion, names, normalise=normalise,
                                 title="Confusion matrix (click a cell to list its images)")
    event = st.plotly_chart(figure, on_select="rerun", selection_mode="points", key=f"eval_cm_{eval_id}",
                            width="stretch")
with right:
    metric = "f1" if view.task in ("classification", "sequence") else "iou"
    st.plotly_chart(class_bars([r["name"] for r in view.class_rows], [r[metric] for r in view.class_rows],
                               f"Per-class {metric.upper() if metric == 'iou' else 'F1'}",
                               axis="IoU" if metric == "iou" else "F1"), width="stretch")
    with st.expander("Per-class table"):
        st.dataframe(pd.DataFrame(view.class_rows), hide_index=True, width="stretch")
    if view.summary.get("category_confusion_matrix"):  # sign models: the second head
        st.plotly_chart(clickable_confusion(np.array(view.summary["category_confusion_matrix"]),
                                            view.summary["category_names"], normalise=normalise,
                                            title="Category head: confusion matrix"),
                        width="stretch", key=f"eval_cat_{eval_id}")

st.subheader("Images behind a confusion-matrix cell")
gt_key, pred_key = f"eval_gt_{eval_id}", f"eval_pred_{eval_id}"
cell = confusion_cell(event, names)
if cell is not None and st.session_state.get(f"eval_click_{eval_id}") != cell:  # a click fills the selectboxes
    st.session_state[f"eval_click_{eval_id}"] = cell
    st.session_state[gt_key], st.session_state[pred_key] = cell
if gt_key not in st.session_state:  # start on the largest confusion
    cm = view.confusion.copy()
    if cm.sum() > cm.trace():
        np.fill_diagonal(cm, 0)
    st.session_state[gt_key], st.session_state[pred_key] = divmod(int(cm.argmax()), len(cm))
c1, c2 = st.columns(2)
gt_class = c1.selectbox("Ground truth class", list(range(len(names))), format_func=names.__getitem__, key=gt_key)
pred_class = c2.selectbox("Predicted class", list(range(len(names))), format_func=names.__getitem__, key=pred_key)
hits = images_for_confusion(eval_id, gt_class, pred_class)
unit = {"classification": "object", "sequence": "clip"}.get(view.task, "pixel")
if not hits:
    st.info(f"No {noun} has ground truth {names[gt_class]} predicted as {names[pred_class]}: pick another cell.")
else:
    st.caption(f"{counted(len(hits), noun)} with ground truth **{names[gt_class]}** predicted as "
               f"**{names[pred_class]}**, most {unit}s first")
    st.dataframe(pd.DataFrame([{"file": v.file_name, f"{unit}s": count, "image score": v.score} for v, count in hits]),
                 hide_index=True, width="stretch", key=f"eval_hits_{eval_id}")
    pick = st.selectbox("Open image", list(range(len(hits))), key=f"eval_open_{eval_id}_{gt_class}_{pred_class}",
                        format_func=lambda k: f"{hits[k][0].file_name} ({counted(hits[k][1], unit)})")
    image = hits[pick][0]
    try:
        if view.task == "sequence":
            st.json(image.labels, expanded=False)  # a keypoint clip: its true / predicted gloss and category
        elif view.task == "classification":
            from studio.training.data import crop_box

            rgb = load_rgb(image.image_path)
            x0, y0, x1, y1 = crop_box(image.labels["bbox"], rgb.shape[1], rgb.shape[0])
            st.image(rgb[y0:y1, x0:x1], width=240, caption=f"{image.file_name}: true {image.labels['true_name']}, "
                                                          f"predicted {image.labels['pred_name']} "
                                                          f"({image.labels['prob']:.2f})")
        else:
            rgb, gt, pred = image_layers(eval_id, image.version_image_id)
            shown_gt, shown_pred = overlay_pair(rgb, gt, pred, classes)
            a, b, c = st.columns(3)
            a.image(shown_gt, caption=f"{image.file_name}: ground truth (grey = ignored)", width="stretch")
            b.image(shown_pred, caption=f"{image.file_name}: prediction" if pred is not None
                    else "prediction not stored (evaluated without saving predictions)", width="stretch")
            if pred is not None:
                marked, count = confusion_overlay(rgb, gt, pred, gt_class, pred_class)
                c.image(marked, width="stretch", caption=f"{image.file_name}: {counted(count, 'pixel')} of ground "
                        f"truth {names[gt_class]} predicted as {names[pred_class]} (magenta)")
    except (StudioError, OSError) as exc:
        st.error(f"cannot show {image.file_name}: {exc}")

st.subheader("Worst images first")
worst = worst_images(eval_id, 20)
if not worst:
    st.info("This evaluation has no scored images.")
else:
    st.dataframe(pd.DataFrame([{"file": w.file_name, "score": w.score} for w in worst]), hide_index=True,
                 width="stretch", column_config={"score": st.column_config.NumberColumn(format="%.3f")})
    thumbs = [w for w in dict((w.image_path, w) for w in worst if w.image_path and w.image_path.is_file()).values()]
    if thumbs:
        st.image([load_rgb(w.image_path) for w in thumbs[:8]], width=160,
                 caption=[f"{w.file_name} · {'n/a' if w.score is None else f'{w.score:.3f}'}" for w in thumbs[:8]])

with st.expander("Files of this evaluation", icon=":material/download:"):
    if not view.files:
        st.info(f"No files in {view.folder}: the folder was removed; evaluate again to rewrite them.")
    for file_name, path in view.files.items():
        mime = "image/png" if file_name.endswith(".png") else "text/csv"
        st.download_button(file_name, path.read_bytes(), file_name=file_name, mime=mime,
                           key=f"eval_dl_{eval_id}_{file_name}", icon=":material/download:")
    st.caption(f"Folder: `{view.folder}`")
