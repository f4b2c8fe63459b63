"""Label: click on an object (SAM, or the fallback segmenter), refine, pick the class, accept.

Widgets call methods of one ``LabelWorkspace`` (studio/label_workspace.py) kept in the
session; callbacks run before the rerun, so each click renders once.
"""

import pandas as pd
import streamlit as st
from PIL import Image as PILImage
from streamlit_image_coordinates import streamlit_image_coordinates

from studio.datasets import list_datasets
from studio.label_workspace import LabelWorkspace
from studio.segment import choose_segmenter, get_prefetcher

SHORTCUTS = """
| key | action | key | action |
|---|---|---|---|
| click | positive point (or negative in − mode) | drag | box |
| Q / W | positive / negative clicks | 1 – 9 | class |
| A | accept | V | cycle the 3 candidates |
| Z / Y | undo / redo | Esc | clear the prompts |
| N / P | next / previous image | U | next image still to do |
"""

st.title("Label")
names = [d.name for d in list_datasets()]
if not names:
    st.info("No datasets yet: import one on the Datasets page, or run `studio demo`.")
    st.stop()
dataset = st.selectbox("Dataset", names, key="label_dataset")
choice = choose_segmenter()
ws: LabelWorkspace | None = st.session_state.get("label_ws")
if ws is None or ws.dataset != dataset:
    ws = st.session_state["label_ws"] = LabelWorkspace(dataset, choice.segmenter, segmenter_note=choice.note)


def canvas_key() -> str:
    return f"label_canvas_{ws.item.id if ws.item else 0}"


def on_canvas() -> None:
    ws.handle_canvas(st.session_state.get(canvas_key()))


def on_select_annotation() -> None:
    rows = st.session_state["label_annotations"].selection.rows
    ws.select(ws.annotations[rows[0]].id if rows else None)


def set_class(class_id: int) -> None:
    ws.class_id = class_id


def set_positive(positive: bool) -> None:
    ws.positive = positive


def set_filter() -> None:
    chosen = st.session_state["label_filter"]
    ws.filter = tuple(chosen) if chosen else None


