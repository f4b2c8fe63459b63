"""One annotator's labelling of one dataset, server side: what the Label page and the
canvas's HTTP API (studio_ui.web.label_api) both act on.

The browser owns the prompt session (points, box, undo, candidates, brush); this object owns
the rest: the image queue and the open image, the current class, the selection, a revision
counter (bumped whenever annotations or classes change, so the canvas knows its copy is
stale), and the low-res logits of the last :data:`KEEP_PREDICTIONS` server-path predictions
(so a later ``predict`` can refine one by reference). Every request of the message format
(studio.labelling.protocol) has one method here; each validates against the database (the
image belongs to the dataset, the class too, the mask has the image's size and is not empty)
and writes in one committed transaction, or raises ``InvalidInput`` / ``NotFound`` with a
message for people and writes nothing.

A team (studio.leases, studio.annotations versions): opening an image leases it to the
annotator (``held_by`` names whoever else holds it: the image can be looked at, writes are
refused); every write renews the lease; "next to do" follows the dataset's active-learning
ranking when there is one (studio.active.ranked_todo), the annotator's assignments, and skips
images someone else holds; edits carry the version the annotator saw, so a stale one is refused
(``StaleEdit``, saying what changed) instead of overwriting a colleague's work.

Thread-safe: the Streamlit script thread and the HTTP handlers' threads share one lock.
Slow work (an image embedding: ~20 s for SAM on a CPU) runs outside it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studio import annotations as ann
from studio import classes as class_ops
from studio import leases, masks
from studio.db import get_row, session_scope
from studio.errors import InvalidInput, NotFound
from studio.labelling.embeddings import EmbeddingPayload, browser_payload, checked_embedding
from studio.labelling.protocol import (
    AcceptRequest,
    AnnotationData,
    AnnotationReply,
    CanvasData,
    CanvasEvent,
    ChangedEvent,
    ClassData,
    ClassEvent,
    ClassReply,
    CreateClassRequest,
    DeleteReply,
    MaskRef,
    OpenEvent,
    PredictionRef,
    PredictReply,
    PredictRequest,
    SelectEvent,
    UpdateRequest,
    canvas_data,
)
from studio.segment.low_res import seed_logits
from studio.segment.base import Embedding, Prompt, Segmenter
from studio.tables import Annotation, LabelClass

KEEP_PREDICTIONS = 64  # server-path predictions whose logits stay available as mask_input
PREFETCH_AHEAD = 3  # images whose embeddings are warmed in the background


@dataclass
class _Kept:
    image_id: int
    logits: np.ndarray  # (K, 256, 256) float16


class LabelWorkspace:
    """Labelling of ``dataset`` by one annotator with ``segmenter`` (see the module docstring)."""

    def __init__(self, dataset: str, segmenter: Segmenter, *, segmenter_note: str = "",
                 author: str | None = None, browser_decoder: bool = True) -> None:
        self.dataset = dataset
        self.segmenter = segmenter
        self.segmenter_note = segmenter_note
        self.author = author or ann.default_author()
        self.browser_decoder = browser_decoder  # False: SAM clicks go through the server path too
        self.error: str | None = None  # last problem for the page to show
        self.notice: str | None = None  # last good news
        self.items: list[ann.ImageItem] = []
        self.item: ann.ImageItem | None = None
        self.classes: list[LabelClass] = []  # in display order, background left out
        self.class_id: int | None = None
        self.selected_id: int | None = None
        self.held_by: str | None = None  # someone else's lease on the open image (then writes are refused)
        self.revision = 0
        self._stale = False  # a write happened since the queue was read (statuses may have changed)
        self._lock = threading.RLock()
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        self.refresh()
        if not self._open_next_todo(None) and self.items:
            self.open(self.items[0].id)

    # -- queue and classes (the page) ------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the queue and the classes; a changed class list bumps the revision."""
        items = ann.image_queue(self.dataset)
        classes = _list_classes(self.dataset)
        with self._lock:
            self.items = items
            self._stale = False
            if self.item is not None:
                self.item = next((i for i in items if i.id == self.item.id), self.item)
            if _class_key(classes) != _class_key(self.classes):
                self.classes = classes
                self.revision += 1
            ids = [c.id for c in classes]
            if self.class_id not in ids:
                self.class_id = ids[0] if ids else None

    @property
    def counts(self) -> ann.QueueCounts:
        if self._stale:
            self.refresh()
        return ann.queue_counts(self.items)

    def position(self, among: list[ann.ImageItem] | None = None) -> tuple[int, int]:
        """(1-based position of the open image among ``among`` (default: the queue), their count)."""
        ids = [i.id for i in (self.items if among is None else among)]
        return (ids.index(self.item.id) + 1 if self.item and self.item.id in ids else 0, len(ids))

    def go(self, step: int = 1, todo_only: bool = False, among: list[ann.ImageItem] | None = None) -> bool:
        """Open the next (``step`` 1) / previous (-1) image of ``among`` (default: the queue;
        the page passes the gallery's filtered list), or with ``todo_only`` the next one of the
        queue still to do (unlabelled, draft or review). False when there is none."""
        self.refresh()
        if todo_only:
            if self._open_next_todo(self.item.id if self.item else None):
                self.notice = None
                return True
            self.notice = "no other image to do: every image is labelled or held by someone else"
            return False
        ids = {i.id for i in self.items}
        walk = self.items if among is None else [i for i in among if i.id in ids]
        target = ann.next_in_queue(walk, self.item.id if self.item else None, step)
        if target is None:
            self.notice = None
            return False
        self.notice = None
        self.open(target.id)
        return True

    def todo_order(self) -> list[ann.ImageItem]:
        """This annotator's images still to do, in the order to label them: the dataset's
        ranking (or import order), their assignments, none that someone else holds."""
        from studio.active import ranked_todo

        mine = {i.id: i for i in leases.todo_for(self.author, self.dataset, self.items)}
        return [mine[i] for i in ranked_todo(self.dataset) if i in mine]

    def _open_next_todo(self, after: int | None) -> bool:
        """Open (and lease) the first image of :meth:`todo_order` after ``after`` (wrapping round);
        another annotator may take one between the listing and the lease: it is skipped."""
        order = self.todo_order()
        ids = [i.id for i in order]
        start = ids.index(after) + 1 if after in ids else 0
        for item in order[start:] + order[:start]:
            if item.id != after and leases.try_acquire(item.id, self.author):
                self.open(item.id)
                return True
        return False

    def upcoming(self, n: int = PREFETCH_AHEAD) -> list[ann.ImageItem]:
        """The next ``n`` images still to do after the open one (prefetched in the background)."""
        order = self.todo_order()
        ids = [i.id for i in order]
        start = ids.index(self.item.id) + 1 if self.item and self.item.id in ids else 0
        return [i for i in order[start:] + order[:start] if not self.item or i.id != self.item.id][:n]

    def open(self, image_id: int) -> bool:
        """Open an image of the queue (selection cleared). An image missing from the store
        stays open with ``error`` set (the canvas shows nothing; Next works); False then."""
        with self._lock:
            item = next((i for i in self.items if i.id == image_id), None)
            self.selected_id = None
            self.error = None
            if item is None:
                self.error = f"image {image_id} is not in dataset {self.dataset!r}"
                return False
            self.item = item
            self._lease(item.id)
            if not item.exists:
                self.error = f"{item.file_name} is missing from the image store ({item.path}); re-import it or use Next"
                return False
            return True

    def _lease(self, image_id: int) -> None:
        """Take (or renew) the lease on ``image_id``; someone else holding it leaves ``held_by``
        and an error for the page (call with the lock held)."""
        try:
            leases.acquire(image_id, self.author)
            self.held_by = None
        except leases.Taken as exc:
            self.held_by = exc.holder
            self.error = (f"{exc.holder} is labelling this image (until {exc.until:%H:%M} UTC unless they keep "
                          "working): you can look, but changes are refused; use Next to do")

    def keep_lease(self) -> None:
        """Renew the open image's lease (the page calls it while the annotator stays)."""
        with self._lock:
            if self.item is not None:
                self._lease(self.item.id)

    def close(self) -> None:
        """Release the open image's lease (the annotator leaves the dataset or the page)."""
        with self._lock:
            if self.item is not None and self.held_by is None:
                leases.release(self.item.id, self.author)

    def _writable(self, image_id: int) -> None:
        """Taken (409) unless this annotator holds (or can take again) ``image_id``'s lease."""
        leases.renew(image_id, self.author)
        if self.item is not None and self.item.id == image_id:
            self.held_by = None

    def set_class(self, class_id: int) -> None:
        """The annotator's current class (what Accept stores); InvalidInput for another dataset's."""
        with self._lock:
            if class_id not in {c.id for c in self.classes}:
                raise InvalidInput(f"class id {class_id} is not a class of dataset {self.dataset!r}")
            self.class_id = class_id

    def select(self, annotation_id: int | None) -> None:
        """Remember the selection (the canvas's object list and the page agree on it)."""
        with self._lock:
            self.selected_id = annotation_id

    def handle_event(self, event: CanvasEvent | None) -> None:
        """Apply one of the canvas's triggers: a write happened (re-read the queue), a
        selection, a class picked (1-9), an image to open (gallery)."""
        if isinstance(event, ChangedEvent):
            self.refresh()
        elif isinstance(event, SelectEvent):
            self.select(event.annotation_id)
        elif isinstance(event, ClassEvent):
            self.set_class(event.class_id)
        elif isinstance(event, OpenEvent):
            self.open(event.image_id)

    def annotations(self) -> list[ann.AnnotationView]:
        """The open image's annotations, oldest first (read from the database)."""
        return ann.list_annotations(self.item.id) if self.item is not None else []

    def _bump(self) -> None:
        """A write happened (call with the lock held): new revision, queue to be re-read."""
        self.revision += 1
        self._stale = True

    def canvas_data(self, *, api: str, assets: str, opacity: float = 0.45) -> CanvasData:
        """The canvas's data for the open image (studio.labelling.protocol.canvas_data). The
        state is read under the lock, the annotations after it (the HTTP writes go on)."""
        if self._stale:
            self.refresh()
        with self._lock:
            item = self.item if self.item is not None and self.item.exists else None
            classes, class_id, revision, selected = list(self.classes), self.class_id, self.revision, self.selected_id
            prefetch = [i for i in self.upcoming() if i.exists]
        annotations = ann.list_annotations(item.id) if item is not None else []
        if selected not in {a.id for a in annotations}:
            selected = None
        return canvas_data(api=api, assets=assets, image=item, classes=classes, class_id=class_id,
                           annotations=annotations, revision=revision, segmenter=self.segmenter, prefetch=prefetch,
                           selected_id=selected, opacity=opacity, browser_decoder=self.browser_decoder)

    def accept_drafts(self) -> int:
        """Accept every draft annotation of the open image (e.g. a model's pre-labels)."""
        drafts = [a.id for a in self.annotations() if a.status == "draft"]
        with self._lock:
            for annotation_id in drafts:
                ann.update_annotation(annotation_id, status="accepted", editor=self.author)
            if drafts:
                self._bump()
                self.notice = f"accepted {len(drafts)} draft annotation(s)"
        self.refresh()
        return len(drafts)

    def mark_reviewed(self) -> None:
        """Clear the open image's review request."""
        if self.item is not None:
            ann.set_review([self.item.id], False)
            self.refresh()

    # -- files (HTTP) ----------------------------------------------------------------------
    def _image(self, image_id: int) -> ann.ImageItem:
        """An image of this dataset (the queue is re-read once for one imported meanwhile)."""
        for attempt in range(2):
            with self._lock:
                item = next((i for i in self.items if i.id == image_id), None)
            if item is not None:
                return item
            if attempt == 0:
                self.refresh()
        raise NotFound(f"image {image_id} is not in dataset {self.dataset!r}")

    def image_path(self, image_id: int) -> Path:
        """The stored file of an image; NotFound when it left the store."""
        item = self._image(image_id)
        if not item.exists:
            raise NotFound(f"{item.file_name} is missing from the image store ({item.path}); re-import it or use Next")
        return item.path

    def embedding(self, image_id: int) -> Embedding:
        """The image's embedding by the active segmenter (studio.labelling.embeddings:
        cached, checked, computed when missing: slow for SAM)."""
        item = self._image(image_id)
        return checked_embedding(self.segmenter, item.content_hash, self.image_path(image_id), (item.height, item.width))

    def embedding_payload(self, image_id: int) -> EmbeddingPayload:
        """``GET embedding``: SAM features as fp16 bytes; NotFound for a segmenter that is not SAM."""
        if self.segmenter.kind != "sam":
            raise NotFound(f"the active segmenter ({self.segmenter.name}) has no image embedding for the browser; "
                           "clicks go through POST predict")
        return browser_payload(self.segmenter.id, self.embedding(image_id))

    def decoder_file(self) -> Path:
        """The active SAM segmenter's exported ONNX decoder (exported on first call)."""
        from studio.segment.onnx_decoder import ensure_decoder

        if self.segmenter.kind != "sam":
            raise NotFound(f"the active segmenter ({self.segmenter.name}) has no browser decoder")
        return ensure_decoder(self.segmenter)

    # -- prompts (HTTP: the server path) ---------------------------------------------------
    def predict(self, request: PredictRequest) -> PredictReply:
        """Masks for a prompt through the active segmenter; the candidates' logits are kept
        under the reply's ``prediction`` id for a later ``mask_input`` reference."""
        start = time.perf_counter()
        item = self._image(request.image_id)
        mask_input = self._mask_input(request, item)
        embedding = self.embedding(item.id)
        prompt = Prompt.from_clicks(list(request.points), list(request.labels), box=request.box, mask_input=mask_input)
        prediction = self.segmenter.predict(embedding, prompt, multimask=request.multimask)
        prediction_id = uuid.uuid4().hex[:16]
        with self._lock:
            self._kept[prediction_id] = _Kept(item.id, prediction.logits.astype(np.float16))
            while len(self._kept) > KEEP_PREDICTIONS:
                self._kept.popitem(last=False)
        encoded = tuple(masks.encode(m) for m in prediction.masks)
        return PredictReply(prediction_id, encoded, tuple(float(s) for s in prediction.scores),
                            1000 * (time.perf_counter() - start))

    def _mask_input(self, request: PredictRequest, item: ann.ImageItem) -> np.ndarray | None:
        """(1, 256, 256) float32 logits for ``request.mask_input``, or None."""
        ref = request.mask_input
        if ref is None:
            return None
        if isinstance(ref, MaskRef):
            return seed_logits(self._mask(ref.rle, item, "predict request: mask_input.rle").astype(bool))
        assert isinstance(ref, PredictionRef)
        with self._lock:
            kept = self._kept.get(ref.prediction)
        if kept is None:
            raise InvalidInput(f"prediction {ref.prediction!r} is no longer kept (the server keeps the last "
                               f"{KEEP_PREDICTIONS}); start this object again")
        if kept.image_id != item.id:
            raise InvalidInput(f"prediction {ref.prediction!r} belongs to image {kept.image_id}, not {item.id}")
        if not 0 <= ref.candidate < len(kept.logits):
            raise InvalidInput(f"mask_input.candidate {ref.candidate}: prediction {ref.prediction!r} has "
                               f"candidates 0..{len(kept.logits) - 1}")
        return kept.logits[ref.candidate][None].astype(np.float32)

    @staticmethod
    def _mask(rle: dict, item: ann.ImageItem, what: str) -> np.ndarray:
        """(H, W) uint8 of an RLE that must have the image's size."""
        if list(rle["size"]) != [item.height, item.width]:
            raise InvalidInput(f"{what}: mask size {list(rle['size'])} (height, width) does not match "
                               f"{item.file_name}, expected [{item.height}, {item.width}]; a brush stroke "
                               "must be clipped to the image")
        return masks.decode(rle)

    # -- writes (HTTP) ---------------------------------------------------------------------
    def _annotation_of_dataset(self, annotation_id: int) -> int:
        """The image id of an annotation of this dataset; NotFound otherwise."""
        with session_scope() as session:
            row = get_row(session, Annotation, annotation_id, f"no annotation with id {annotation_id} (deleted meanwhile?)")
            image_id = int(row.image_id)
        try:
            self._image(image_id)
        except NotFound:
            raise NotFound(f"annotation {annotation_id} is not in dataset {self.dataset!r}") from None
        return image_id

    def _reply(self, annotation_id: int) -> AnnotationReply:
        """The stored annotation (that row only: an image may hold many large masks)."""
        with session_scope() as session:
            row = get_row(session, Annotation, annotation_id, f"no annotation with id {annotation_id}")
            data = AnnotationData(int(annotation_id), int(row.class_id), row.status, row.source,
                                  None if row.score is None else float(row.score), row.rle,
                                  tuple(float(v) for v in row.bbox), row.author, int(row.version))  # type: ignore[arg-type]
        return AnnotationReply(data, self.revision)

    def accept(self, request: AcceptRequest) -> AnnotationReply:
        """``POST annotations``: store an accepted mask of ``class_id``, or replace the mask
        of ``annotation_id`` (a refinement or a brush edit; it becomes accepted too)."""
        item = self._image(request.image_id)
        mask = self._mask(request.rle, item, "annotation")
        with self._lock:
            self._writable(item.id)
            if request.annotation_id is not None:
                owner = self._annotation_of_dataset(request.annotation_id)
                if owner != item.id:
                    raise InvalidInput(f"annotation {request.annotation_id} belongs to image {owner}, "
                                       f"not to image {item.id}")
                with self._stale_bumps():
                    ann.update_annotation(request.annotation_id, class_id=request.class_id, mask=mask,
                                          status="accepted", source=request.source, add_seconds=request.seconds,
                                          expected_version=request.version, editor=self.author)
                annotation_id = request.annotation_id
            else:
                annotation_id = ann.add_annotation(image_id=item.id, class_id=request.class_id, mask=mask,
                                                   source=request.source, status="accepted", author=self.author,
                                                   seconds_spent=request.seconds, score=request.score)
            self.class_id = request.class_id
            self._bump()
            return self._reply(annotation_id)

    def update(self, annotation_id: int, request: UpdateRequest) -> AnnotationReply:
        """``POST annotations/{id}``: re-class and / or re-status."""
        with self._lock:
            self._writable(self._annotation_of_dataset(annotation_id))
            with self._stale_bumps():
                ann.update_annotation(annotation_id, class_id=request.class_id, status=request.status,
                                      expected_version=request.version, editor=self.author)
            self._bump()
            return self._reply(annotation_id)

    @contextmanager
    def _stale_bumps(self) -> Iterator[None]:
        """A stale edit (someone else changed the annotation) bumps the revision, so the canvas
        fetches the current state, then goes on to the caller (409, with what changed)."""
        try:
            yield
        except ann.StaleEdit:
            self._bump()
            raise

    def delete(self, annotation_id: int, version: int | None = None) -> DeleteReply:
        """``DELETE annotations/{id}`` (``version``: the one the annotator saw)."""
        with self._lock:
            self._writable(self._annotation_of_dataset(annotation_id))
            with self._stale_bumps():
                ann.delete_annotation(annotation_id, expected_version=version, editor=self.author)
            if self.selected_id == annotation_id:
                self.selected_id = None
            self._bump()
            return DeleteReply(annotation_id, self.revision)

    def create_class(self, request: CreateClassRequest) -> ClassReply:
        """``POST classes``: a new class of the dataset (name rules: studio.classes); it
        becomes the current class."""
        with self._lock:
            label = class_ops.add_class(dataset=self.dataset, name=request.name, color=request.color)
            self.refresh()
            self.class_id = int(label.id)  # type: ignore[arg-type]
            listed = ClassData.listed(self.classes)
            return ClassReply(next(c for c in listed if c.id == label.id), listed, self.revision)


# ---------------------------------------------------------------------------- helpers


def _list_classes(dataset: str) -> list[LabelClass]:
    """The dataset's object classes in display order (the 1-9 keys), background left out."""
    return class_ops.list_classes(dataset=dataset, include_background=False)


def _class_key(classes: list[LabelClass]) -> tuple:
    return tuple((c.id, c.name, c.color, c.index) for c in classes)


__all__ = ["KEEP_PREDICTIONS", "EmbeddingPayload", "LabelWorkspace"]
