"""Who works on which image: leases, and the images an admin assigned to people.

Leases. An annotator who opens an image holds a lease on it (:func:`acquire`), renews it while
working (:func:`renew`, e.g. on every save or every minute) and gives it back on leaving
(:func:`release`); a lease not renewed for ``STUDIO_LEASE_S`` seconds (default 600) expires and
the image is free again. Others see the image as taken (:func:`holders`) and "next to do" skips
it (:func:`todo_for`, :func:`claim_next`). The ``lease`` table has one row per image at most (the
image id is its primary key) and a lease is taken in one statement, ``INSERT ... ON CONFLICT
(image_id) DO UPDATE ... WHERE holder = me OR expires_at < now`` (SQLite and PostgreSQL): a
compare-and-set, so two annotators never hold the same image, whatever the number of web
processes. Times are the web processes' clocks (UTC): keep machines in sync (NTP).

Assignments. An admin gives a user the images of a dataset that match a filter: split, labelling
status, a file-name glob, a position range (1-based, import order) -- every condition given
must hold. A user with assignments in a dataset gets only those images as "next to do"; a user
without any gets every image.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from studio.annotations import IMAGE_STATUSES, TODO_STATUSES, ImageItem, image_queue
from studio.config import get_settings
from studio.datasets import get_dataset
from studio.db import get_row, session_scope
from studio.errors import Conflict, InvalidInput
from studio.tables import Assignment, Image, Lease, Split, User, utcnow


class Taken(Conflict):
    """Someone else holds the image; ``holder`` and ``until`` say who and till when."""

    def __init__(self, image_id: int, holder: str, until: datetime) -> None:
        super().__init__(f"image {image_id} is being labelled by {holder} (held until {until:%H:%M:%S} UTC "
                         "unless they keep working); pick another image")
        self.image_id, self.holder, self.until = image_id, holder, until


@dataclass(frozen=True)
class LeaseInfo:
    image_id: int
    holder: str
    acquired_at: datetime
    expires_at: datetime


def lease_seconds() -> float:
    return float(get_settings().lease_s)


def _insert(session: Session):  # noqa: ANN202 (a dialect's insert)
    return sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert


def _try(session: Session, image_id: int, user: str, ttl: float) -> bool:
    """The compare-and-set: take or extend the lease when it is free, expired or already ours."""
    now = utcnow()
    stmt = _insert(session)(Lease).values(image_id=image_id, holder=user, acquired_at=now,
                                          expires_at=now + timedelta(seconds=ttl))
    mine = col(Lease.holder) == user
    stmt = stmt.on_conflict_do_update(
        index_elements=[Lease.image_id],
        set_={"holder": stmt.excluded.holder, "expires_at": stmt.excluded.expires_at,
              # a renewal keeps when the hold began; a take-over starts a new one
              "acquired_at": _keep_if(mine, Lease.acquired_at, stmt.excluded.acquired_at)},
        where=mine | (col(Lease.expires_at) < now),
    ).returning(Lease.holder)
    return session.exec(stmt).first() is not None  # type: ignore[call-overload]


def _keep_if(condition, kept, otherwise):  # noqa: ANN001, ANN202 (SQL expressions)
    from sqlalchemy import case

    return case((condition, kept), else_=otherwise)


def _current(session: Session, image_id: int) -> Lease | None:
    return session.exec(select(Lease).where(Lease.image_id == image_id)).first()


def acquire(image_id: int, user: str, *, ttl: float | None = None, release_others: bool = True) -> LeaseInfo:
    """Hold ``image_id`` for ``user`` (renewing it if they hold it already); Taken when someone
    else does. With ``release_others``, the user's leases on other images end in the same
    transaction (an annotator works on one image at a time)."""
    ttl = lease_seconds() if ttl is None else float(ttl)
    with session_scope() as session:
        get_row(session, Image, image_id, f"no image with id {image_id}")
        if not _try(session, image_id, user, ttl):
            lease = _current(session, image_id)
            raise Taken(image_id, lease.holder if lease else "someone", lease.expires_at if lease else utcnow())
        if release_others:
            session.exec(delete(Lease).where(Lease.holder == user, Lease.image_id != image_id))  # type: ignore[call-overload]
        lease = _current(session, image_id)
        return LeaseInfo(image_id, lease.holder, lease.acquired_at, lease.expires_at)  # type: ignore[union-attr]


def try_acquire(image_id: int, user: str, *, ttl: float | None = None, release_others: bool = True) -> bool:
    """:func:`acquire` that answers False instead of raising Taken."""
    try:
        acquire(image_id, user, ttl=ttl, release_others=release_others)
        return True
    except Taken:
        return False


def renew(image_id: int, user: str, *, ttl: float | None = None) -> LeaseInfo:
    """Extend ``user``'s lease (or take it again if it lapsed and nobody took it); Taken when
    someone else holds the image now (their work wins: the caller should save elsewhere or stop)."""
    return acquire(image_id, user, ttl=ttl, release_others=False)


def release(image_id: int, user: str) -> bool:
    """End ``user``'s lease on the image (someone else's is left alone); whether one ended."""
    with session_scope() as session:
        result = session.exec(delete(Lease).where(Lease.image_id == image_id, Lease.holder == user))  # type: ignore[call-overload]
        return bool(result.rowcount)


def release_all(user: str) -> int:
    """End every lease of ``user`` (logout); how many."""
    with session_scope() as session:
        return int(session.exec(delete(Lease).where(Lease.holder == user)).rowcount)  # type: ignore[call-overload]


def holders(image_ids: Iterable[int] | None = None) -> dict[int, LeaseInfo]:
    """The unexpired leases (of ``image_ids``, or all), by image id."""
    now = utcnow()
    query = select(Lease).where(col(Lease.expires_at) >= now)
    if image_ids is not None:
        ids = list(image_ids)
        if not ids:
            return {}
        query = query.where(col(Lease.image_id).in_(ids))
    with session_scope() as session:
        return {lease.image_id: LeaseInfo(lease.image_id, lease.holder, lease.acquired_at, lease.expires_at)
                for lease in session.exec(query).all()}


def held_by(user: str) -> list[LeaseInfo]:
    """``user``'s unexpired leases."""
    return [lease for lease in holders().values() if lease.holder == user]


