"""Compare: two versions of one task on the same split: metric deltas, per-class IoU changes,
the gate of B against the production version (limits the user sets), the images they disagree
on most (A, B and the disagreement map), send images to review."""

import pandas as pd
import streamlit as st

from studio.config import get_settings
from studio.errors import StudioError
from studio.evaluation.compare import check_comparable, compare_versions, disagreement_codes, send_to_review
from studio.evaluation.inspect import (
    DISAGREEMENT_LEGEND,
    dataset_version_label,
    disagreement_overlay,
    overlay,
    overlay_pair,
)
from studio.evaluation.views import latest_evaluation
from studio.images import load_rgb
from studio.jobs import enqueue, list_jobs
from studio.jobs.kinds import EvaluateSpec
from studio.plots import delta_bars
from studio.production import gate, promote
from studio_ui.widgets import benchmark_table
from studio.registry import get_model, list_models

IMAGE_TASKS = ("semantic", "instance", "classification")
LEGEND_COLOURS = {1: "blue", 2: "orange", 3: "red"}

st.title("Compare")
versions = [v for v in list_models() if v.task in IMAGE_TASKS]
if len(versions) < 2:
    st.info("Comparing needs two image model versions of the same task: train another on the Train page "
            "(or import one on the Models page).")
    st.stop()
names = [v.name for v in versions]
c1, c2, c3 = st.columns([2, 2, 1])
a_name = c1.selectbox("A (baseline)", names, index=1, key="cmp_a")
b_name = c2.selectbox("B (changes are B - A)", names, index=0, key="cmp_b")
split = c3.selectbox("Split", ["val", "train", "test"], key="cmp_split")
va, vb = get_model(a_name), get_model(b_name)
try:
    check_comparable(va, vb)
except StudioError as exc:
    st.error(str(exc))
    st.stop()
if va.id == vb.id:
    st.info("A and B are the same version: pick two different versions to see differences.")
choices = list(dict.fromkeys(v.dataset_version_id for v in (va, vb) if v.dataset_version_id is not None))
if not choices:
    st.error(f"Neither {va.name} nor {vb.name} records the dataset version it was trained on; compare them with "
             "`studio compare A B --dataset-version N`.")
    st.stop()
dv = st.selectbox("On the dataset version", choices, key="cmp_dv", disabled=len(choices) == 1,
                  format_func=dataset_version_label,
                  help="the one A was trained on, or B's")

missing = list(dict.fromkeys(v.name for v in (va, vb) if latest_evaluation(v, dv, split) is None))
if missing:
    st.info(f"No evaluation on this split yet for: {', '.join(missing)}. Queue them; the worker runs them and the "
            "comparison appears here when they are done.")
    if st.button("Queue the missing evaluations", type="primary", key="cmp_queue", icon=":material/analytics:"):
        for model in missing:
            enqueue(EvaluateSpec(model=model, split=split, dataset_version=dv))
        st.toast(f"queued {len(missing)} evaluation job(s)")

    @st.fragment(run_every=2.0)
    def waiting() -> None:
        jobs = [j for j in list_jobs(kind="evaluate", limit=20) if j.params.get("model") in missing][:4]
        for job in jobs:
            st.progress(job.progress, text=f"{job.params['model']}: {job.status} {job.error or job.message}")
        if all(latest_evaluation(m, dv, split) is not None for m in missing):
            st.rerun()

    waiting()
    st.stop()

@st.cache_resource(max_entries=4, show_spinner="Comparing the stored predictions ...")
def comparison_of(a: int, b: int, dv: int, split: str, evaluations: tuple[int | None, int | None],
                  database: str):  # noqa: ANN202
    """Built once per pair of evaluations (it reads every stored prediction PNG), not on every rerun;
    ``evaluations`` and ``database`` are only the cache key."""
    return compare_versions(a, b, dv, split, evaluate_missing=False)


try:
    comparison = comparison_of(va.id, vb.id, dv, split,
                               (latest_evaluation(va, dv, split), latest_evaluation(vb, dv, split)),
                               get_settings().db_url)
except StudioError as exc:
    st.error(str(exc))
    st.stop()

st.subheader("Metrics")
table = pd.DataFrame([{"metric": m.metric, "A": m.a, "B": m.b, "change": m.delta,
                       "trend": "▲ better" if m.improved else "▼ worse" if m.regressed else "="}
                      for m in comparison.metrics])
