"""Annotations of one image at a time: the Label page's data side.

Every write is one short transaction that is committed before the function returns, so an
annotation the annotator accepted survives a browser or server crash right after.

Versions: every annotation has a ``version`` that each edit counts up. Callers that show an
annotation to someone pass the version they showed as ``expected_version`` when that person
edits or deletes it; when someone else changed it meanwhile the edit is refused with
:class:`StaleEdit` (what changed, who, when; the refused change comes back in the error, so
nothing typed is lost) and nothing is written. Without ``expected_version`` (older callers) an
edit still counts the version up, and is refused only if another write lands between its read
and its write. Each written version is kept in ``annotationrevision`` (class, status, mask area,
editor, time) for those messages.

Image labelling status (derived, not stored):
    "review"     someone asked for a second look (Compare page's "send to review")
    "draft"      it has draft annotations (pre-labels, or work not yet accepted)
    "done"       it has accepted annotations and no drafts
    "unlabelled" nothing accepted or draft (rejected annotations do not count)
"""

from __future__ import annotations

import getpass
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select

from studio import masks
from studio.config import get_settings
from studio.datasets import get_dataset, resolve_stored_path
from studio.db import get_row, session_scope
from studio.errors import Conflict, InvalidInput, NotFound
from studio.tables import (
    ANNOTATION_SOURCES,
    Annotation,
    AnnotationRevision,
    AnnotationStatus,
    Image,
    LabelClass,
    utcnow,
)

ImageStatus = Literal["unlabelled", "draft", "done", "review"]
IMAGE_STATUSES: tuple[ImageStatus, ...] = ("unlabelled", "draft", "review", "done")
TODO_STATUSES: tuple[ImageStatus, ...] = ("unlabelled", "draft", "review")  # what "next to do" visits


@dataclass(frozen=True)
class ImageItem:
    """An image in the labelling queue."""

    id: int
    file_name: str
    width: int
    height: int
    split: str
    content_hash: str
    path: Path  # resolved stored path (may be missing on disk: see ``exists``)
    status: ImageStatus
    accepted: int  # accepted annotations
    drafts: int
    review_note: str = ""
    review_state: str = ""  # a reviewer's last decision on it: "" | "accepted" | "rejected" (studio.review)
    review_reply: str = ""  # the reviewer's note with it

    @property
    def exists(self) -> bool:
        return self.path.is_file()


@dataclass(frozen=True)
class AnnotationView:
    """An annotation as the Label page shows it (mask still RLE: decode on demand)."""

    id: int
    class_id: int
    class_name: str
    class_index: int
    color: str
    status: str
    source: str
    area: int
    bbox: list[float]  # [x, y, w, h]
    score: float | None
    author: str
    seconds_spent: float
    rle: dict
    version: int = 1  # pass it back as ``expected_version`` when this view is edited
    updated_by: str = ""
    updated_at: datetime | None = None

    def mask(self) -> np.ndarray:
        """(H, W) bool."""
        return masks.decode(self.rle).astype(bool)


@dataclass(frozen=True)
class QueueCounts:
    total: int
    done: int
    draft: int
    unlabelled: int
    review: int


def default_author() -> str:
    """``STUDIO_AUTHOR`` or the OS user name."""
    configured = get_settings().author
    if configured:
        return configured
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "unknown"


def check_source(source: str) -> str:
    """``source`` if it is one of manual / sam / fallback / import / model:<version>."""
    if source in ANNOTATION_SOURCES or (source.startswith("model:") and len(source) > len("model:")):
        return source
    raise InvalidInput(f"annotation source {source!r}: expected one of {', '.join(ANNOTATION_SOURCES)} "
                       "or model:<version>")


def _check_status(status: str) -> str:
    try:
        return AnnotationStatus(status).value
    except ValueError:
        raise InvalidInput(f"annotation status {status!r}: expected draft, accepted or rejected") from None


# ---- the queue -------------------------------------------------------------------------

def _status_of(accepted: int, drafts: int, review: bool) -> ImageStatus:
    if review:
        return "review"
    if drafts:
        return "draft"
    return "done" if accepted else "unlabelled"


