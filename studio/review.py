"""Review: a reviewer's queue, accept / reject decisions with a note, per-annotator figures.

The queue (:func:`review_queue`) holds the images of a dataset that have draft annotations
(pre-labels, work not yet accepted) or that someone sent to review (Compare page, or an
annotator), images sent to review first. A decision (:func:`decide`) sets the status of the chosen
annotations of one image -- by default its drafts; a rejection of an image without drafts takes
all its accepted ones -- to accepted or rejected, counts their versions up (an annotator's edit
based on an older version is refused: studio.annotations.StaleEdit), clears the image's review
request and records who decided, when, and the note (``image.review_state`` / ``reviewed_by`` /
``reviewed_at`` / ``review_reply``; each annotation's ``reviewed_by`` / ``reviewed_at``). An
image whose annotations were all rejected is "unlabelled" again: it is back in the annotators'
"next to do", with the reviewer's note.

Figures (:func:`annotator_stats`): per author, annotations by status, images, time spent
(the sum of ``seconds_spent`` the Label page records per annotation) and what review made of
their work; per reviewer, how many annotations they decided.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import numpy as np
from sqlalchemy import func, update
from sqlmodel import col, or_, select

from studio.annotations import record_revision, stale_edit
from studio.datasets import get_dataset
from studio.db import get_row, session_scope
from studio.errors import InvalidInput
from studio.tables import Annotation, AnnotationStatus, Image, utcnow

Decision = Literal["accept", "reject"]
DECISIONS: tuple[str, ...] = ("accept", "reject")


@dataclass(frozen=True)
class ReviewItem:
    """An image waiting for a reviewer."""

    image_id: int
    file_name: str
    split: str
    requested: bool  # someone sent it to review
    request_note: str
    drafts: int
    accepted: int
    authors: tuple[str, ...]  # who made its draft / accepted annotations
    last_change: datetime | None
    review_state: str  # the previous decision ("" = none)


@dataclass(frozen=True)
class ReviewResult:
    image_id: int
    decision: str
    reviewer: str
    note: str
    changed: tuple[int, ...]  # annotation ids whose status was set


@dataclass
class AnnotatorStats:
    """One person's figures (an annotator, a reviewer, or both)."""

    name: str
    annotations: int = 0  # made by them, any status
    accepted: int = 0
    drafts: int = 0
    rejected: int = 0
    images: int = 0  # distinct images they annotated
    seconds: float = 0.0  # labelling time recorded on their annotations
    review_accepted: int = 0  # of theirs, accepted by a reviewer
    review_rejected: int = 0  # of theirs, rejected by a reviewer
    decided: int = 0  # annotations they decided as a reviewer
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def seconds_per_annotation(self) -> float | None:
        return self.seconds / self.annotations if self.annotations else None


def review_queue(dataset: str) -> list[ReviewItem]:
    """Images of ``dataset`` with drafts or sent to review: sent to review first, then import order."""
    with session_scope() as session:
        ds = get_dataset(session, dataset)
        counts: dict[int, dict[str, int]] = defaultdict(dict)
        authors: dict[int, set[str]] = defaultdict(set)
        changed: dict[int, datetime] = {}
        rows = session.exec(select(Annotation.image_id, Annotation.status, Annotation.author,
                                   func.count(), func.max(Annotation.updated_at))
                            .join(Image).where(Image.dataset_id == ds.id)
                            .group_by(Annotation.image_id, Annotation.status, Annotation.author)).all()
        for image_id, status, author, n, last in rows:
            counts[image_id][status] = counts[image_id].get(status, 0) + n
            if author and status != AnnotationStatus.rejected.value:
                authors[image_id].add(author)
            if last is not None and (image_id not in changed or last > changed[image_id]):
                changed[image_id] = last
        with_drafts = [i for i, c in counts.items() if c.get(AnnotationStatus.draft.value)]
        images = session.exec(select(Image).where(Image.dataset_id == ds.id)
                              .where(or_(col(Image.review_requested).is_(True), col(Image.id).in_(with_drafts)))
                              .order_by(col(Image.review_requested).desc(), col(Image.id))).all()
        return [ReviewItem(int(i.id), i.file_name, i.split, bool(i.review_requested), i.review_note,  # type: ignore[arg-type]
                           counts[i.id].get("draft", 0), counts[i.id].get("accepted", 0),  # type: ignore[index]
                           tuple(sorted(authors[i.id])), changed.get(i.id), i.review_state)  # type: ignore[index]
                for i in images]


