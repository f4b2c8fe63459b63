"""The Label page's state and actions, without the UI: one ``LabelWorkspace`` per browser
session (the page keeps it in ``st.session_state`` and wires widgets to its methods).

It owns the image queue of one dataset, the open image, its prompt session and overlay
renderer, and the annotator's choices (class, positive / negative clicks). Every action
returns normally; a problem the annotator should read (a click outside the image, a
vanished image file) is left in ``error`` for the page to show, and the studio carries on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from studio import annotations as ann
from studio.errors import StudioError
from studio.images import load_rgb
from studio.labelling import OverlayRenderer, PromptSession, PromptStep, mask_to_logits
from studio.segment.base import Embedding, Segmenter

log = logging.getLogger(__name__)

DRAG_MIN_PX = 4  # a press and release further apart than this (display pixels) is a box
ACCEPTED_ALPHA, DRAFT_ALPHA, SELECTED_ALPHA = 0.35, 0.2, 0.6
PREFETCH_AHEAD = 3  # images whose embeddings are warmed in the background


@dataclass(frozen=True)
class CanvasEvent:
    """What the click component sent: a click (x, y) or a drag (x1, y1) -> (x2, y2), in
    display pixels, with its browser timestamp (used to handle each event once)."""

    x1: float
    y1: float
    x2: float
    y2: float
    time: int
    shown_width: float = 0.0  # width the browser drew the picture at (0: as sent)

    @staticmethod
    def from_component(value: dict | None) -> CanvasEvent | None:
        """``streamlit_image_coordinates`` value (click or click-and-drag form) -> event."""
        if not value or "unix_time" not in value:
            return None
        shown = float(value.get("width") or 0.0)
        if "x1" in value:
            return CanvasEvent(value["x1"], value["y1"], value["x2"], value["y2"], int(value["unix_time"]), shown)
        return CanvasEvent(value["x"], value["y"], value["x"], value["y"], int(value["unix_time"]), shown)

    def scaled(self, rendered_width: float) -> CanvasEvent:
        """The event in the rendered picture's pixels (the browser may have drawn it smaller)."""
        if not self.shown_width or abs(self.shown_width - rendered_width) < 0.5:
            return self
        f = rendered_width / self.shown_width
        return CanvasEvent(self.x1 * f, self.y1 * f, self.x2 * f, self.y2 * f, self.time, rendered_width)

    @property
    def is_drag(self) -> bool:
        return max(abs(self.x2 - self.x1), abs(self.y2 - self.y1)) >= DRAG_MIN_PX


