"""The image gallery of the Label page: a thumbnail grid with status filters, a file-name
search, counts per status, pages and jump-to.

The grid is a small ``st.components.v2`` component rendered in the page itself (no iframe,
so the page's keyboard shortcuts keep working after a click). It shows only the current page
(``PAGE_SIZE`` thumbnails), each an ``<img>`` from the thumbnail route
(``/studio-api/thumbs/<id>.jpg``) with a status badge (unlabelled / draft / review / done);
the open image is outlined. A click sends the trigger ``event = {"kind": "open",
"image_id": <id>}``. The logic (filter, search, counts, pages, jump) is
``studio.image_browser``; this module only draws it.

Widget state lives in ``st.session_state`` under ``<key>-...`` names, so a page may keep the
gallery in a fragment and read the filter back with :func:`shown_items`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

from studio.annotations import IMAGE_STATUSES, ImageItem
from studio.errors import InvalidInput
from studio.image_browser import PAGE_SIZE, filter_items, jump_target, page_containing, page_of, status_counts
from studio.thumbnails import ThumbSource, prefetch_thumbnails
from studio_ui.web.thumbnails import thumbnail_url

OpenFn = Callable[[int], None]

_HTML = ""  # the script builds the grid (file names are set as text, never parsed as HTML)

_CSS = """
.studio-gallery {
  position: relative; display: grid; gap: 6px; overflow-y: auto; padding: 2px;
  grid-template-columns: repeat(auto-fill, minmax(var(--tile-min, 96px), 1fr));
  max-height: var(--gallery-height, 520px);
  font-family: var(--st-font, "Source Sans Pro", sans-serif);
}
.studio-gallery .empty { grid-column: 1 / -1; padding: 12px; opacity: .7; font-size: 14px; }
.tile {
  all: unset; box-sizing: border-box; position: relative; display: flex; flex-direction: column;
  cursor: pointer; border-radius: 6px; border: 2px solid transparent; overflow: hidden;
  background: var(--st-secondary-background-color, #f0f2f6);
}
.tile:hover { border-color: rgba(128, 128, 128, .6); }
.tile:focus-visible { outline: 2px solid var(--st-primary-color, #ff4b4b); outline-offset: 1px; }
.tile.current { border-color: var(--st-primary-color, #ff4b4b);
                box-shadow: 0 0 0 2px var(--st-primary-color, #ff4b4b); }
.tile img { display: block; width: 100%; aspect-ratio: 1 / 1; object-fit: contain;
            background: rgba(128, 128, 128, .12); }
.badge { position: absolute; top: 4px; left: 4px; padding: 0 6px; border-radius: 8px;
         font-size: 10px; font-weight: 600; line-height: 16px; color: #fff; }
.s-unlabelled .badge { background: #5f6b7a; }
.s-draft .badge { background: #b45309; }
.s-review .badge { background: #7c3aed; }
.s-done .badge { background: #15803d; }
.caption { padding: 2px 5px; font-size: 11px; line-height: 15px; white-space: nowrap; overflow: hidden;
           text-overflow: ellipsis; color: var(--st-text-color, inherit); }
.caption b { font-weight: 600; margin-right: 4px; opacity: .7; }
"""

_JS = """
export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  let root = parentElement.querySelector(".studio-gallery");
  if (!root) {
    root = document.createElement("div");
    root.className = "studio-gallery";
    root.setAttribute("role", "list");
    root.tiles = new Map();
    root.addEventListener("click", (event) => {
      const tile = event.target.closest("[data-image-id]");
      if (tile) root.open(Number(tile.dataset.imageId));
    });
    parentElement.appendChild(root);
  }
  root.open = (id) => setTriggerValue("event", { kind: "open", image_id: id });
  const items = (data && data.items) || [];
  root.style.setProperty("--gallery-height", `${(data && data.height) || 520}px`);
  const keep = new Map();
  const nodes = [];
  for (const item of items) {
    let tile = root.tiles.get(item.id);
    if (!tile) {
      tile = document.createElement("button");
      tile.type = "button";
      tile.dataset.imageId = String(item.id);
      const img = document.createElement("img");
      img.loading = "lazy";
      img.decoding = "async";
      img.src = item.url;
      img.alt = item.name;
      const badge = document.createElement("span");
      badge.className = "badge";
      const caption = document.createElement("span");
      caption.className = "caption";
      tile.append(img, badge, caption);
    }
    const current = item.id === data.current_id;
    tile.className = `tile s-${item.status}` + (current ? " current" : "");
    tile.setAttribute("role", "listitem");
    tile.setAttribute("aria-current", current ? "true" : "false");
    tile.title = `${item.position}. ${item.name} (${item.status})`;
    tile.querySelector(".badge").textContent = item.status;
    const caption = tile.querySelector(".caption");
    const number = document.createElement("b");
    number.textContent = String(item.position);
    caption.replaceChildren(number, document.createTextNode(item.name.split("/").pop()));
    keep.set(item.id, tile);
    nodes.push(tile);
  }
  if (!nodes.length) {
    const empty = document.createElement("div");
    empty.className = "empty";
    empty.textContent = (data && data.empty) || "No images.";
    nodes.push(empty);
  }
  root.tiles = keep;
  root.replaceChildren(...nodes);
  const open = keep.get(data && data.current_id);
  if (open && root.scrolledTo !== data.current_id) {
    root.scrolledTo = data.current_id;  // bring the open image into the grid's view, not the page's
    root.scrollTop = Math.max(0, open.offsetTop - (root.clientHeight - open.clientHeight) / 2);
  }
}
"""

_GRID = st.components.v2.component("studio_gallery_grid", html=_HTML, css=_CSS, js=_JS)


def _k(key: str, part: str) -> str:
    """The session-state name of one part of gallery ``key`` (``<key>-<part>``; Streamlit refuses
    ``__`` in a component's key)."""
    return f"{key}-{part}"


def _statuses(key: str) -> tuple[str, ...]:
    return tuple(st.session_state.get(_k(key, "status")) or ())


def shown_items(items: Sequence[ImageItem], *, key: str) -> list[ImageItem]:
    """The images gallery ``key`` lets through now (its status filter and search), in order:
    a page can walk them with ``studio.annotations.next_in_queue``."""
    return filter_items(items, _statuses(key), st.session_state.get(_k(key, "search"), ""))


def _open(key: str, image_id: int, on_open: OpenFn | None) -> None:
    st.session_state[_k(key, "open")] = image_id
    st.session_state.pop(_k(key, "error"), None)
    if on_open is not None:
        on_open(image_id)


def _on_grid_event(key: str, on_open: OpenFn | None) -> None:
    value = st.session_state.get(_k(key, "grid")) or {}
    event = value.get("event") if hasattr(value, "get") else None
    if isinstance(event, dict) and event.get("kind") == "open" and isinstance(event.get("image_id"), int):
        _open(key, event["image_id"], on_open)


def _on_jump(key: str, shown: list[ImageItem], page_size: int, on_open: OpenFn | None) -> None:
    text = st.session_state.get(_k(key, "jump"), "")
    if not text.strip():
        return
    try:
        target = jump_target(shown, text)
    except InvalidInput as exc:
        st.session_state[_k(key, "error")] = str(exc)
        return
    st.session_state[_k(key, "jump")] = ""
    st.session_state[_k(key, "page")] = page_containing(shown, target.id, page_size)
    _open(key, target.id, on_open)


def _on_view_change(key: str) -> None:
    """A new filter or search: show the page holding the open image (or the first)."""
    st.session_state[_k(key, "page")] = None
    st.session_state.pop(_k(key, "error"), None)


def _go_page(key: str, page: int) -> None:
    st.session_state[_k(key, "page")] = page


def gallery(items: Sequence[ImageItem], current_id: int | None, *, key: str, on_open: OpenFn | None = None,
            page_size: int = PAGE_SIZE, height: int = 520) -> int | None:
    """Draw the gallery of ``items`` (``studio.annotations.image_queue(dataset)``, unfiltered)
    with ``current_id`` outlined; return the id of the image the user asked to open (a click
    on a thumbnail, or jump-to) in the run that follows, else None.

    ``on_open(image_id)``, when given, is called from the widget's callback, before that run
    (so the page renders the new image at once). ``key`` must be unique on the page; the page
    follows ``current_id`` when it changes (Next / Previous keys), and otherwise stays where
    the user paged to. ``height``: pixels of the grid (it scrolls inside).
    """
    state = st.session_state
    page_key, follow_key, error_key = _k(key, "page"), _k(key, "follow"), _k(key, "error")
    counts = status_counts(items, state.get(_k(key, "search"), ""))
    shown = shown_items(items, key=key)
    if state.get(follow_key, -1) != current_id:  # a newly opened image: show its page
        state[follow_key] = current_id
        state[page_key] = page_containing(shown, current_id, page_size)
    wanted = state.get(page_key)
    if wanted is None:
        wanted = page_containing(shown, current_id, page_size) or 0
    page = page_of(shown, wanted, page_size)
    state[page_key] = page.page

    st.pills("Show images", IMAGE_STATUSES, selection_mode="multi", key=_k(key, "status"),
             label_visibility="collapsed", format_func=lambda status: f"{status} {counts[status]}",
             on_change=_on_view_change, args=(key,),
             help="Filter by labelling status (none selected: all). The numbers follow the search.")
    search, jump = st.columns(2)
    search.text_input("Search file names", key=_k(key, "search"), placeholder="search file names",
                      label_visibility="collapsed", on_change=_on_view_change, args=(key,),
                      help="Every word must occur in the file name (case-insensitive).")
    jump.text_input("Jump to", key=_k(key, "jump"), placeholder="jump to: #12 or a name",
                    label_visibility="collapsed", on_change=_on_jump, args=(key, shown, page_size, on_open),
                    help="A position among the images shown (12 or #12), or (part of) a file name.")
    if state.get(error_key):
        st.caption(f":material/error: {state[error_key]}")

    at_start, at_end = page.page == 0, page.page >= page.pages - 1
    of_all = f" (of {len(items)})" if len(shown) != len(items) else ""
    with st.container(horizontal=True, vertical_alignment="center"):
        for part, icon, target, disabled in (("first", "first_page", 0, at_start),
                                             ("prev", "chevron_left", page.page - 1, at_start)):
            st.button("", key=_k(key, part), icon=f":material/{icon}:", disabled=disabled, type="tertiary",
                      on_click=_go_page, args=(key, target), help=f"{part} page".replace("prev ", "previous "))
        st.caption(f"{page.first}–{page.last} of {page.total}{of_all} · page {page.page + 1}/{page.pages}",
                   width="content")
        for part, icon, target, disabled in (("next", "chevron_right", page.page + 1, at_end),
                                             ("last", "last_page", page.pages - 1, at_end)):
            st.button("", key=_k(key, part), icon=f":material/{icon}:", disabled=disabled, type="tertiary",
                      on_click=_go_page, args=(key, target), help=f"{part} page")

    empty = "No image matches the filter and the search." if items else "No images."
    _GRID(key=_k(key, "grid"), data=grid_data(page.items, current_id, first=page.first, height=height, empty=empty),
          on_event_change=lambda: _on_grid_event(key, on_open))
    upcoming = page_of(shown, page.page + 1, page_size)
    if upcoming.page != page.page:  # the next page's thumbnails, built while the user looks at this one
        prefetch_thumbnails([ThumbSource(i.content_hash, i.path) for i in upcoming.items])
    return state.pop(_k(key, "open"), None)


def grid_data(items: Sequence[ImageItem], current_id: int | None, *, first: int, height: int,
              empty: str) -> dict[str, Any]:
    """The grid component's ``data``: one entry per thumbnail of the page (position is 1-based
    among the images shown)."""
    return {
        "items": [{"id": i.id, "name": i.file_name, "status": i.status, "url": thumbnail_url(i.id),
                   "position": first + n} for n, i in enumerate(items)],
        "current_id": current_id,
        "height": height,
        "empty": empty,
    }
