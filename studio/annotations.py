"""Annotations of one image at a time: the Label page's data side.

Every write is one short transaction that is committed before the function returns, so an
annotation the annotator accepted survives a browser or server crash right after.

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
from pathlib import Path
from typing import Literal

import numpy as np
from sqlalchemy import func
from sqlmodel import Session, col, select

from studio import classes, masks
from studio.config import get_settings
from studio.datasets import get_dataset, resolve_stored_path
from studio.db import get_row, session_scope
from studio.errors import InvalidInput
from studio.tables import ANNOTATION_SOURCES, Annotation, AnnotationStatus, Image, LabelClass, utcnow

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
                                       accepted, drafts, image.review_note))
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

def list_classes(dataset: str) -> list[LabelClass]:
    """Kept for ``studio.label_workspace`` until it calls :func:`studio.classes.list_classes`."""
    return classes.list_classes(dataset=dataset)


def add_class(dataset: str, name: str, color: str | None = None) -> LabelClass:
    """Kept for ``studio.label_workspace`` until it calls :func:`studio.classes.add_class`."""
    return classes.add_class(dataset=dataset, name=name, color=color)


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
        return [AnnotationView(a.id, c.id, c.name, c.index, c.color, a.status, a.source, a.area, list(a.bbox),  # type: ignore[arg-type]
                               a.score, a.author, a.seconds_spent, a.rle)
                for a, c in session.exec(query).all()]


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
        session.add(annotation)
        session.flush()
        return int(annotation.id)  # type: ignore[arg-type]


def update_annotation(annotation_id: int, *, class_id: int | None = None, status: str | None = None,
                      mask: np.ndarray | None = None, source: str | None = None,
                      add_seconds: float = 0.0) -> None:
    """Re-class, re-status and/or replace the mask of an annotation (one transaction)."""
    with session_scope() as session:
        annotation = get_row(session, Annotation, annotation_id,
                             f"no annotation with id {annotation_id} (deleted meanwhile?)")
        image = session.get(Image, annotation.image_id)
        if class_id is not None:
            annotation.class_id = _class_of_image(session, image, class_id).id  # type: ignore[arg-type,assignment]
        if status is not None:
            annotation.status = _check_status(status)
        if mask is not None:
            rle = _checked_mask(mask, image)  # type: ignore[arg-type]
            annotation.rle, annotation.bbox, annotation.area = rle, masks.bbox(rle), masks.area(rle)
        if source is not None:
            annotation.source = check_source(source)
        annotation.seconds_spent += max(float(add_seconds), 0.0)
        annotation.updated_at = utcnow()
        session.add(annotation)


def delete_annotation(annotation_id: int) -> None:
    """Delete an annotation; NotFound if it is already gone."""
    with session_scope() as session:
        annotation = get_row(session, Annotation, annotation_id,
                             f"no annotation with id {annotation_id} (deleted meanwhile?)")
        session.delete(annotation)


def set_review(image_ids: list[int], requested: bool, note: str = "") -> int:
    """Ask for (or clear) a second look at images; how many rows changed."""
    with session_scope() as session:
        changed = 0
        for image in session.exec(select(Image).where(col(Image.id).in_(image_ids))).all():
            image.review_requested, image.review_note = requested, note if requested else ""
            session.add(image)
            changed += 1
        return changed
