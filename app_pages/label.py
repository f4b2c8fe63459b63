"""Label: the workbench. The canvas (studio_ui.canvas) owns the prompts of the object being
outlined and decodes them itself (SAM in the browser, else the label API's ``predict``); it
writes over the label API (studio_ui.web.label_api) and then tells the page with a trigger,
so a click never reruns the page. This page holds the rest: dataset, counts, segmenter,
image navigation (Prev / Next / Next to do, the gallery), classes, the shortcuts.
"""

import streamlit as st

from studio.datasets import list_datasets
from studio.errors import StudioError
from studio.label_workspace import LabelWorkspace
from studio.labelling.protocol import parse_event
from studio.segment import choose_segmenter, get_prefetcher
from studio_ui.canvas import label_canvas
from studio_ui.classes import class_manager, first_class_prompt
from studio_ui.gallery import gallery, shown_items
from studio_ui.login import current_author
from studio_ui.web import PREFIX
from studio_ui.web import label_api

CANVAS_KEY, GALLERY_KEY = "label_canvas", "label_gallery"
SHORTCUTS = """
| key | action | key | action |
|---|---|---|---|
| click | positive point (Alt+click or W: negative); on a mask: select it | Shift+click | a point even on a mask |
| drag | box (box tool R, or drag with the point tool) | 1 – 9 | class (re-classes the selection) |
| A | accept the mask (or the selected draft) | V / Shift+V | next / previous of the 3 candidates |
| Z / Y | undo / redo | Esc | clear the prompts, then deselect |
| Q / W | positive / negative clicks | S R B E | point, box, brush, eraser tool |
| [ / ] | brush size | Delete | delete the selected mask |
| wheel, + / − | zoom at the cursor | F or 0 | fit the image (Shift+0: 1:1) |
| Space+drag, middle-drag, arrows | pan | H | hide / show the masks |
| N / P | next / previous image | U | next image still to do |
"""

st.title("Label")
names = [d.name for d in list_datasets()]
if not names:
    st.info("No datasets yet: import one on the Datasets page, or run `studio demo`.")
    st.stop()
dataset = st.selectbox("Dataset", names, key="label_dataset")
choice = choose_segmenter()
author = current_author()  # the login's user (or the OS user when the studio needs no login)
ws: LabelWorkspace | None = st.session_state.get("label_ws")
if ws is None or ws.dataset != dataset or ws.segmenter is not choice.segmenter or ws.author != author:
    if ws is not None:
        ws.close()  # its image lease ends
        label_api.release(ws)
    ws = st.session_state["label_ws"] = LabelWorkspace(dataset, choice.segmenter, segmenter_note=choice.note,
                                                       author=author)
api = label_api.api_base(label_api.register(ws))


def on_canvas_event(event: dict) -> None:
    """The canvas's trigger (studio.labelling.protocol): a write happened, a selection, a class, an image."""
    try:
        ws.handle_event(parse_event(event))
    except StudioError as exc:
        ws.error = str(exc)


def go(step: int, todo_only: bool = False) -> None:
    ws.go(step, todo_only, among=shown_items(ws.items, key=GALLERY_KEY))


@st.fragment
def workbench() -> None:
    ws.refresh()
    counts = ws.counts
    st.progress(counts.done / max(counts.total, 1),
                text=f"{counts.done}/{counts.total} images done · {counts.draft} with drafts · "
                     f"{counts.review} to review · {counts.unlabelled} unlabelled")
    decoding = " Clicks decode in the browser." if ws.segmenter.kind == "sam" else ""
    icon = ":material/auto_awesome:" if ws.segmenter.kind == "sam" else ":material/info:"
    st.caption(f"{icon} Segmenter: **{ws.segmenter.name}**. {ws.segmenter_note}{decoding}")
    # fixed slots above the canvas, filled or not: a component whose place in the page moves is remounted
    message, prompt = st.empty(), st.container()
    if ws.error:
        message.error(ws.error, icon=":material/error:")
    elif ws.notice:
        message.success(ws.notice, icon=":material/check_circle:")
    if not ws.classes:  # never a dead end: the input is right here (the canvas has one too)
        with prompt:
            first_class_prompt(dataset, key="label_first_class", on_change=ws.refresh)
    canvas, side = st.columns([4, 1.2])
    with side:
        position, total = ws.position(shown_items(ws.items, key=GALLERY_KEY))
        if ws.item is not None:
            st.caption(f"**{ws.item.file_name}** · {position}/{total} · {ws.item.width}×{ws.item.height} · "
                       f"{ws.item.status}")
        with st.container(horizontal=True):
            st.button("Prev", icon=":material/arrow_back:", shortcut="P", on_click=go, args=(-1,))
            st.button("Next", icon=":material/arrow_forward:", shortcut="N", on_click=go, args=(1,))
            st.button("Next to do", icon=":material/skip_next:", shortcut="U", on_click=go, args=(1, True))
        if ws.item is not None and ws.item.status == "review":
            st.warning(f"Review requested: {ws.item.review_note or 'no note'}")
            st.button("Mark reviewed", on_click=ws.mark_reviewed)
        drafts = ws.item.drafts if ws.item is not None else 0
        if drafts:
            st.button(f"Accept all {drafts} drafts", icon=":material/done_all:", on_click=ws.accept_drafts)
        if ws.classes:
            with st.expander("Classes", icon=":material/palette:"):
                class_manager(dataset, key="label_classes", on_change=ws.refresh)
        gallery(ws.items, ws.item.id if ws.item else None, key=GALLERY_KEY, on_open=ws.open, height=360)
    with canvas:
        data = ws.canvas_data(api=api, assets=f"{PREFIX}/assets")
        label_canvas(data.to_json(), key=CANVAS_KEY, on_event=on_canvas_event)
    upcoming = [i for i in ([ws.item] if ws.item else []) + ws.upcoming() if i.exists]
    get_prefetcher(ws.segmenter).request([(i.content_hash, i.path) for i in upcoming])


@st.fragment(run_every=60)
def keep_lease() -> None:
    """The open image stays this annotator's while the page is open (leases lapse after STUDIO_LEASE_S)."""
    ws.keep_lease()


workbench()
keep_lease()
with st.expander("Keyboard shortcuts and tips", icon=":material/keyboard:"):
    st.markdown(SHORTCUTS)
    st.caption("The first click gives three candidates (part, object, group): cycle with V; later clicks refine "
               "the chosen one. Click an existing mask to select it: 1-9 re-class it, clicks refine it, the brush "
               "touches it up, A stores the change. With SAM, hovering previews the mask under the cursor.")