def image_queue(dataset: str, statuses: tuple[str, ...] | None = None) -> list[ImageItem]:
    """The dataset's images in import order with their labelling status, optionally only
    those whose status is in ``statuses`` (see the module docstring)."""
    if statuses is not None:
        unknown = set(statuses) - set(IMAGE_STATUSES)
        if unknown:
            raise InvalidInput(f"image status {sorted(unknown)}: expected some of {', '.join(IMAGE_STATUSES)}")
    with session_scope() as session:
        ds = get_dataset(session, dataset)
        counts: dict[int, dict[str, int]] = defaultdict(dict)
        rows = session.exec(select(Annotation.image_id, Annotation.status, func.count())
                            .join(Image).where(Image.dataset_id == ds.id)
                            .group_by(Annotation.image_id, Annotation.status)).all()
        for image_id, status, n in rows:
            counts[image_id][status] = n
        images = session.exec(select(Image).where(Image.dataset_id == ds.id).order_by(Image.id)).all()
        items = []
        for image in images:
            c = counts.get(image.id, {})  # type: ignore[arg-type]
            accepted, drafts = c.get("accepted", 0), c.get("draft", 0)
            status = _status_of(accepted, drafts, image.review_requested)
            if statuses is None or status in statuses:
                items.append(ImageItem(image.id, image.file_name, image.width, image.height, image.split,  # type: ignore[arg-type]
                                       image.content_hash, resolve_stored_path(image.stored_path), status,
                                       accepted, drafts, image.review_note, image.review_state, image.review_reply))
        return items


def queue_counts(items: list[ImageItem]) -> QueueCounts:
    """Counters for the page header, from an unfiltered :func:`image_queue`."""
    by = defaultdict(int)
    for item in items:
        by[item.status] += 1
    return QueueCounts(len(items), by["done"], by["draft"], by["unlabelled"], by["review"])


def next_in_queue(items: list[ImageItem], current_id: int | None, step: int = 1,
                  statuses: tuple[str, ...] | None = None) -> ImageItem | None:
    """The item ``step`` places after (negative: before) ``current_id`` among those whose status
    is in ``statuses`` (None: any), wrapping around; None when there is no such other item."""
    if not items:
        return None
    ids = [i.id for i in items]
    start = ids.index(current_id) if current_id in ids else (-1 if step > 0 else 0)
    n = len(items)
    for offset in range(1, n + 1):
        candidate = items[(start + step * offset) % n]
        if candidate.id == current_id:
            continue
        if statuses is None or candidate.status in statuses:
            return candidate
    return None


# ---- classes (moved to studio.classes) ------------------------------------------------

# ---- one image -------------------------------------------------------------------------

def get_image(image_id: int) -> Image:
    """The image row (detached); NotFound if it does not exist."""
    with session_scope() as session:
        image = get_row(session, Image, image_id, f"no image with id {image_id}")
        session.expunge(image)
        return image


def list_annotations(image_id: int, statuses: tuple[str, ...] | None = None) -> list[AnnotationView]:
    """The image's annotations, oldest first, optionally only some statuses."""
    query = (select(Annotation, LabelClass).join(LabelClass).where(Annotation.image_id == image_id)
             .order_by(col(Annotation.id)))
    if statuses is not None:
        query = query.where(col(Annotation.status).in_([_check_status(s) for s in statuses]))
    with session_scope() as session:
        return [_view(a, c) for a, c in session.exec(query).all()]


def _view(a: Annotation, c: LabelClass) -> AnnotationView:
    return AnnotationView(a.id, c.id, c.name, c.index, c.color, a.status, a.source, a.area, list(a.bbox),  # type: ignore[arg-type]
                          a.score, a.author, a.seconds_spent, a.rle, a.version, a.updated_by, a.updated_at)


def get_annotation(annotation_id: int) -> AnnotationView:
    """One annotation as stored now (with its version); NotFound when it is gone."""
    with session_scope() as session:
        row = session.exec(select(Annotation, LabelClass).join(LabelClass)
                           .where(Annotation.id == annotation_id)).first()
        if row is None:
            raise NotFound(f"no annotation with id {annotation_id} (deleted meanwhile?)")
        return _view(*row)


