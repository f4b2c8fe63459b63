"""Review: a reviewer's queue (images with drafts, images sent to review), accept / reject with a
note, and per-annotator figures. Decisions and figures are studio.review's."""

import pandas as pd
import streamlit as st

from studio import review
from studio.annotations import list_annotations
from studio.datasets import list_datasets
from studio.errors import StudioError
from studio_ui.login import require

reviewer = require("review")
st.title("Review")
names = [d.name for d in list_datasets()]
if not names:
    st.info("No datasets yet: import one on the Datasets page, or run `studio demo`.")
    st.stop()
dataset = st.selectbox("Dataset", names, key="review_dataset")
flash = st.session_state.pop("review_flash", None)
if flash:
    st.success(flash, icon=":material/check_circle:")
queue_tab, people_tab = st.tabs(["Queue", "Annotators"])


def decide(image_id: int, decision: str, versions: dict[int, int]) -> None:
    """Button callback: the widgets' values of this click, the versions the reviewer was shown."""
    chosen = st.session_state.get(f"review_pick_{image_id}", [])
    note = st.session_state.get(f"review_note_{image_id}", "")
    try:
        result = review.decide(image_id, reviewer=reviewer.name, decision=decision, note=note,
                               annotation_ids=chosen, expected_versions=versions)
        st.session_state["review_flash"] = (f"{'Accepted' if decision == 'accept' else 'Rejected'} "
                                            f"{len(result.changed)} annotation(s).")
    except StudioError as exc:
        st.session_state["review_error"] = str(exc)


with queue_tab:
    queue = review.review_queue(dataset)
    if not queue:
        st.success("Nothing to review: no drafts and no image sent to review.", icon=":material/done_all:")
    else:
        sent = sum(q.requested for q in queue)
        st.caption(f"{len(queue)} images to review: {sent} sent to review, {len(queue) - sent} with drafts.")
        labels = {q.image_id: f"{q.file_name} · " + ("sent to review" if q.requested else f"{q.drafts} draft(s)")
                  for q in queue}
        image_id = st.selectbox("Image", list(labels), format_func=labels.get, key="review_image")
        item = next(q for q in queue if q.image_id == image_id)
        if item.requested:
            st.warning(f"Sent to review: {item.request_note or 'no note'}", icon=":material/flag:")
        error = st.session_state.pop("review_error", None)
        if error:
            st.error(error, icon=":material/sync_problem:")
        views = [v for v in list_annotations(image_id) if v.status != "rejected"]
        picture, side = st.columns([3, 2])
        with side:
            st.dataframe(pd.DataFrame([{"id": v.id, "class": v.class_name, "status": v.status, "by": v.author,
                                        "area px": v.area, "seconds": round(v.seconds_spent, 1)} for v in views]),
                         hide_index=True, width="stretch")
            drafts = [v.id for v in views if v.status == "draft"]
            described = {v.id: f"#{v.id} {v.class_name} ({v.status}, {v.author or 'import'})" for v in views}
            chosen = st.multiselect("Annotations to decide", list(described), default=drafts or list(described),
                                    format_func=described.get, key=f"review_pick_{image_id}")
            st.text_area("Note for the annotators", key=f"review_note_{image_id}",
                         placeholder="what to fix, or why it is fine")
            versions = {v.id: v.version for v in views}
            accept, reject = st.columns(2)
            accept.button("Accept", type="primary", icon=":material/check:", on_click=decide,
                          args=(image_id, "accept", versions), disabled=not chosen and not item.requested)
            reject.button("Reject", icon=":material/close:", on_click=decide, args=(image_id, "reject", versions),
                          disabled=not chosen)
        with picture:
            try:
                st.image(review.picture(image_id, annotation_ids=chosen or None), width="stretch",
                         caption=f"{item.file_name} · drafts outlined in white · by {', '.join(item.authors) or '—'}")
            except StudioError as exc:
                st.error(str(exc))

with people_tab:
    rows = review.annotator_stats(dataset)
    if not rows:
        st.info("No annotations with an author yet (imports and pre-labels have none).")
    else:
        st.dataframe(pd.DataFrame([{
            "person": p.name, "annotations": p.annotations, "accepted": p.accepted, "drafts": p.drafts,
            "rejected": p.rejected, "images": p.images, "time spent (min)": round(p.seconds / 60, 1),
            "s / annotation": round(p.seconds_per_annotation, 1) if p.seconds_per_annotation else None,
            "accepted in review": p.review_accepted, "rejected in review": p.review_rejected,
            "decided as reviewer": p.decided} for p in rows]), hide_index=True, width="stretch")
        st.caption("Time spent: the labelling time the Label page records on each annotation.")