styled = table.style.format({"A": "{:.4f}", "B": "{:.4f}", "change": "{:+.4f}"}, na_rep="n/a").map(
    lambda v: "color: #2ca02c" if v.startswith("▲") else "color: #d62728" if v.startswith("▼") else "", subset=["trend"])
st.dataframe(styled, hide_index=True, width="stretch")
metric = "F1" if va.task == "classification" else "IoU"
st.plotly_chart(delta_bars([c.name for c in comparison.classes], [c.delta for c in comparison.classes],
                           f"Per-class {metric} change (B - A)", axis=f"{metric} change"), width="stretch")

st.subheader("Gate: B against production")
g1, g2 = st.columns(2)
max_drop = g1.number_input("Largest metric drop allowed", 0.0, 1.0, 0.01, 0.005, format="%.3f", key="cmp_max_drop",
                           help="absolute: 0.01 = one point of mIoU / AP / accuracy")
max_latency = g2.number_input("Largest slow-down allowed (%)", 0.0, 1000.0, 10.0, 5.0, key="cmp_max_latency",
                              help="latency from a benchmark pair of the same runtime, device and size, else the "
                              "evaluations' median time per image")
try:
    verdict = gate(vb.name, split=split, max_drop=float(max_drop), max_latency=float(max_latency), dataset_version=dv)
except StudioError as exc:
    st.info(str(exc), icon=":material/info:")
else:
    lines = "\n".join(f"- {'✓' if c.passed else '✗'} **{c.name}**: {c.detail}" for c in verdict.checks)
    (st.success if verdict.passed else st.error)(
        f"{'Passes' if verdict.passed else 'Fails'} the gate against production **{verdict.production}** on "
        f"{verdict.data}:\n{lines}")
    if verdict.passed and st.button(f"Promote B ({vb.name}) to production", key="cmp_promote",
                                    icon=":material/verified:"):
        st.toast(promote(vb.name).line())

st.subheader("Where they disagree")
images = comparison.images
unit = "objects" if va.task == "classification" else "pixels"
st.dataframe(pd.DataFrame([{"file": i.file_name, f"{unit} that differ": i.disagreement, "score A": i.score_a,
                            "score B": i.score_b} for i in images]), hide_index=True, width="stretch",
             column_config={f"{unit} that differ": st.column_config.ProgressColumn(format="percent")})
if va.task != "classification" and images:
    pick = st.selectbox("Image", list(range(len(images))), key="cmp_image",
                        format_func=lambda k: f"{images[k].file_name} ({images[k].disagreement:.1%} differ)")
    chosen = images[pick]
    try:
        pred_a, pred_b, gt = comparison.predictions(chosen.version_image_id)
        rgb = load_rgb(chosen.image_path)
        shown_a, shown_b = overlay_pair(rgb, pred_a, pred_b, va.classes)
        cols = st.columns(4)
        cols[0].image(overlay(rgb, gt, va.classes), caption="ground truth (grey = ignored)", width="stretch")
        cols[1].image(shown_a, caption=f"A: {va.name}", width="stretch")
        cols[2].image(shown_b, caption=f"B: {vb.name}", width="stretch")
        cols[3].image(disagreement_overlay(rgb, disagreement_codes(pred_a, pred_b, gt)), caption="disagreement",
                      width="stretch")
        st.markdown("Disagreement: " + " · ".join(f":{LEGEND_COLOURS[k]}[■] {DISAGREEMENT_LEGEND[k][0]}"
                                                   for k in (1, 2, 3)) + " · dimmed: same prediction")
    except (StudioError, OSError) as exc:
        st.error(f"cannot show {chosen.file_name}: {exc}")

st.subheader("Speed")
benchmark_table([comparison.a.name, comparison.b.name], key="compare")
st.subheader("Send to review")
reviewable = {i.image_id: i.file_name.split("#")[0] for i in images if i.image_id is not None}
if not reviewable:
    st.info("These images are no longer in the live dataset, so they cannot be sent to review.")
else:
    chosen_ids = st.multiselect("Images to look at again on the Label page", list(reviewable),
                                format_func=reviewable.get, key="cmp_review_ids")
    note = st.text_input("Note for the annotator", placeholder="A and B disagree here", key="cmp_review_note")
    if st.button("Send to review", key="cmp_review", icon=":material/rate_review:", disabled=not chosen_ids):
        try:
            st.toast(f"{send_to_review(chosen_ids, note)} images sent to review; they show as 'review' on the "
                     "Label page")
        except StudioError as exc:
            st.error(str(exc))
