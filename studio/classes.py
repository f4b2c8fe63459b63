"""The classes of a dataset: list, add, rename, recolour, reorder, merge, remove.

Two numbers describe a class's place:

* ``index``: the value in masks, dataset versions and model outputs. It is given once (the
  next number never used by the dataset, its versions included) and never changes, so
  annotations, versions and models trained on them keep meaning the same thing. Index 0 is
  the background when a dataset names one; it cannot be merged, removed or reordered.
* ``position``: the display order the user chose; the Label page's 1-9 keys follow it.
  Classes are listed background first, then by (position, index).

Every write is one transaction: a refused or failing call leaves the database as it was.
Classes are named by their name (exact, else case-insensitive) or by their row id; an id of
another dataset's class is refused. Names are trimmed and must be 1..64 characters without
control characters, unique within the dataset regardless of case.

A new class gets the first palette colour (``studio.colors.PALETTE``) its dataset does not
use yet; ``recolor_class`` overrides it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from studio.class_names import check_new_names, clean_class_name
from studio.colors import next_color, parse_color
from studio.datasets import get_dataset
from studio.db import session_scope
from studio.errors import InvalidInput, NotFound
from studio.tables import Annotation, Dataset, DatasetVersion, LabelClass, utcnow

BACKGROUND_INDEX = 0
ClassRef = int | str  # a class's row id, or its name


@dataclass(frozen=True)
class ClassSummary:
    """A class as the class manager shows it, with how many annotations use it."""

    id: int
    name: str
    index: int  # value in masks / model outputs (0 = background)
    color: str  # "#rrggbb"
    position: int  # display order
    annotations: int  # all statuses (what remove would refuse on)
    accepted: int

    @property
    def is_background(self) -> bool:
        return self.index == BACKGROUND_INDEX


@dataclass(frozen=True)
class MergeReport:
    """What a merge (or a remove with reassignment) did."""

    removed: str  # name of the class that is gone
    target: str | None  # name of the class its annotations now have (None: it had none to move)
    relabelled: int  # annotations moved to ``target``


# ---- lookups ---------------------------------------------------------------------------

def _ordered(classes: Sequence[LabelClass]) -> list[LabelClass]:
    return sorted(classes, key=lambda c: (c.index != BACKGROUND_INDEX, c.position, c.index))


def _classes_of(session: Session, ds: Dataset) -> list[LabelClass]:
    return _ordered(session.exec(select(LabelClass).where(LabelClass.dataset_id == ds.id)).all())


def _find(session: Session, ds: Dataset, ref: ClassRef, classes: Sequence[LabelClass]) -> LabelClass:
    """The class ``ref`` (row id or name) of ``ds``; NotFound / InvalidInput naming the choices."""
    names = ", ".join(repr(c.name) for c in classes) or "(no classes yet)"
    if isinstance(ref, int) and not isinstance(ref, bool):
        found = next((c for c in classes if c.id == ref), None)
        if found is not None:
            return found
        other = session.get(LabelClass, ref)
        if other is not None:
            owner = session.get(Dataset, other.dataset_id)
            raise InvalidInput(f"class id {ref} ({other.name!r}) belongs to dataset {owner.name if owner else '?'!r}, "
                               f"not {ds.name!r}; expected one of {names}")
        raise NotFound(f"no class with id {ref}; dataset {ds.name!r} has {names}")
    if not isinstance(ref, str):
        raise InvalidInput(f"class {ref!r}: expected a class name or id")
    text = ref.strip()
    exact = [c for c in classes if c.name == text]
    folded = exact or [c for c in classes if c.name.casefold() == text.casefold()]
    if len(folded) == 1:
        return folded[0]
    raise NotFound(f"dataset {ds.name!r} has no class {text!r}; expected one of {names}")


def _usage(session: Session, class_ids: Sequence[int]) -> dict[int, Counter[str]]:
    """class id -> Counter of annotation statuses."""
    usage: dict[int, Counter[str]] = {i: Counter() for i in class_ids}
    rows = session.exec(select(Annotation.class_id, Annotation.status, func.count())
                        .where(col(Annotation.class_id).in_(list(class_ids)))
                        .group_by(Annotation.class_id, Annotation.status)).all()
    for class_id, status, n in rows:
        usage[class_id][status] = n
    return usage


def _next_index(session: Session, ds: Dataset, classes: Sequence[LabelClass]) -> int:
    """One more than every index the dataset ever gave (live classes and its versions'), so a
    new class never takes the index of a removed one that a version or model still knows."""
    used = [c.index for c in classes]
    for version_classes in session.exec(select(DatasetVersion.classes).where(DatasetVersion.dataset_id == ds.id)):
        used.extend(int(c["index"]) for c in version_classes)
    return max(used, default=BACKGROUND_INDEX) + 1


def _detached(session: Session, rows: Sequence[LabelClass]) -> list[LabelClass]:
    """``rows`` written (flushed, committed with the transaction) and detached for the caller."""
    session.flush()
    for row in rows:
        session.expunge(row)
    return list(rows)


def _refuse_background(label: LabelClass, what: str) -> None:
    """InvalidInput when ``label`` is the background; ``what`` completes "the background ..."."""
    if label.index == BACKGROUND_INDEX:
        raise InvalidInput(f"class {label.name!r} is the background (index 0), which {what}; "
                           "expected one of the object classes")


# ---- reads -----------------------------------------------------------------------------

def list_classes(*, dataset: str, include_background: bool = True) -> list[LabelClass]:
    """The dataset's classes (detached rows) in display order: background first, then by
    (position, index)."""
    with session_scope() as session:
        classes = _classes_of(session, get_dataset(session, dataset))
        session.expunge_all()
        return [c for c in classes if include_background or c.index != BACKGROUND_INDEX]


def class_summaries(*, dataset: str) -> list[ClassSummary]:
    """The classes in display order with how many annotations use each (class manager table)."""
    with session_scope() as session:
        classes = _classes_of(session, get_dataset(session, dataset))
        usage = _usage(session, [c.id for c in classes])  # type: ignore[misc]
        return [ClassSummary(c.id, c.name, c.index, c.color, c.position,  # type: ignore[arg-type]
                             sum(usage[c.id].values()), usage[c.id]["accepted"]) for c in classes]  # type: ignore[index]


# ---- writes ----------------------------------------------------------------------------

def add_classes(*, dataset: str, names: Sequence[str], color: str | None = None) -> list[LabelClass]:
    """Add ``names`` (in order, after the existing classes) in one transaction; each gets the
    next unused index and the next unused palette colour, or ``color`` (only with one name).
    InvalidInput when a name is invalid, repeated, or already a class (ignoring case)."""
    if not names:
        raise InvalidInput("no class names given; expected at least one, e.g. 'bottle'")
    if color is not None and len(names) != 1:
        raise InvalidInput(f"one colour for {len(names)} classes; expected a colour with a single name")
    chosen = parse_color(color) if color is not None else None
    with session_scope() as session:
        ds = get_dataset(session, dataset)
        classes = _classes_of(session, ds)
        cleaned = check_new_names(names, [c.name for c in classes])
        return _insert(session, ds, classes, cleaned, chosen)


def _insert(session: Session, ds: Dataset, classes: list[LabelClass], names: list[str],
            color: str | None) -> list[LabelClass]:
    """New rows for the (checked) ``names`` after ``classes``; detached."""
    index = _next_index(session, ds, classes)
    position = max((c.position for c in classes), default=0) + 1
    colors = [c.color for c in classes]
    added = []
    for offset, name in enumerate(names):
        label = LabelClass(dataset_id=ds.id, name=name, index=index + offset, position=position + offset,
                           color=color or next_color(colors))
        colors.append(label.color)
        session.add(label)
        added.append(label)
    return _detached(session, added)


def add_class(*, dataset: str, name: str, color: str | None = None) -> LabelClass:
    """Add one class (see :func:`add_classes`); the new row."""
    return add_classes(dataset=dataset, names=[name], color=color)[0]


def ensure_classes(*, dataset: str, names: Sequence[str]) -> list[LabelClass]:
    """Add those of ``names`` the dataset does not have yet (ignoring case), in one
    transaction; the rows added (empty when all were there). Invalid names are refused."""
    cleaned = [clean_class_name(n) for n in names]
    with session_scope() as session:
        ds = get_dataset(session, dataset)
        classes = _classes_of(session, ds)
        seen = {c.name.casefold() for c in classes}
        missing = []
        for name in cleaned:
            if name.casefold() not in seen:
                seen.add(name.casefold())
                missing.append(name)
        return _insert(session, ds, classes, missing, None) if missing else []


def rename_class(*, dataset: str, ref: ClassRef, new_name: str) -> LabelClass:
    """Give class ``ref`` the name ``new_name`` (a change of case only is allowed); the row.
    Its index, colour and annotations stay."""
    with session_scope() as session:
        ds = get_dataset(session, dataset)
        classes = _classes_of(session, ds)
        label = _find(session, ds, ref, classes)
        (name,) = check_new_names([new_name], [c.name for c in classes if c.id != label.id])
        label.name = name
        session.add(label)
        return _detached(session, [label])[0]


def recolor_class(*, dataset: str, ref: ClassRef, color: str) -> LabelClass:
    """Set class ``ref``'s colour ("#rrggbb"); the row."""
    chosen = parse_color(color)
    with session_scope() as session:
        ds = get_dataset(session, dataset)
        label = _find(session, ds, ref, _classes_of(session, ds))
        label.color = chosen
        session.add(label)
        return _detached(session, [label])[0]


def reorder_classes(*, dataset: str, order: Sequence[ClassRef]) -> list[LabelClass]:
    """Show the object classes in ``order`` (every non-background class once); the classes in
    their new display order. Indexes do not change."""
    with session_scope() as session:
        ds = get_dataset(session, dataset)
        classes = _classes_of(session, ds)
        wanted = [_find(session, ds, ref, classes) for ref in order]
        for label in wanted:
            _refuse_background(label, "always comes first and cannot be reordered")
        objects = [c for c in classes if c.index != BACKGROUND_INDEX]
        ids = [c.id for c in wanted]
        if len(set(ids)) != len(ids) or set(ids) != {c.id for c in objects}:
            given = [c.name for c in wanted]
            repeated = sorted({n for n in given if given.count(n) > 1})
            missing = [c.name for c in objects if c.id not in ids]
            raise InvalidInput(f"new class order {given}: expected every class of {ds.name!r} once "
                               f"({', '.join(c.name for c in objects)})"
                               + (f"; given twice: {repeated}" if repeated else "")
                               + (f"; missing: {missing}" if missing else ""))
        return _apply_order(session, classes, wanted)


def move_class(*, dataset: str, ref: ClassRef, step: int) -> list[LabelClass]:
    """Move class ``ref`` ``step`` places later (negative: earlier) in the display order,
    stopping at either end; the classes in their new order."""
    with session_scope() as session:
        ds = get_dataset(session, dataset)
        classes = _classes_of(session, ds)
        label = _find(session, ds, ref, classes)
        _refuse_background(label, "always comes first and cannot be moved")
        objects = [c for c in classes if c.index != BACKGROUND_INDEX]
        here = next(i for i, c in enumerate(objects) if c.id == label.id)
        objects.insert(max(0, min(len(objects) - 1, here + step)), objects.pop(here))
        return _apply_order(session, classes, objects)


def _apply_order(session: Session, classes: list[LabelClass], objects: list[LabelClass]) -> list[LabelClass]:
    for position, label in enumerate(objects, start=1):
        label.position = position
        session.add(label)
    background = [c for c in classes if c.index == BACKGROUND_INDEX]
    for label in background:
        label.position = 0
        session.add(label)
    return _detached(session, background + objects)


def merge_classes(*, dataset: str, source: ClassRef, target: ClassRef) -> MergeReport:
    """Re-label every annotation of ``source`` as ``target`` and delete ``source``, in one
    transaction. Dataset versions and models keep their own copy of the classes."""
    with session_scope() as session:
        ds = get_dataset(session, dataset)
        classes = _classes_of(session, ds)
        src, dst = _find(session, ds, source, classes), _find(session, ds, target, classes)
        if src.id == dst.id:
            raise InvalidInput(f"cannot merge class {src.name!r} into itself; expected two different classes")
        _refuse_background(src, "cannot be merged into another class")
        _refuse_background(dst, "cannot take the annotations of another class")
        return _move_and_delete(session, src, dst)


def remove_class(*, dataset: str, ref: ClassRef, reassign_to: ClassRef | None = None) -> MergeReport:
    """Delete class ``ref``. Refused while annotations use it, unless ``reassign_to`` names
    the class they get instead (then it is a merge); one transaction either way."""
    with session_scope() as session:
        ds = get_dataset(session, dataset)
        classes = _classes_of(session, ds)
        label = _find(session, ds, ref, classes)
        _refuse_background(label, "cannot be removed")
        if reassign_to is not None:
            dst = _find(session, ds, reassign_to, classes)
            if dst.id == label.id:
                raise InvalidInput(f"cannot reassign the annotations of {label.name!r} to itself; "
                                   "expected another class")
            _refuse_background(dst, "cannot take the annotations of another class")
            return _move_and_delete(session, label, dst)
        used = _usage(session, [label.id])[label.id]  # type: ignore[list-item,index]
        if used:
            detail = ", ".join(f"{n} {status}" for status, n in sorted(used.items()))
            others = [c.name for c in classes if c.id != label.id and c.index != BACKGROUND_INDEX]
            hint = (f"reassign them to another class ({', '.join(others)})" if others
                    else "add the class they should have first, then reassign them")
            raise InvalidInput(f"class {label.name!r} is used by {sum(used.values())} annotations ({detail}); "
                               f"{hint}, or merge it (CLI: --reassign-to NAME)")
        return _move_and_delete(session, label, None)


def _move_and_delete(session: Session, src: LabelClass, dst: LabelClass | None) -> MergeReport:
    moved = 0
    if dst is not None:
        # a new version of each: an edit based on the class it had before is refused (studio.annotations)
        result = session.execute(update(Annotation).where(col(Annotation.class_id) == src.id)
                                 .values(class_id=dst.id, updated_at=utcnow(), version=Annotation.version + 1,
                                         updated_by=f"a merge of {src.name} into {dst.name}"))
        moved = int(result.rowcount or 0)
    _delete_class(session, src)
    return MergeReport(removed=src.name, target=dst.name if dst is not None else None, relabelled=moved)


def _delete_class(session: Session, label: LabelClass) -> None:
    session.delete(label)
    session.flush()