def expire_stale() -> int:
    """Delete expired leases (they are free anyway; this only tidies the table); how many."""
    with session_scope() as session:
        return int(session.exec(delete(Lease).where(col(Lease.expires_at) < utcnow())).rowcount)  # type: ignore[call-overload]


# ---- assignments ------------------------------------------------------------------------------

@dataclass(frozen=True)
class AssignmentInfo:
    id: int
    dataset: str
    user: str
    split: str
    status: str
    pattern: str
    first: int | None
    last: int | None
    note: str
    created_by: str
    created_at: datetime

    def describe(self) -> str:
        parts = []
        if self.first is not None or self.last is not None:
            parts.append(f"images {self.first or 1}-{self.last if self.last is not None else 'end'}")
        if self.split:
            parts.append(f"split {self.split}")
        if self.status:
            parts.append(f"status {self.status}")
        if self.pattern:
            parts.append(f"files {self.pattern}")
        return ", ".join(parts) or "every image"

    def matches(self, item: ImageItem, position: int) -> bool:
        """Whether the image at 1-based ``position`` (import order) is part of this assignment."""
        return ((not self.split or item.split == self.split)
                and (not self.status or item.status == self.status)
                and (not self.pattern or fnmatch.fnmatchcase(item.file_name, self.pattern))
                and (self.first is None or position >= self.first)
                and (self.last is None or position <= self.last))


def assign(*, dataset: str, user: str, split: str = "", status: str = "", pattern: str = "",
           first: int | None = None, last: int | None = None, note: str = "", by: str = "") -> AssignmentInfo:
    """Give ``user`` the images of ``dataset`` that match every condition given (see the module
    docstring); the new assignment."""
    from studio.users import check_name

    if split and split not in {s.value for s in Split}:
        raise InvalidInput(f"split {split!r}: expected one of {', '.join(s.value for s in Split)} (or none)")
    if status and status not in IMAGE_STATUSES:
        raise InvalidInput(f"status {status!r}: expected one of {', '.join(IMAGE_STATUSES)} (or none)")
    for name, value in (("first", first), ("last", last)):
        if value is not None and value < 1:
            raise InvalidInput(f"{name} position {value}: positions start at 1 (import order)")
    if first is not None and last is not None and last < first:
        raise InvalidInput(f"position range {first}-{last}: the last position comes before the first")
    name = check_name(user)
    with session_scope() as session:
        ds = get_dataset(session, dataset)
        row = session.exec(select(User).where(User.name == name)).first()
        if row is None:
            raise InvalidInput(f"no user {user!r} to assign images to; `studio users add {name} --role annotator`")
        assignment = Assignment(dataset_id=ds.id, user_id=row.id, split=split, status=status, pattern=pattern.strip(),  # type: ignore[arg-type]
                                first=first, last=last, note=note, created_by=by)
        session.add(assignment)
        session.flush()
        return _assignment_info(assignment, ds.name, row.name)