def _class_of_image(session: Session, image: Image, class_id: int) -> LabelClass:
    label = session.get(LabelClass, class_id)
    if label is None or label.dataset_id != image.dataset_id:
        names = session.exec(select(LabelClass.name).where(LabelClass.dataset_id == image.dataset_id)).all()
        raise InvalidInput(f"class id {class_id} is not a class of this image's dataset; "
                           f"expected one of: {', '.join(names) or '(no classes yet)'}")
    return label


def _checked_mask(mask: np.ndarray, image: Image) -> dict:
    mask = np.asarray(mask)
    if mask.shape != (image.height, image.width):
        raise InvalidInput(f"mask shape {mask.shape}: expected (H, W) = ({image.height}, {image.width}) "
                           f"of image {image.file_name}")
    if not mask.any():
        raise InvalidInput("mask is empty: nothing to store (click inside the object first)")
    return masks.encode(mask)


def add_annotation(*, image_id: int, class_id: int, mask: np.ndarray, source: str,
                   status: str = AnnotationStatus.accepted.value, author: str | None = None,
                   seconds_spent: float = 0.0, score: float | None = None) -> int:
    """Store a mask ((H, W) bool, the image's size) as an annotation in one committed
    transaction; its id."""
    with session_scope() as session:
        image = get_row(session, Image, image_id, f"no image with id {image_id}")
        _class_of_image(session, image, class_id)
        rle = _checked_mask(mask, image)
        annotation = Annotation(image_id=image_id, class_id=class_id, rle=rle, bbox=masks.bbox(rle),
                                area=masks.area(rle), score=score, source=check_source(source),
                                status=_check_status(status), author=author if author is not None else default_author(),
                                seconds_spent=float(max(seconds_spent, 0.0)))
        annotation.updated_by = annotation.author
        session.add(annotation)
        session.flush()
        record_revision(session, annotation, "created", annotation.author)
        return int(annotation.id)  # type: ignore[arg-type]


