"""Datasets in the database: create, ingest a ``DatasetDoc``, read one back, stats, snapshots.

All writes of one operation happen in one transaction (``session_scope``): an import that
fails validation leaves the database exactly as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, insert
from sqlmodel import Session, select

from studio.colors import BACKGROUND_COLOR, next_color
from studio.config import get_settings
from studio.db import session_scope
from studio.errors import InvalidInput, NotFound
from studio.formats.records import AnnotationRecord, ClassRecord, DatasetDoc, ImageRecord
from studio.images import StoredImage, store_image
from studio.masks import area as rle_area
from studio.masks import bbox as rle_bbox
from studio.progress import ProgressFn, null_progress
from studio.tables import (
    Annotation,
    AnnotationStatus,
    Dataset,
    DatasetVersion,
    Image,
    LabelClass,
    VersionAnnotation,
    VersionImage,
    utcnow,
)


@dataclass
class IngestReport:
    """What an import did; ``skipped`` and ``duplicates`` are listed for the user."""

    dataset: str
    images_added: int = 0
    annotations_added: int = 0
    classes_added: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # "new.jpg = already stored old.jpg"
    skipped: list[str] = field(default_factory=list)  # "file: reason"


@dataclass(frozen=True)
class DatasetSummary:
    name: str
    images: int
    annotations: int
    classes: int
    versions: int
    created_at: str


# ---- lookups ---------------------------------------------------------------------------

def get_dataset(session: Session, name: str) -> Dataset:
    """The dataset called ``name``; ``NotFound`` lists the ones that exist."""
    dataset = session.exec(select(Dataset).where(Dataset.name == name)).first()
    if dataset is None:
        names = session.exec(select(Dataset.name).order_by(Dataset.name)).all()
        raise NotFound(f"no dataset named {name!r}; existing: {', '.join(names) or '(none)'}")
    return dataset


def get_or_create_dataset(session: Session, name: str, description: str = "") -> Dataset:
    if not name or not name.strip():
        raise InvalidInput("dataset name is empty; expected a short name such as 'shelves'")
    dataset = session.exec(select(Dataset).where(Dataset.name == name)).first()
    if dataset is None:
        dataset = Dataset(name=name.strip(), description=description)
        session.add(dataset)
        session.flush()
    return dataset


def resolve_stored_path(stored_path: str) -> Path:
    """Absolute path of an image (store paths are kept relative to the data dir)."""
    path = Path(stored_path)
    return path if path.is_absolute() else get_settings().data_dir / path


def _relative_to_data(path: Path) -> str:
    data_dir = get_settings().data_dir.resolve()
    try:
        return path.resolve().relative_to(data_dir).as_posix()
    except ValueError:
        return str(path.resolve())


# ---- ingest ----------------------------------------------------------------------------

def store_images(paths: Iterable[Path], *, link: bool = False,
                 progress: ProgressFn = null_progress) -> list[StoredImage | str]:
    """Store many images in parallel (decode releases the GIL). Each result is a
    ``StoredImage`` or the reason the file was refused."""
    settings = get_settings()
    paths = list(paths)

    def one(path: Path) -> StoredImage | str:
        try:
            return store_image(path, settings.store_dir, link=link, max_pixels=settings.max_image_pixels)
        except InvalidInput as exc:
            return str(exc)

    results: list[StoredImage | str] = []
    with ThreadPoolExecutor(max_workers=min(8, 2 * (os.cpu_count() or 1))) as pool:
        for done, result in enumerate(pool.map(one, paths), start=1):
            results.append(result)
            if done % 25 == 0 or done == len(paths):
                progress(done / max(len(paths), 1), f"checked {done}/{len(paths)} images")
    return results


def _merge_classes(session: Session, dataset: Dataset, classes: list[ClassRecord],
                   report: IngestReport) -> dict[str, LabelClass]:
    """Existing classes matched by name; new ones keep their index when free."""
    existing = {c.name: c for c in session.exec(select(LabelClass).where(LabelClass.dataset_id == dataset.id))}
    used = {c.index for c in existing.values()}
    colors = [c.color for c in existing.values()]
    position = max((c.position for c in existing.values()), default=0)
    for record in classes:
        if record.name in existing:
            continue
        index = record.index if record.index not in used else max(used | {0}) + 1
        position += 1
        label = LabelClass(dataset_id=dataset.id, name=record.name, index=index, position=position,
                           color=record.color or (BACKGROUND_COLOR if index == 0 else next_color(colors)))
        session.add(label)
        colors.append(label.color)
        existing[record.name] = label
        used.add(index)
        report.classes_added.append(record.name)
    session.flush()
    return existing


def ingest_doc(doc: DatasetDoc, *, dataset: str, link: bool = False, skip_bad_images: bool = False,
               progress: ProgressFn = null_progress) -> IngestReport:
    """Store the doc's images and write images, classes and annotations in one transaction.

    ``skip_bad_images``: unreadable images are skipped and listed (folder imports);
    otherwise (annotated formats) one bad image refuses the whole import. Images whose
    content is already in the dataset are reported as duplicates and their annotations
    are not added again (re-importing a file is harmless).
    """
    report = IngestReport(dataset=dataset)
    known = {c.name for c in doc.classes}
    unknown = sorted({a.class_name for a in doc.annotations} - known)
    if unknown:
        raise InvalidInput(f"annotations use classes {unknown} that the class list does not define")
    missing = [i.key for i in doc.images if i.path is None or not i.path.is_file()]
    if missing:
        raise InvalidInput(f"{len(missing)} image file(s) not found, e.g. {missing[:3]}; "
                           "expected the images next to the annotations (or pass the images folder)")
    stored = store_images([i.path for i in doc.images], link=link,
                          progress=lambda f, m: progress(0.8 * f, m))  # type: ignore[arg-type]
    bad = [(rec.key, res) for rec, res in zip(doc.images, stored) if isinstance(res, str)]
    if bad and not skip_bad_images:
        raise InvalidInput(f"{len(bad)} image(s) cannot be used: {bad[0][1]}")
    report.skipped.extend(reason for _, reason in bad)
    for rec, res in zip(doc.images, stored):
        if isinstance(res, StoredImage) and (rec.width, rec.height) != (res.width, res.height) and rec.width:
            raise InvalidInput(f"{rec.key}: the annotations say {rec.width}x{rec.height} "
                               f"but the image file is {res.width}x{res.height}")
    progress(0.85, "writing to the database")
    with session_scope() as session:
        ds = get_or_create_dataset(session, dataset)
        classes = _merge_classes(session, ds, doc.classes, report)
        present = dict(session.exec(select(Image.content_hash, Image.file_name).where(Image.dataset_id == ds.id)).all())
        image_ids: dict[str, int] = {}
        for rec, res in zip(doc.images, stored):
            if isinstance(res, str):
                continue
            if res.content_hash in present:
                report.duplicates.append(f"{rec.key} = already stored {present[res.content_hash]}")
                continue
            image = Image(dataset_id=ds.id, content_hash=res.content_hash, file_name=rec.key,
                          stored_path=_relative_to_data(res.stored_path), width=res.width,
                          height=res.height, split=rec.split)
            session.add(image)
            session.flush()
            present[res.content_hash] = rec.key
            image_ids[rec.key] = image.id  # type: ignore[assignment]
            report.images_added += 1
        rows = [_annotation_row(a, image_ids[a.image_key], classes[a.class_name].id)
                for a in doc.annotations if a.image_key in image_ids]
        if rows:
            session.execute(insert(Annotation), rows)
        report.annotations_added = len(rows)
    progress(1.0, f"imported {report.images_added} images, {report.annotations_added} annotations")
    return report


def _annotation_row(ann: AnnotationRecord, image_id: int, class_id: int | None) -> dict:
    now = utcnow()
    return {
        "image_id": image_id, "class_id": class_id, "rle": ann.rle, "bbox": rle_bbox(ann.rle),
        "area": int(rle_area(ann.rle)), "iscrowd": ann.iscrowd, "score": ann.score,
        "source": ann.source, "status": AnnotationStatus.accepted.value, "author": "",
        "seconds_spent": 0.0, "created_at": now, "updated_at": now,
    }


# ---- read back -------------------------------------------------------------------------

def doc_from_dataset(session: Session, dataset: str,
                     statuses: tuple[str, ...] = (AnnotationStatus.accepted.value,)) -> DatasetDoc:
    """The dataset as a ``DatasetDoc`` (annotations with the given statuses)."""
    ds = get_dataset(session, dataset)
    classes = session.exec(select(LabelClass).where(LabelClass.dataset_id == ds.id).order_by(LabelClass.index)).all()
    names = {c.id: c.name for c in classes}
    images = session.exec(select(Image).where(Image.dataset_id == ds.id).order_by(Image.id)).all()
    keys = {i.id: i.file_name for i in images}
    anns = session.exec(select(Annotation).join(Image).where(Image.dataset_id == ds.id)
                        .where(Annotation.status.in_(statuses)).order_by(Annotation.id)).all()  # type: ignore[attr-defined]
    return DatasetDoc(
        classes=[ClassRecord(c.name, c.index, c.color) for c in classes],
        images=[ImageRecord(i.file_name, resolve_stored_path(i.stored_path), i.width, i.height, i.split)
                for i in images],
        annotations=[AnnotationRecord(keys[a.image_id], names[a.class_id], a.rle, a.iscrowd, a.score, a.source)
                     for a in anns],
    )


def doc_from_version(session: Session, dataset: str, version: int) -> DatasetDoc:
    """A dataset version (immutable snapshot) as a ``DatasetDoc``."""
    ds = get_dataset(session, dataset)
    dv = session.exec(select(DatasetVersion).where(DatasetVersion.dataset_id == ds.id,
                                                   DatasetVersion.version == version)).first()
    if dv is None:
        raise NotFound(f"dataset {dataset!r} has no version {version}; see `studio datasets`")
    classes = [ClassRecord(c["name"], c["index"], c.get("color")) for c in dv.classes]
    by_index = {c.index: c.name for c in classes}
    images = session.exec(select(VersionImage).where(VersionImage.version_id == dv.id).order_by(VersionImage.id)).all()
    keys = {i.id: i.file_name for i in images}
    anns = session.exec(select(VersionAnnotation).join(VersionImage)
                        .where(VersionImage.version_id == dv.id).order_by(VersionAnnotation.id)).all()
    return DatasetDoc(
        classes=classes,
        images=[ImageRecord(i.file_name, resolve_stored_path(i.stored_path), i.width, i.height, i.split)
                for i in images],
        annotations=[AnnotationRecord(keys[a.version_image_id], by_index[a.class_index], a.rle, a.iscrowd)
                     for a in anns],
    )


# ---- versions and stats ----------------------------------------------------------------

def content_fingerprint(classes: Iterable[tuple[str, int, str | None]],
                        images: Iterable[tuple[str, str, str, int, int]],
                        annotations: Iterable[tuple[str, int, dict, bool]]) -> str:
    """sha256 hex of a dataset's content as a snapshot freezes it, independent of row order:

    classes: (name, index, color); images: (content hash, file name, split, width, height);
    annotations: (image content hash, class index, RLE, iscrowd). Equal fingerprints mean a
    training run would read the same data.
    """
    parts = {
        "classes": sorted([str(n), int(i), c or ""] for n, i, c in classes),
        "images": sorted([h, f, s, int(w), int(ht)] for h, f, s, w, ht in images),
        "annotations": sorted(json.dumps([h, int(i), rle, bool(crowd)], sort_keys=True)
                              for h, i, rle, crowd in annotations),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _live_fingerprint(session: Session, ds: Dataset) -> str:
    classes = session.exec(select(LabelClass).where(LabelClass.dataset_id == ds.id)).all()
    images = session.exec(select(Image).where(Image.dataset_id == ds.id)).all()
    index_of = {c.id: c.index for c in classes}
    hash_of = {i.id: i.content_hash for i in images}
    accepted = session.exec(select(Annotation.image_id, Annotation.class_id, Annotation.rle, Annotation.iscrowd)
                            .join(Image).where(Image.dataset_id == ds.id,
                                               Annotation.status == AnnotationStatus.accepted.value)).all()
    return content_fingerprint(((c.name, c.index, c.color) for c in classes),
                               ((i.content_hash, i.file_name, i.split, i.width, i.height) for i in images),
                               ((hash_of[a], index_of[c], rle, crowd) for a, c, rle, crowd in accepted))


def _version_fingerprint(session: Session, dv: DatasetVersion) -> str:
    images = session.exec(select(VersionImage).where(VersionImage.version_id == dv.id)).all()
    hash_of = {i.id: i.content_hash for i in images}
    anns = session.exec(select(VersionAnnotation.version_image_id, VersionAnnotation.class_index,
                               VersionAnnotation.rle, VersionAnnotation.iscrowd)
                        .join(VersionImage).where(VersionImage.version_id == dv.id)).all()
    return content_fingerprint(((c["name"], c["index"], c.get("color")) for c in dv.classes),
                               ((i.content_hash, i.file_name, i.split, i.width, i.height) for i in images),
                               ((hash_of[v], k, rle, crowd) for v, k, rle, crowd in anns))


@dataclass(frozen=True)
class Snapshot:
    """What ``take_snapshot`` did: the version to read, and whether it already existed."""

    dataset: str
    version: DatasetVersion
    reused: bool  # True: the content equals this existing version; nothing new was written

    @property
    def label(self) -> str:
        """``"shelves (data v3)"`` (studio.naming)."""
        from studio.naming import data_version

        return data_version(self.dataset, self.version.version)


def take_snapshot(dataset: str, note: str = "", *, reuse: bool = True) -> Snapshot:
    """Freeze the dataset's images, classes and accepted annotations as the next version; with
    ``reuse`` (the default), a dataset whose content equals its latest version's (same
    ``content_fingerprint``) gets that version back instead of an identical copy."""
    with session_scope() as session:
        ds = get_dataset(session, dataset)
        if not session.exec(select(func.count()).select_from(Image).where(Image.dataset_id == ds.id)).one():
            raise InvalidInput(f"dataset {dataset!r} has no images; import some before taking a snapshot")
        fingerprint = _live_fingerprint(session, ds)
        latest = session.exec(select(DatasetVersion).where(DatasetVersion.dataset_id == ds.id)
                              .order_by(DatasetVersion.version.desc())).first()  # type: ignore[attr-defined]
        if latest is not None and not latest.fingerprint:  # a version from before fingerprints: compute it once
            latest.fingerprint = _version_fingerprint(session, latest)
            session.add(latest)
            session.flush()
        if reuse and latest is not None and latest.fingerprint == fingerprint:
            session.expunge(latest)
            return Snapshot(dataset, latest, True)
        dv = _write_snapshot(session, ds, dataset, note, fingerprint, (latest.version if latest else 0) + 1)
        session.flush()
        session.expunge(dv)
        return Snapshot(dataset, dv, False)


def snapshot(dataset: str, note: str = "", *, reuse: bool = True) -> DatasetVersion:
    """The dataset version to read: ``take_snapshot(...).version`` (a new one, or the latest when
    nothing changed and ``reuse``)."""
    return take_snapshot(dataset, note, reuse=reuse).version


def _write_snapshot(session: Session, ds: Dataset, dataset: str, note: str, fingerprint: str,
                    number: int) -> DatasetVersion:
    """Copy the live rows into version ``number`` (one transaction: the caller's session)."""
    doc = doc_from_dataset(session, dataset)
    dv = DatasetVersion(dataset_id=ds.id, version=number, note=note, fingerprint=fingerprint,
                        classes=[{"name": c.name, "index": c.index, "color": c.color} for c in doc.classes],
                        image_count=len(doc.images), annotation_count=len(doc.annotations))
    session.add(dv)
    session.flush()
    live = session.exec(select(Image).where(Image.dataset_id == ds.id).order_by(Image.id)).all()
    version_ids: dict[int, int] = {}
    for image in live:
        vi = VersionImage(version_id=dv.id, image_id=image.id, content_hash=image.content_hash,
                          file_name=image.file_name, stored_path=image.stored_path,
                          width=image.width, height=image.height, split=image.split)
        session.add(vi)
        session.flush()
        version_ids[image.id] = vi.id  # type: ignore[index,assignment]
    class_index = {c.id: c.index for c in session.exec(select(LabelClass).where(LabelClass.dataset_id == ds.id))}
    accepted = session.exec(select(Annotation).join(Image).where(
        Image.dataset_id == ds.id, Annotation.status == AnnotationStatus.accepted.value
    ).order_by(Annotation.id)).all()  # row order = live order on every backend (PostgreSQL joins in any order)
    rows = [{"version_image_id": version_ids[a.image_id], "class_index": class_index[a.class_id],
             "rle": a.rle, "bbox": a.bbox, "area": a.area, "iscrowd": a.iscrowd} for a in accepted]
    if rows:
        session.execute(insert(VersionAnnotation), rows)
    return dv


def list_datasets() -> list[DatasetSummary]:
    """Every dataset with its counts (one query per count, not per dataset)."""
    with session_scope() as session:
        datasets = session.exec(select(Dataset).order_by(Dataset.name)).all()
        images = dict(session.exec(select(Image.dataset_id, func.count()).group_by(Image.dataset_id)).all())
        anns = dict(session.exec(select(Image.dataset_id, func.count()).select_from(Annotation).join(Image)
                                 .group_by(Image.dataset_id)).all())
        classes = dict(session.exec(select(LabelClass.dataset_id, func.count()).group_by(LabelClass.dataset_id)).all())
        versions = dict(session.exec(select(DatasetVersion.dataset_id, func.count())
                                     .group_by(DatasetVersion.dataset_id)).all())
        return [DatasetSummary(d.name, images.get(d.id, 0), anns.get(d.id, 0), classes.get(d.id, 0),
                               versions.get(d.id, 0), d.created_at.strftime("%Y-%m-%d %H:%M")) for d in datasets]


@dataclass
class DatasetStats:
    name: str
    images_by_split: dict[str, int]
    annotations_by_class: dict[str, int]
    annotations_by_status: dict[str, int]
    annotations_by_source: dict[str, int]
    labelled_images: int
    total_images: int
    mean_area_by_class: dict[str, float]
    versions: list[dict]


def dataset_stats(dataset: str) -> DatasetStats:
    """Counts for the Datasets page and `studio stats` (images per split, objects per class...)."""
    with session_scope() as session:
        ds = get_dataset(session, dataset)
        splits = dict(session.exec(select(Image.split, func.count()).where(Image.dataset_id == ds.id)
                                   .group_by(Image.split)).all())
        joined = select(LabelClass.name, Annotation.status, Annotation.source, Annotation.area, Annotation.image_id) \
            .select_from(Annotation).join(Image).join(LabelClass).where(Image.dataset_id == ds.id)
        rows = session.exec(joined).all()
        by_class: Counter[str] = Counter(r[0] for r in rows)
        area_sum: Counter[str] = Counter()
        for r in rows:
            area_sum[r[0]] += r[3]
        versions = session.exec(select(DatasetVersion).where(DatasetVersion.dataset_id == ds.id)
                                .order_by(DatasetVersion.version)).all()
        return DatasetStats(
            name=ds.name, images_by_split=splits, annotations_by_class=dict(by_class),
            annotations_by_status=dict(Counter(r[1] for r in rows)),
            annotations_by_source=dict(Counter(r[2] for r in rows)),
            labelled_images=len({r[4] for r in rows}), total_images=sum(splits.values()),
            mean_area_by_class={k: area_sum[k] / by_class[k] for k in by_class},
            versions=[{"version": v.version, "images": v.image_count, "annotations": v.annotation_count,
                       "note": v.note, "created": v.created_at.strftime("%Y-%m-%d %H:%M")} for v in versions],
        )