class LabelWorkspace:
    """Labelling of one dataset by one annotator (see the module docstring)."""

    def __init__(self, dataset: str, segmenter: Segmenter, *, segmenter_note: str = "",
                 author: str | None = None, max_side: int = 1024) -> None:
        self.dataset = dataset
        self.segmenter = segmenter
        self.segmenter_note = segmenter_note
        self.author = author or ann.default_author()
        self.max_side = max_side
        self.filter: tuple[str, ...] | None = None  # statuses the browser shows (None: all)
        self.positive = True
        self.error: str | None = None
        self.notice: str | None = None  # last good news ("accepted box #12")
        self.items: list[ann.ImageItem] = []
        self.item: ann.ImageItem | None = None
        self.image: np.ndarray | None = None
        self.renderer: OverlayRenderer | None = None
        self.session: PromptSession | None = None
        self.annotations: list[ann.AnnotationView] = []
        self.selected_id: int | None = None
        self.embedding_source = ""  # memory / disk / computed: how the open image's embedding came
        self._embedding: Embedding | None = None
        self._last_event = 0
        self.classes = [c for c in ann.list_classes(dataset) if c.index != 0]
        self.class_id: int | None = self.classes[0].id if self.classes else None
        self.refresh()
        first = ann.next_in_queue(self.items, None, statuses=ann.TODO_STATUSES) or (self.items[0] if self.items else None)
        if first is not None:
            self.open(first.id)

    # -- queue ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the queue (statuses change as annotations are accepted)."""
        self.items = ann.image_queue(self.dataset)
        if self.item is not None:
            self.item = next((i for i in self.items if i.id == self.item.id), self.item)

    @property
    def counts(self) -> ann.QueueCounts:
        return ann.queue_counts(self.items)

    @property
    def visible_items(self) -> list[ann.ImageItem]:
        return [i for i in self.items if self.filter is None or i.status in self.filter]

    def position(self) -> tuple[int, int]:
        """(1-based position of the open image among the visible ones, their count)."""
        ids = [i.id for i in self.visible_items]
        return (ids.index(self.item.id) + 1 if self.item and self.item.id in ids else 0, len(ids))

    def go(self, step: int = 1, todo_only: bool = False) -> bool:
        """Open the next (``step`` 1) / previous (-1) visible image, or with ``todo_only`` the
        next one still to do (unlabelled, draft or review). False when there is none."""
        target = ann.next_in_queue(self.visible_items if not todo_only else self.items,
                                   self.item.id if self.item else None, step,
                                   statuses=ann.TODO_STATUSES if todo_only else None)
        if target is None:
            self.notice = "no other image to do: every image is labelled" if todo_only else None
            return False
        self.open(target.id)
        return True

    def upcoming(self, n: int = PREFETCH_AHEAD) -> list[ann.ImageItem]:
        """The next ``n`` images the annotator will probably open (for warming embeddings)."""
        out: list[ann.ImageItem] = []
        current = self.item.id if self.item else None
        for _ in range(n):
            nxt = ann.next_in_queue(self.items, current, statuses=ann.TODO_STATUSES)
            if nxt is None or nxt in out or (self.item and nxt.id == self.item.id):
                break
            out.append(nxt)
            current = nxt.id
        return out

    # -- one image -----------------------------------------------------------------------
    def open(self, image_id: int) -> None:
        """Open an image: pixels, overlay renderer, annotations, a fresh prompt session. A
        vanished image file leaves ``error`` set and no image open."""
        self.error = None
        self.item = next((i for i in self.items if i.id == image_id), None)
        self.image, self.renderer, self.session, self._embedding = None, None, None, None
        self.selected_id = None
        if self.item is None:
            self.error = f"image {image_id} is not in dataset {self.dataset!r}"
            return
        try:
            self.image = load_rgb(self.item.path)
        except StudioError as exc:
            self.error = f"{self.item.file_name}: {exc}"
            return
        self.renderer = OverlayRenderer(self.image, self.max_side)
        self.session = PromptSession(self.item.id, self.image.shape[:2])
        self.annotations = ann.list_annotations(self.item.id)

    def embedding(self) -> Embedding:
        """The open image's embedding (cache: memory, disk, or computed now)."""
        if self._embedding is None:
            from studio.segment import embedding_for

            assert self.item is not None
            self._embedding, self.embedding_source = embedding_for(self.segmenter, self.item.content_hash,
                                                                   self.item.path)
        return self._embedding

    # -- prompts -------------------------------------------------------------------------
    def handle_canvas(self, value: dict | None) -> bool:
        """Apply a click (point, sign from ``positive``) or a drag (box) from the component;
        each event once. True when the mask changed."""
        event = CanvasEvent.from_component(value)
        if event is None or event.time == self._last_event or self.renderer is None or self.session is None:
            return False
        self._last_event = event.time
        self.error = None
        event = event.scaled(self.renderer.display_size[1])
        if event.is_drag:
            x0, y0 = self.renderer.to_image(event.x1, event.y1)
            x1, y1 = self.renderer.to_image(event.x2, event.y2)
            step = PromptStep.rectangle(x0, y0, x1, y1)
        else:
            h, w = self.renderer.image_size
            x, y = event.x1 / self.renderer.scale, event.y1 / self.renderer.scale
            if not (0 <= x <= w - 1 and 0 <= y <= h - 1):
                self.error = f"click at ({x:.0f}, {y:.0f}) is outside the {w}x{h} image"
                return False
            step = PromptStep.point(x, y, self.positive)
        return self.apply(step)

    def apply(self, step: PromptStep) -> bool:
        """Add a prompt step (image pixels); False with ``error`` set if it was refused."""
        if self.session is None:
            return False
        try:
            self.session.apply(self.segmenter, self.embedding(), step)
        except StudioError as exc:
            self.error = str(exc)
            return False
        return True

    def undo(self) -> bool:
        return bool(self.session and self.session.undo())

    def redo(self) -> bool:
        return bool(self.session and self.session.redo())

    def clear(self) -> None:
        if self.session is not None:
            self.session.clear()

    def cycle(self) -> None:
        if self.session is not None:
            self.session.cycle()

    # -- annotations ---------------------------------------------------------------------
    def _class_name(self, class_id: int | None) -> str:
        return next((c.name for c in self.classes if c.id == class_id), "?")

    def accept(self) -> int | None:
        """Store the current mask with the chosen class (committed before returning), or
        update the annotation being refined; the annotation id. A fresh session follows."""
        self.error = None
        if self.session is None or self.session.mask is None or self.item is None:
            self.error = "nothing to accept yet: click inside an object first"
            return None
        if self.class_id is None:
            self.error = "this dataset has no classes yet: add one first"
            return None
        try:
            if self.session.editing_annotation_id is not None:
                annotation_id = self.session.editing_annotation_id
                ann.update_annotation(annotation_id, class_id=self.class_id, mask=self.session.mask,
                                      status="accepted", source=self.segmenter.kind,
                                      add_seconds=self.session.seconds_spent())
            else:
                annotation_id = ann.add_annotation(
                    image_id=self.item.id, class_id=self.class_id, mask=self.session.mask, source=self.segmenter.kind,
                    status="accepted", author=self.author, seconds_spent=self.session.seconds_spent(),
                    score=self.session.score)
        except StudioError as exc:
            self.error = str(exc)
            return None
        self.notice = f"accepted {self._class_name(self.class_id)} #{annotation_id}"
        self._after_change()
        return annotation_id

    def _after_change(self) -> None:
        assert self.item is not None and self.image is not None
        self.session = PromptSession(self.item.id, self.image.shape[:2])
        self.selected_id = None
        self.annotations = ann.list_annotations(self.item.id)
        self.refresh()

    def select(self, annotation_id: int | None) -> None:
        """Select an annotation (highlighted); its mask seeds a refinement session, so more
        clicks refine it and accept replaces its mask."""
        self.selected_id = annotation_id
        if annotation_id is None or self.item is None or self.image is None:
            return
        view = next((a for a in self.annotations if a.id == annotation_id), None)
        if view is None:
            self.error = f"annotation {annotation_id} is gone (deleted meanwhile?)"
            return
        self.class_id = view.class_id
        self.session = PromptSession(self.item.id, self.image.shape[:2], editing_annotation_id=annotation_id,
                                     seed_logits=mask_to_logits(view.mask()))

    def update(self, annotation_id: int, *, class_id: int | None = None, status: str | None = None) -> None:
        """Re-class and/or accept / reject an annotation."""
        try:
            ann.update_annotation(annotation_id, class_id=class_id, status=status)
        except StudioError as exc:
            self.error = str(exc)
            return
        self.notice = f"annotation #{annotation_id} updated"
        self._after_change()

    def accept_drafts(self) -> int:
        """Accept every draft annotation of the open image (e.g. a model's pre-labels)."""
        drafts = [a.id for a in self.annotations if a.status == "draft"]
        for annotation_id in drafts:
            ann.update_annotation(annotation_id, status="accepted")
        if drafts:
            self.notice = f"accepted {len(drafts)} draft annotation(s)"
            self._after_change()
        return len(drafts)

    def delete(self, annotation_id: int) -> None:
        try:
            ann.delete_annotation(annotation_id)
        except StudioError as exc:
            self.error = str(exc)
            return
        self.notice = f"annotation #{annotation_id} deleted"
        self._after_change()

    def mark_reviewed(self) -> None:
        """Clear the open image's review request."""
        if self.item is not None:
            ann.set_review([self.item.id], False)
            self.refresh()

    # -- drawing -------------------------------------------------------------------------
    def color(self) -> str:
        return next((c.color for c in self.classes if c.id == self.class_id), "#ffcc00")

    def render(self) -> np.ndarray | None:
        """(dh, dw, 3) uint8: the open image with annotations, the current mask, the prompts."""
        if self.renderer is None or self.session is None:
            return None
        editing = self.session.editing_annotation_id
        layers = [(a.id, a.rle, a.color, SELECTED_ALPHA if a.id == self.selected_id else
                   DRAFT_ALPHA if a.status == "draft" else ACCEPTED_ALPHA)
                  for a in self.annotations if a.status != "rejected" and a.id != (editing if self.session.steps else None)]
        return self.renderer.render(layers, self.session.mask, self.color(), self.session.steps)
