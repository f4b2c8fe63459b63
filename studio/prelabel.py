"""Pre-label a dataset with a model version: its predictions become DRAFT annotations that
annotators accept, fix or reject on the Label page.

``prelabel(ref, dataset)`` runs the version over the dataset's live images (optionally one
split) and stores, per image:

- instance models (YOLO): one draft per predicted object with score >= ``min_score``;
- semantic models: one draft per connected component (8-connected) of each predicted class
  other than background, at least ``min_area`` pixels, scored by the mean softmax probability
  of its class over the component, kept when that score >= ``min_score``. Components, not one
  mask per class, because annotators work object by object (a shelf has many boxes).

Each draft has ``source = "model:<version name>"``, its score, status "draft" and no author.
Classes are mapped by NAME onto the dataset's classes; a model class the dataset lacks is an
InvalidInput listing them (add the classes first). With ``replace_drafts`` (default) the
image's earlier drafts from the same source are deleted in the same transaction that adds the
new ones (so re-running is idempotent); drafts from other sources and accepted or rejected
annotations are never touched. Images that already have accepted annotations are skipped
unless ``include_labelled``. Writes are one transaction per batch of images.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import delete, func
from sqlmodel import col, select

from studio import masks
from studio.db import session_scope
from studio.errors import InvalidInput, NotFound
from studio.progress import ProgressFn, null_progress
from studio.tables import Annotation, AnnotationStatus, Image, LabelClass, ModelVersion, Task, utcnow


@dataclass
class PrelabelReport:
    """images: considered; labelled: got at least one draft; skipped: already had accepted
    annotations; missing: files not found (skipped); annotations: drafts written; replaced:
    earlier drafts of the same source deleted; per_class: drafts per class name."""

    model: str
    dataset: str
    source: str
    images: int = 0
    labelled: int = 0
    skipped: int = 0
    annotations: int = 0
    replaced: int = 0
    seconds: float = 0.0
    per_class: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Draft:
    """One predicted object: the model's class name, its (H, W) bool mask and score."""

    class_name: str
    mask: np.ndarray
    score: float


def semantic_drafts(labels: np.ndarray, probs: np.ndarray, names: Sequence[str], min_score: float,
                    min_area: int) -> list[Draft]:
    """Drafts of a semantic prediction: components of each non-background class (see the
    module docstring). labels (H, W) int; probs (C, H, W) float."""
    import cv2

    drafts = []
    for k in np.unique(labels):
        if int(k) == 0:
            continue
        count, components, stats, _ = cv2.connectedComponentsWithStats((labels == k).astype(np.uint8), connectivity=8)
        for c in range(1, count):
            if stats[c, cv2.CC_STAT_AREA] < min_area:
                continue
            mask = components == c
            score = float(probs[int(k)][mask].mean())
            if score >= min_score:
                drafts.append(Draft(names[int(k)], mask, score))
    return drafts


def _drafts_of(predictor: Any, images: list[np.ndarray], min_score: float, min_area: int) -> list[list[Draft]]:
    task = predictor.task
    if task == Task.semantic.value:
        outs = predictor.predict_batch(images, with_probs=True)
        return [semantic_drafts(o.labels, o.probs, predictor.classes, min_score, min_area) for o in outs]
    outs = predictor.predict_batch(images, conf=min_score)
    return [[Draft(predictor.classes[int(o.class_indices[k])], o.masks[k], float(o.scores[k]))
             for k in range(len(o)) if o.scores[k] >= min_score and o.masks[k].sum() >= min_area] for o in outs]


def _class_ids(session: Any, dataset_id: int, version: ModelVersion) -> dict[str, int]:
    rows = session.exec(select(LabelClass).where(LabelClass.dataset_id == dataset_id)).all()
    by_name = {c.name: int(c.id) for c in rows}  # type: ignore[arg-type]
    wanted = [c["name"] for c in version.classes]
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise InvalidInput(f"the dataset has no classes {unknown} that model {version.name} predicts; expected "
                           f"them among its classes {sorted(by_name) or '(none)'}: add them first "
                           "(Datasets or Label page, or `studio classes add DATASET NAME`)")
    return {n: by_name[n] for n in wanted}