def _assignment_info(a: Assignment, dataset: str, user: str) -> AssignmentInfo:
    return AssignmentInfo(int(a.id), dataset, user, a.split, a.status, a.pattern, a.first, a.last,  # type: ignore[arg-type]
                          a.note, a.created_by, a.created_at)


def list_assignments(*, dataset: str | None = None, user: str | None = None) -> list[AssignmentInfo]:
    from studio.tables import Dataset

    query = (select(Assignment, Dataset.name, User.name).join(Dataset, col(Dataset.id) == Assignment.dataset_id)
             .join(User, col(User.id) == Assignment.user_id).order_by(col(Assignment.id)))
    if dataset is not None:
        query = query.where(Dataset.name == dataset)
    if user is not None:
        query = query.where(User.name == user.strip().lower())
    with session_scope() as session:
        return [_assignment_info(a, d, u) for a, d, u in session.exec(query).all()]


def unassign(assignment_id: int) -> None:
    with session_scope() as session:
        session.delete(get_row(session, Assignment, assignment_id, f"no assignment {assignment_id}"))


# ---- the queue of one user --------------------------------------------------------------------

def assigned_to(user: str, dataset: str, items: Sequence[ImageItem]) -> list[ImageItem]:
    """``items`` (a dataset's :func:`~studio.annotations.image_queue`, import order) that are the
    user's by assignment; all of them when the user has no assignment in the dataset."""
    mine = list_assignments(dataset=dataset, user=user)
    if not mine:
        return list(items)
    return [item for position, item in enumerate(items, start=1) if any(a.matches(item, position) for a in mine)]


def todo_for(user: str, dataset: str, items: Sequence[ImageItem] | None = None,
             statuses: tuple[str, ...] = TODO_STATUSES) -> list[ImageItem]:
    """The user's queue: images still to do (``statuses``), of their assignments if they have any,
    that nobody else holds a lease on (their own leased image stays). ``items``: the dataset's
    whole :func:`~studio.annotations.image_queue` in import order (read when None)."""
    items = image_queue(dataset) if items is None else items
    taken = {image_id for image_id, lease in holders(i.id for i in items).items() if lease.holder != user}
    return [i for i in assigned_to(user, dataset, items) if i.status in statuses and i.id not in taken]


def claim_next(user: str, dataset: str, *, after: int | None = None, ttl: float | None = None,
               items: Sequence[ImageItem] | None = None) -> ImageItem | None:
    """"Next to do" for ``user``: the first image of :func:`todo_for` after ``after`` (wrapping
    around) that the user manages to lease (another annotator may take one between the listing
    and the lease: it is skipped); the leased item, or None when nothing is left. Their lease on
    the image they leave ends with it."""
    queue = todo_for(user, dataset, items)  # import order = ascending image id
    start = next((n for n, item in enumerate(queue) if after is not None and item.id > after), 0)
    for item in queue[start:] + queue[:start]:
        if item.id == after:
            continue
        if try_acquire(item.id, user, ttl=ttl):
            return item
    return None


def extend_all(user: str, *, ttl: float | None = None) -> int:
    """Renew every unexpired lease of ``user`` (a page that stays open keeps its image); how many."""
    ttl = lease_seconds() if ttl is None else float(ttl)
    now = utcnow()
    with session_scope() as session:
        result = session.exec(update(Lease).where(Lease.holder == user, col(Lease.expires_at) >= now)  # type: ignore[call-overload]
                               .values(expires_at=now + timedelta(seconds=ttl)))
        return int(result.rowcount)