class StaleEdit(Conflict):
    """An edit or delete based on an older version of an annotation than the stored one: someone
    else changed (or deleted) it meanwhile, and nothing was written.

    ``current``: the annotation as stored now (None: deleted); ``attempted``: the refused change
    (``class_id``, ``status``, ``rle``, ``source``, ``add_seconds``, or ``{"delete": True}``) for
    the caller to re-apply or show; ``expected_version``; ``changes``: one line per field that
    changed since that version ("class can -> bottle", "mask area 900 -> 1100 px"); ``by`` /
    ``at``: who made the last change and when."""

    def __init__(self, message: str, *, annotation_id: int, expected_version: int | None,
                 current: AnnotationView | None, attempted: dict[str, Any], changes: list[str],
                 by: str, at: datetime | None) -> None:
        super().__init__(message)
        self.annotation_id, self.expected_version = annotation_id, expected_version
        self.current, self.attempted, self.changes, self.by, self.at = current, attempted, changes, by, at

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (an HTTP 409 body): the message, the current annotation, the refused change."""
        current = None if self.current is None else {
            "id": self.current.id, "class_id": self.current.class_id, "class_name": self.current.class_name,
            "status": self.current.status, "area": self.current.area, "rle": self.current.rle,
            "bbox": self.current.bbox, "version": self.current.version, "updated_by": self.current.updated_by}
        return {"error": str(self), "stale": True, "annotation_id": self.annotation_id,
                "expected_version": self.expected_version, "current": current, "attempted": self.attempted,
                "changes": self.changes, "by": self.by, "at": self.at.isoformat() if self.at else None}


def record_revision(session: Session, annotation: Annotation, action: str, editor: str) -> None:
    """Keep the annotation's current state as its version ``annotation.version`` (history for
    :class:`StaleEdit` messages)."""
    label = session.get(LabelClass, annotation.class_id)
    session.add(AnnotationRevision(annotation_id=annotation.id, image_id=annotation.image_id,  # type: ignore[arg-type]
                                   version=annotation.version, action=action, class_id=annotation.class_id,
                                   class_name=label.name if label else "", status=annotation.status,
                                   area=annotation.area, editor=editor or "", at=utcnow()))


def _revision(session: Session, annotation_id: int, version: int | None = None) -> AnnotationRevision | None:
    query = select(AnnotationRevision).where(AnnotationRevision.annotation_id == annotation_id)
    if version is not None:
        query = query.where(AnnotationRevision.version == version)
    return session.exec(query.order_by(col(AnnotationRevision.version).desc(), col(AnnotationRevision.id).desc())).first()


def _when(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S} UTC" if at else "an unknown time"


def _describe_attempt(attempted: dict[str, Any], class_names: dict[int, str]) -> str:
    if attempted.get("delete"):
        return "delete it"
    parts = []
    if "class_id" in attempted:
        parts.append(f"class -> {class_names.get(attempted['class_id'], attempted['class_id'])}")
    if "status" in attempted:
        parts.append(f"status -> {attempted['status']}")
    if "rle" in attempted:
        parts.append(f"new mask of {masks.area(attempted['rle'])} px")
    if "source" in attempted:
        parts.append(f"source -> {attempted['source']}")
    return ", ".join(parts) or "no field"


def stale_edit(annotation_id: int, expected_version: int | None, attempted: dict[str, Any]) -> StaleEdit:
    """The StaleEdit for an edit of ``annotation_id`` based on ``expected_version``: reads the
    current row and the history in a fresh transaction (the caller's saw an older state)."""
    with session_scope() as session:
        row = session.exec(select(Annotation, LabelClass).join(LabelClass).where(Annotation.id == annotation_id)).first()
        current = _view(*row) if row is not None else None
        image_id = row[0].image_id if row is not None else None
        before = _revision(session, annotation_id, expected_version) if expected_version is not None else None
        last = _revision(session, annotation_id)
        dataset_id = None
        if image_id is not None or last is not None:
            image = session.get(Image, image_id if image_id is not None else last.image_id)  # type: ignore[union-attr]
            dataset_id = image.dataset_id if image else None
        class_names = {c.id: c.name for c in session.exec(select(LabelClass).where(LabelClass.dataset_id == dataset_id)).all()}
    what = _describe_attempt(attempted, class_names)
    if current is None:
        by, at = (last.editor, last.at) if last is not None and last.action == "deleted" else ("someone", None)
        message = (f"annotation {annotation_id} was deleted by {by or 'someone'} at {_when(at)}; your change "
                   f"({what}) was not saved. It is kept: add it again as a new annotation or discard it")
        return StaleEdit(message, annotation_id=annotation_id, expected_version=expected_version, current=None,
                         attempted=attempted, changes=["deleted"], by=by, at=at)
    changes: list[str] = []
    if before is not None:
        if before.class_name != current.class_name:
            changes.append(f"class {before.class_name} -> {current.class_name}")
        if before.status != current.status:
            changes.append(f"status {before.status} -> {current.status}")
        if before.area != current.area:
            changes.append(f"mask area {before.area} -> {current.area} px")
        if not changes:
            changes.append("the mask was redrawn" if before.version != current.version else "nothing visible")
    else:
        changes.append(f"now class {current.class_name}, status {current.status}, mask area {current.area} px")
    by, at = current.updated_by or current.author or "someone", current.updated_at
    since = f"version {expected_version} -> {current.version}" if expected_version is not None else \
        f"now version {current.version}"
    message = (f"annotation {annotation_id} was changed by {by} at {_when(at)} ({since}): {'; '.join(changes)}. "
               f"Your change ({what}) was not saved; it is kept: look at the current version, then apply it "
               "again or discard it")
    return StaleEdit(message, annotation_id=annotation_id, expected_version=expected_version, current=current,
                     attempted=attempted, changes=changes, by=by, at=at)


def update_annotation(annotation_id: int, *, class_id: int | None = None, status: str | None = None,
                      mask: np.ndarray | None = None, source: str | None = None,
                      add_seconds: float = 0.0, expected_version: int | None = None,
                      editor: str | None = None) -> int:
    """Re-class, re-status and/or replace the mask of an annotation (one transaction); its new
    version. ``expected_version``: the version the editor saw; StaleEdit (nothing written) when
    the stored one differs, or when the annotation was deleted meanwhile. ``editor``: who edits
    (default :func:`default_author`). Without ``expected_version``: NotFound for a deleted one."""
    attempted: dict[str, Any] = {}
    with session_scope() as session:
        annotation = session.get(Annotation, annotation_id)
        if annotation is None:
            if expected_version is None:
                raise NotFound(f"no annotation with id {annotation_id} (deleted meanwhile?)")
        image = session.get(Image, annotation.image_id) if annotation is not None else None
        values: dict[str, Any] = {}
        if class_id is not None:
            attempted["class_id"] = class_id
            if image is not None:
                values["class_id"] = _class_of_image(session, image, class_id).id
        if status is not None:
            values["status"] = attempted["status"] = _check_status(status)
        if mask is not None:
            rle = _checked_mask(mask, image) if image is not None else masks.encode(np.asarray(mask))
            attempted["rle"] = rle
            values.update(rle=rle, bbox=masks.bbox(rle), area=masks.area(rle))
        if source is not None:
            values["source"] = attempted["source"] = check_source(source)
        if add_seconds:
            attempted["add_seconds"] = float(add_seconds)
        if annotation is None or (expected_version is not None and annotation.version != expected_version):
            stale = True
        else:
            who = editor if editor is not None else default_author()
            if _revision(session, annotation_id, annotation.version) is None:  # first edit of an old row
                record_revision(session, annotation, "created" if annotation.version == 1 else "updated",
                                annotation.updated_by or annotation.author)
            values.update(seconds_spent=annotation.seconds_spent + max(float(add_seconds), 0.0), updated_at=utcnow(),
                          updated_by=who, version=annotation.version + 1)
            written = session.exec(update(Annotation).where(col(Annotation.id) == annotation_id,  # type: ignore[call-overload]
                                                            col(Annotation.version) == annotation.version)
                                   .values(**values))
            stale = written.rowcount == 0  # another write landed between the read and this one
            if not stale:
                session.expire(annotation)
                record_revision(session, session.get(Annotation, annotation_id), "updated", who)  # type: ignore[arg-type]
                return annotation.version
    raise stale_edit(annotation_id, expected_version, attempted)


def delete_annotation(annotation_id: int, *, expected_version: int | None = None, editor: str | None = None) -> None:
    """Delete an annotation; NotFound if it is already gone (saying who deleted it, when known);
    StaleEdit (nothing deleted) when ``expected_version`` is given and someone changed it since."""
    with session_scope() as session:
        annotation = session.get(Annotation, annotation_id)
        if annotation is None:
            last = _revision(session, annotation_id)
            who = (f" by {last.editor or 'someone'} at {_when(last.at)}" if last is not None and last.action == "deleted"
                   else "")
            raise NotFound(f"no annotation with id {annotation_id} (deleted meanwhile{who}?)")
        if expected_version is None or annotation.version == expected_version:
            version = annotation.version
            removed = session.exec(delete(Annotation).where(col(Annotation.id) == annotation_id,  # type: ignore[call-overload]
                                                            col(Annotation.version) == version))
            if removed.rowcount:
                session.expunge(annotation)
                annotation.version = version + 1
                record_revision(session, annotation, "deleted", editor if editor is not None else default_author())
                return
    raise stale_edit(annotation_id, expected_version, {"delete": True})


def set_review(image_ids: list[int], requested: bool, note: str = "") -> int:
    """Ask for (or clear) a second look at images; how many rows changed."""
    with session_scope() as session:
        changed = 0
        for image in session.exec(select(Image).where(col(Image.id).in_(image_ids))).all():
            image.review_requested, image.review_note = requested, note if requested else ""
            session.add(image)
            changed += 1
        return changed
