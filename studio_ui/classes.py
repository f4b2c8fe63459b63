"""Class manager widgets (Datasets and Label pages): every control makes one ``studio.classes``
call in its on_click callback, so the table drawn after it already shows the change.

``class_manager(dataset, key=..., on_change=...)``: the table (key 1-9, swatch, index, use)
plus add, rename, recolour, move up/down, merge and remove with reassignment.
``first_class_prompt(dataset, key=..., on_change=...)``: "add your first class" with the input
right there, for a dataset without classes.
Refusals of the core (duplicate name, class in use, ...) show as ``st.error`` with its message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from studio import classes as core
from studio.class_names import MAX_NAME_LENGTH
from studio.colors import contrast_outline, next_color
from studio.errors import StudioError

OnChange = Callable[[], None] | None


def _run(key: str, on_change: OnChange, action: Callable[[], str]) -> None:
    """on_click: do one core call (``action``, which may also set widget values for the next
    render); keep its outcome to show; run ``on_change`` after a success."""
    try:
        st.session_state[f"{key}_outcome"] = ("success", action())
    except StudioError as exc:
        st.session_state[f"{key}_outcome"] = ("error", str(exc))
        return
    if on_change is not None:
        on_change()


def _show_outcome(key: str) -> None:
    kind, text = st.session_state.pop(f"{key}_outcome", (None, ""))
    if kind == "error":
        st.error(text, icon=":material/block:")
    elif kind == "success":
        st.success(text, icon=":material/check:")


def _button(where: Any, label: str, name: str, icon: str, key: str, on_change: OnChange,
            action: Callable[[], str], **options: Any) -> None:
    where.button(label, key=f"{key}_{name}", icon=f":material/{icon}:", on_click=_run,
                 args=(key, on_change, action), **options)


def _keep_valid(widget_key: str, options: list[Any]) -> None:
    """Before a selectbox is drawn: a value no longer among its options (a class merged away,
    another dataset) becomes the first option, set through session state so the browser shows
    the value the server uses."""
    if st.session_state.get(widget_key, options[0] if options else None) not in options:
        st.session_state[widget_key] = options[0] if options else None


def add_class_form(dataset: str, *, key: str, on_change: OnChange = None, label: str = "New class") -> None:
    """A name input, a colour (the first palette colour the dataset does not use) and "Add class"."""
    used = [c.color for c in core.list_classes(dataset=dataset)]
    suggested = next_color(used)
    name_key, color_key = f"{key}_new_name", f"{key}_new_color"
    if st.session_state.get(f"{key}_suggested") != suggested:  # another dataset, or a class was added
        st.session_state[f"{key}_suggested"] = st.session_state[color_key] = suggested

    def add() -> str:
        picked = st.session_state.get(color_key, suggested)
        made = core.add_class(dataset=dataset, name=st.session_state.get(name_key, ""),
                              color=None if picked == suggested else picked)
        st.session_state[name_key] = ""
        return f"Added class {made.name!r} (index {made.index})."

    left, middle, right = st.columns([4, 1, 2], vertical_alignment="bottom")
    left.text_input(label, key=name_key, placeholder="e.g. cereal box", max_chars=MAX_NAME_LENGTH)
    middle.color_picker("Colour", key=color_key)
    _button(right, "Add class", "add", "add", key, on_change, add, type="primary")


def first_class_prompt(dataset: str, *, key: str = "first_class", on_change: OnChange = None) -> None:
    """For a dataset without classes: what to do, with the input right there."""
    st.info(f"**{dataset}** has no classes yet: add your first class (you can add more, rename, recolour "
            "and reorder them later).", icon=":material/label:")
    add_class_form(dataset, key=key, on_change=on_change, label="Your first class")
    _show_outcome(key)


def _table(rows: list[core.ClassSummary]) -> Any:
    first = 0 if rows[0].is_background else 1
    frame = pd.DataFrame({
        "key": ["bg" if r.is_background else str(n) if n <= 9 else "" for n, r in enumerate(rows, start=first)],
        "class": [r.name for r in rows], "colour": [r.color for r in rows], "index": [r.index for r in rows],
        "annotations": [r.annotations for r in rows], "accepted": [r.accepted for r in rows],
    })
    return frame.style.map(lambda c: f"background-color: {c}; color: {contrast_outline(c)}", subset=["colour"])


def class_manager(dataset: str, *, key: str = "classes", on_change: OnChange = None) -> None:
    """The classes of ``dataset`` with every edit; ``on_change`` runs after each successful one
    (the Label page re-reads its class buttons there)."""
    rows = core.class_summaries(dataset=dataset)
    if not rows:
        first_class_prompt(dataset, key=key, on_change=on_change)
        return
    st.dataframe(_table(rows), hide_index=True, width="stretch")
    _show_outcome(key)  # right under the table that already shows the change
    add_class_form(dataset, key=key, on_change=on_change)
    with st.container(border=True):
        _edit_controls(dataset, rows, key, on_change)


def _edit_controls(dataset: str, rows: list[core.ClassSummary], key: str, on_change: OnChange) -> None:
    state = st.session_state
    by_id = {r.id: r for r in rows}
    pick_key, merge_key, heir_key = f"{key}_pick", f"{key}_merge_to", f"{key}_heir"
    _keep_valid(pick_key, list(by_id))
    chosen = by_id[st.selectbox("Edit class", list(by_id), format_func=lambda i: by_id[i].name, key=pick_key)]
    others = [r.id for r in rows if r.id != chosen.id and not r.is_background]
    name_key, color_key = f"{key}_rename_{chosen.id}", f"{key}_color_{chosen.id}"

    def rename() -> str:
        made = core.rename_class(dataset=dataset, ref=chosen.id, new_name=state.get(name_key, ""))
        state[name_key] = ""
        return f"Renamed {chosen.name!r} to {made.name!r}."

    def recolor() -> str:
        made = core.recolor_class(dataset=dataset, ref=chosen.id, color=state.get(color_key, chosen.color))
        return f"{made.name!r} is now drawn in {made.color}."

    def move(step: int) -> str:
        order = core.move_class(dataset=dataset, ref=chosen.id, step=step)
        return "Order: " + ", ".join(c.name for c in order if c.index != core.BACKGROUND_INDEX) + "."

    def merge() -> str:
        if state.get(merge_key) is None:
            raise StudioError("there is no other class to merge into; add one first")
        report = core.merge_classes(dataset=dataset, source=chosen.id, target=state[merge_key])
        state[pick_key] = state[merge_key]  # go on with the class that has the annotations now
        return f"Merged {report.removed!r} into {report.target!r}: {report.relabelled} annotations re-labelled."

    def remove() -> str:
        heir = state.get(heir_key)
        report = core.remove_class(dataset=dataset, ref=chosen.id, reassign_to=heir)
        state[heir_key] = None
        moved = f" Its {report.relabelled} annotations are now {report.target!r}." if report.target else ""
        return f"Removed class {report.removed!r}.{moved}"

    left, right = st.columns(2, vertical_alignment="bottom")
    left.text_input("New name", key=name_key, placeholder=chosen.name, max_chars=MAX_NAME_LENGTH)
    _button(right, "Rename", "rename", "edit", key, on_change, rename)
    left, right = st.columns(2, vertical_alignment="bottom")
    left.color_picker("Colour", value=chosen.color, key=color_key)
    _button(right, "Save colour", "recolor", "palette", key, on_change, recolor)
    if chosen.is_background:
        return
    up, down = st.columns(2)
    _button(up, "Move up", "up", "arrow_upward", key, on_change, lambda: move(-1), width="stretch")
    _button(down, "Move down", "down", "arrow_downward", key, on_change, lambda: move(1), width="stretch")
    left, right = st.columns(2, vertical_alignment="bottom")
    _keep_valid(merge_key, others)
    left.selectbox("Merge into", others, format_func=lambda i: by_id[i].name, key=merge_key,
                   help="every annotation of this class gets the other class; this class goes away")
    _button(right, "Merge", "merge", "merge", key, on_change, merge, disabled=not others)
    left, right = st.columns(2, vertical_alignment="bottom")
    _keep_valid(heir_key, [None, *others])
    left.selectbox("Its annotations go to", [None, *others], key=heir_key,
                   format_func=lambda i: "(nothing: refuse while any use it)" if i is None else by_id[i].name)
    _button(right, "Remove class", "remove", "delete", key, on_change, remove)