def prelabel(ref: str | int | ModelVersion, dataset: str, *, split: str | None = None, min_score: float = 0.5,
             replace_drafts: bool = True, include_labelled: bool = False, min_area: int = 16, batch_size: int = 4,
             runtime: str = "torch", device: str | None = None, progress: ProgressFn | None = None,
             image_ids: Sequence[int] | None = None) -> PrelabelReport:
    """Store the version's predictions on ``dataset``'s images as drafts; see the module docstring.
    ``image_ids``: only these images of the dataset, in this order (e.g. the top of a ranking)."""
    from studio.datasets import get_dataset, resolve_stored_path
    from studio.images import load_rgb
    from studio.inference import as_version, load_predictor

    progress = progress or null_progress
    started = time.perf_counter()
    version = as_version(ref)
    if version.task not in (Task.semantic.value, Task.instance.value):
        raise InvalidInput(f"model {version.name} is a {version.task} model; pre-labelling needs a segmentation "
                           "model (semantic or instance) that predicts masks")
    if not 0.0 <= min_score <= 1.0:
        raise InvalidInput(f"min_score {min_score}: expected a value in [0, 1]")
    if batch_size < 1 or min_area < 1:
        raise InvalidInput(f"batch_size {batch_size} and min_area {min_area}: expected integers >= 1")
    source = f"model:{version.name}"
    report = PrelabelReport(model=version.name, dataset=dataset, source=source)
    with session_scope() as session:
        ds = get_dataset(session, dataset)
        class_ids = _class_ids(session, int(ds.id), version)  # type: ignore[arg-type]
        query = select(Image.id, Image.file_name, Image.stored_path).where(Image.dataset_id == ds.id)
        if split is not None:
            query = query.where(Image.split == split)
        if image_ids is not None:
            query = query.where(col(Image.id).in_([int(i) for i in image_ids]))
        rows = session.exec(query.order_by(Image.id)).all()
        if image_ids is not None:
            place = {int(i): k for k, i in enumerate(image_ids)}
            rows = sorted(rows, key=lambda r: place[int(r[0])])
        accepted = dict(session.exec(select(Annotation.image_id, func.count()).join(Image)
                                     .where(Image.dataset_id == ds.id,
                                            Annotation.status == AnnotationStatus.accepted.value)
                                     .group_by(Annotation.image_id)).all())
    if not rows:
        raise NotFound(f"dataset {dataset!r} has no images" + (f" in split {split!r}" if split else ""))
    todo = []
    for image_id, file_name, stored in rows:
        if accepted.get(image_id) and not include_labelled:
            report.skipped += 1
        else:
            todo.append((int(image_id), file_name, resolve_stored_path(stored)))
    report.images = len(rows)
    predictor = load_predictor(version, runtime=runtime, device=device)
    for start in range(0, len(todo), batch_size):
        batch = todo[start: start + batch_size]
        pixels: list[tuple[int, str, np.ndarray]] = []
        for image_id, file_name, path in batch:
            if not Path(path).is_file():
                report.missing.append(file_name)
                continue
            pixels.append((image_id, file_name, load_rgb(path)))
        drafts = _drafts_of(predictor, [p[2] for p in pixels], min_score, min_area) if pixels else []
        _store(pixels, drafts, class_ids, source, replace_drafts, report)
        done = min(start + batch_size, len(todo))
        progress(done / max(len(todo), 1), f"pre-labelled {done}/{len(todo)} images, {report.annotations} drafts")
    report.seconds = time.perf_counter() - started
    progress(1.0, f"{report.annotations} drafts on {report.labelled} images ({report.skipped} already labelled)")
    return report


def _store(pixels: list[tuple[int, str, np.ndarray]], drafts: list[list[Draft]], class_ids: dict[str, int],
           source: str, replace: bool, report: PrelabelReport) -> None:
    """One transaction: delete the batch's earlier drafts of ``source`` (when replacing), add the new ones."""
    now = utcnow()
    with session_scope() as session:
        if replace and pixels:
            result = session.execute(delete(Annotation).where(
                col(Annotation.image_id).in_([p[0] for p in pixels]), Annotation.source == source,
                Annotation.status == AnnotationStatus.draft.value))
            report.replaced += int(result.rowcount or 0)
        for (image_id, _, image), found in zip(pixels, drafts):
            found = [d for d in found if d.class_name in class_ids]  # semantic channels without a class
            for draft in found:
                if draft.mask.shape != image.shape[:2]:
                    raise InvalidInput(f"prediction mask {draft.mask.shape}: expected the image's (H, W) {image.shape[:2]}")
                rle = masks.encode(draft.mask)
                session.add(Annotation(image_id=image_id, class_id=class_ids[draft.class_name], rle=rle,
                                       bbox=masks.bbox(rle), area=masks.area(rle), score=draft.score, source=source,
                                       status=AnnotationStatus.draft.value, author="", created_at=now, updated_at=now))
                report.per_class[draft.class_name] = report.per_class.get(draft.class_name, 0) + 1
            report.annotations += len(found)
            report.labelled += bool(found)