def decide(image_id: int, *, reviewer: str, decision: str, note: str = "",
           annotation_ids: list[int] | None = None, expected_versions: dict[int, int] | None = None) -> ReviewResult:
    """Accept or reject annotations of one image (see the module docstring) in one transaction.
    ``annotation_ids``: which (default: its drafts; a rejection without drafts takes its accepted
    ones); ``expected_versions``: {annotation id: version the reviewer saw} -- StaleEdit (nothing
    written) if one changed since."""
    if decision not in DECISIONS:
        raise InvalidInput(f"decision {decision!r}: expected accept or reject")
    if not reviewer:
        raise InvalidInput("a decision needs the reviewer's name")
    status = AnnotationStatus.accepted.value if decision == "accept" else AnnotationStatus.rejected.value
    now = utcnow()
    with session_scope() as session:
        image = get_row(session, Image, image_id, f"no image with id {image_id}")
        rows = session.exec(select(Annotation).where(Annotation.image_id == image_id).order_by(col(Annotation.id))).all()
        if annotation_ids is None:
            chosen = [a for a in rows if a.status == AnnotationStatus.draft.value]
            if not chosen and decision == "reject":
                chosen = [a for a in rows if a.status == AnnotationStatus.accepted.value]
        else:
            by_id = {a.id: a for a in rows}
            missing = [i for i in annotation_ids if i not in by_id]
            if missing:
                raise InvalidInput(f"annotations {missing} are not annotations of image {image_id} (deleted meanwhile?)")
            chosen = [by_id[i] for i in annotation_ids]
        for annotation in chosen:
            expected = (expected_versions or {}).get(annotation.id, annotation.version)  # type: ignore[arg-type]
            written = session.exec(update(Annotation).where(col(Annotation.id) == annotation.id,  # type: ignore[call-overload]
                                                            col(Annotation.version) == expected)
                                   .values(status=status, reviewed_by=reviewer, reviewed_at=now, updated_by=reviewer,
                                           updated_at=now, version=expected + 1))
            if written.rowcount == 0:
                session.rollback()
                raise stale_edit(annotation.id, expected, {"status": status})  # type: ignore[arg-type]
            session.expire(annotation)
            record_revision(session, session.get(Annotation, annotation.id), "reviewed", reviewer)  # type: ignore[arg-type]
        image.review_requested = False
        image.review_state = "accepted" if decision == "accept" else "rejected"
        image.reviewed_by, image.reviewed_at, image.review_reply = reviewer, now, note
        session.add(image)
        return ReviewResult(image_id, decision, reviewer, note, tuple(int(a.id) for a in chosen))  # type: ignore[arg-type]


def annotator_stats(dataset: str | None = None, *, since: datetime | None = None) -> list[AnnotatorStats]:
    """Per-person figures over ``dataset`` (None: all), counting annotations made (or decided) at
    or after ``since``; annotations without an author (imports, pre-labels) are left out. Sorted
    by annotations made, most first."""
    people: dict[str, AnnotatorStats] = {}

    def person(name: str) -> AnnotatorStats:
        return people.setdefault(name, AnnotatorStats(name))

    with session_scope() as session:
        scope = select(Annotation.id).join(Image)
        if dataset is not None:
            scope = scope.where(Image.dataset_id == get_dataset(session, dataset).id)
        ids = scope.scalar_subquery() if dataset is not None else None

        def restrict(query, when):  # noqa: ANN001, ANN202 (SQL expressions)
            if ids is not None:
                query = query.where(col(Annotation.id).in_(ids))
            if since is not None:
                query = query.where(when >= since)
            return query

        made = restrict(select(Annotation.author, Annotation.status, func.count(), func.sum(Annotation.seconds_spent))
                        .where(Annotation.author != "").group_by(Annotation.author, Annotation.status),
                        Annotation.created_at)
        for author, status, n, seconds in session.exec(made).all():
            p = person(author)
            p.statuses[status] = p.statuses.get(status, 0) + n
            p.annotations += n
            p.seconds += float(seconds or 0.0)
            if status == AnnotationStatus.accepted.value:
                p.accepted += n
            elif status == AnnotationStatus.draft.value:
                p.drafts += n
            elif status == AnnotationStatus.rejected.value:
                p.rejected += n
        images = restrict(select(Annotation.author, func.count(func.distinct(Annotation.image_id)))
                          .where(Annotation.author != "").group_by(Annotation.author), Annotation.created_at)
        for author, n in session.exec(images).all():
            person(author).images = n
        outcome = restrict(select(Annotation.author, Annotation.status, func.count())
                           .where(Annotation.author != "", Annotation.reviewed_by != "")
                           .group_by(Annotation.author, Annotation.status), Annotation.reviewed_at)
        for author, status, n in session.exec(outcome).all():
            if status == AnnotationStatus.accepted.value:
                person(author).review_accepted += n
            elif status == AnnotationStatus.rejected.value:
                person(author).review_rejected += n
        decided = restrict(select(Annotation.reviewed_by, func.count()).where(Annotation.reviewed_by != "")
                           .group_by(Annotation.reviewed_by), Annotation.reviewed_at)
        for reviewer, n in session.exec(decided).all():
            person(reviewer).decided += n
    return sorted(people.values(), key=lambda p: (-p.annotations, -p.decided, p.name))


def picture(image_id: int, *, annotation_ids: list[int] | None = None, alpha: float = 0.45) -> np.ndarray:
    """(H, W, 3) uint8: the image with its annotations (``annotation_ids``, default every one not
    rejected) blended in their class colours and outlined, drafts outlined in white so they stand
    out. For the Review page."""
    import cv2

    from studio.annotations import get_image, list_annotations
    from studio.colors import hex_to_rgb
    from studio.datasets import resolve_stored_path
    from studio.images import load_rgb

    image = get_image(image_id)
    rgb = load_rgb(resolve_stored_path(image.stored_path)).copy()
    views = list_annotations(image_id)
    chosen = [v for v in views if (v.id in annotation_ids if annotation_ids is not None
                                   else v.status != AnnotationStatus.rejected.value)]
    for view in chosen:
        mask = view.mask()
        colour = np.array(hex_to_rgb(view.color), np.float32)
        rgb[mask] = (rgb[mask] * (1 - alpha) + colour * alpha).astype(np.uint8)
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        edge = (255, 255, 255) if view.status == AnnotationStatus.draft.value else tuple(int(c) for c in colour)
        cv2.drawContours(rgb, contours, -1, edge, 2)
    return rgb