@st.fragment
def workspace() -> None:
    counts = ws.counts
    position, visible = ws.position()
    st.progress(counts.done / max(counts.total, 1),
                text=f"{counts.done}/{counts.total} images done · {counts.draft} with drafts · "
                     f"{counts.review} to review · {counts.unlabelled} unlabelled")
    icon = ":material/auto_awesome:" if ws.segmenter.kind == "sam" else ":material/info:"
    st.caption(f"{icon} Segmenter: **{ws.segmenter.name}**. {ws.segmenter_note}")
    if ws.error:
        st.error(ws.error, icon=":material/error:")
    elif ws.notice:
        st.success(ws.notice, icon=":material/check_circle:")
    left, right = st.columns([3, 1.3])
    with right:
        st.pills("Show", ["unlabelled", "draft", "review", "done"], selection_mode="multi",
                 key="label_filter", on_change=set_filter)
        with st.container(horizontal=True):
            st.button("Prev", icon=":material/arrow_back:", shortcut="P", on_click=ws.go, args=(-1,))
            st.button("Next", icon=":material/arrow_forward:", shortcut="N", on_click=ws.go, args=(1,))
            st.button("Next to do", icon=":material/skip_next:", shortcut="U", on_click=ws.go, args=(1, True))
        st.markdown("**Class**")
        with st.container(horizontal=True):
            for number, label in enumerate(ws.classes[:9], start=1):
                st.button(f"{number} {label.name}", key=f"class_{label.id}", shortcut=str(number),
                          type="primary" if label.id == ws.class_id else "secondary",
                          on_click=set_class, args=(label.id,))
        with st.container(horizontal=True):
            st.button("Positive", icon=":material/add_circle:", shortcut="Q", on_click=set_positive, args=(True,),
                      type="primary" if ws.positive else "secondary")
            st.button("Negative", icon=":material/do_not_disturb_on:", shortcut="W", on_click=set_positive,
                      args=(False,), type="secondary" if ws.positive else "primary")
        session = ws.session
        has_mask = session is not None and session.mask is not None
        st.button("Accept", icon=":material/check:", shortcut="A", type="primary", disabled=not has_mask,
                  on_click=ws.accept, width="stretch")
        with st.container(horizontal=True):
            st.button("Undo", icon=":material/undo:", shortcut="Z", on_click=ws.undo,
                      disabled=not (session and session.history))
            st.button("Redo", icon=":material/redo:", shortcut="Y", on_click=ws.redo,
                      disabled=not (session and session.redo_stack))
            st.button("Clear", icon=":material/clear_all:", shortcut="Esc", on_click=ws.clear,
                      disabled=not (session and session.history))
            st.button("Candidate", icon=":material/swap_horiz:", shortcut="V", on_click=ws.cycle,
                      disabled=not (session and session.candidates > 1))
        if ws.item is not None and ws.item.status == "review":
            st.warning(f"Review requested: {ws.item.review_note or 'no note'}")
            st.button("Mark reviewed", on_click=ws.mark_reviewed)
    with left:
        picture = ws.render()
        if picture is None:
            st.warning("No image open." if ws.item is None else "This image cannot be shown; use Next.")
        else:
            streamlit_image_coordinates(PILImage.fromarray(picture), key=canvas_key(), click_and_drag=True,
                                        image_format="JPEG", jpeg_quality=90, cursor="crosshair", on_click=on_canvas)
            details = [f"{ws.item.file_name} ({position}/{visible})", f"{ws.item.width}x{ws.item.height}"]
            if session is not None and session.mask is not None:
                details.append(f"candidate {session.candidate + 1}/{session.candidates}, score {session.score:.2f}")
            if session is not None and session.editing_annotation_id is not None:
                details.append(f"refining annotation #{session.editing_annotation_id}")
            st.caption(" · ".join(details))
    annotation_table()
    get_prefetcher(ws.segmenter).request([(i.content_hash, i.path) for i in ws.upcoming()])


def annotation_table() -> None:
    if not ws.annotations:
        st.caption("No annotations on this image yet.")
        return
    table = pd.DataFrame([{"id": a.id, "class": a.class_name, "status": a.status, "source": a.source,
                           "area": a.area, "score": a.score, "author": a.author} for a in ws.annotations])
    st.dataframe(table, hide_index=True, key="label_annotations", on_select=on_select_annotation,
                 selection_mode="single-row", width="stretch")
    drafts = sum(a.status == "draft" for a in ws.annotations)
    if drafts:
        st.button(f"Accept all {drafts} drafts", icon=":material/done_all:", on_click=ws.accept_drafts)
    selected = next((a for a in ws.annotations if a.id == ws.selected_id), None)
    if selected is None:
        return
    st.caption(f"Selected #{selected.id}: click on the image to refine it, then Accept.")
    with st.container(horizontal=True):
        names = {c.name: c.id for c in ws.classes}
        new_class = st.selectbox("Class of the selected annotation", list(names),
                                 index=list(names).index(selected.class_name) if selected.class_name in names else 0,
                                 key=f"reclass_{selected.id}")
        st.button("Re-class", on_click=ws.update, args=(selected.id,), kwargs={"class_id": names[new_class]})
        st.button("Accept", key="accept_selected", on_click=ws.update, args=(selected.id,),
                  kwargs={"status": "accepted"})
        st.button("Reject", on_click=ws.update, args=(selected.id,), kwargs={"status": "rejected"})
        st.button("Delete", icon=":material/delete:", on_click=ws.delete, args=(selected.id,))


workspace()
with st.expander("Keyboard shortcuts and tips"):
    st.markdown(SHORTCUTS)
    st.caption("The first click gives three candidates (part, object, group): cycle with V. Later clicks "
               "refine the chosen one. Select a row in the table to refine, re-class or reject an annotation.")
