"""Reading stored evaluations back for the pages and the CLI: lists, one evaluation with its
classes and matrix, per-image rows, click-through from a confusion cell, stored predictions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlmodel import col, select

from studio.db import get_row, session_scope
from studio.errors import InvalidInput, NotFound
from studio.tables import (
    Dataset,
    DatasetVersion,
    Evaluation,
    EvaluationClass,
    EvaluationImage,
    ModelVersion,
    Task,
    VersionImage,
)
from studio.evaluation.files import CLASS_COLUMNS, load_label_png

@dataclass(frozen=True)
class EvaluationSummary:
    """An evaluation as lists show it."""

    id: int
    model: str
    model_version_id: int
    dataset_version_id: int | None
    dataset: str  # "shelves v3" ("" when the dataset version is gone); sequence: the keypoint dataset
    split: str
    task: str
    summary: dict[str, Any]
    image_count: int
    seconds: float
    created: str


@dataclass(frozen=True)
class EvaluationView:
    """One evaluation for the Evaluate page.

    confusion: (C, C) int64 pooled matrix (rows = ground truth); class_names: its positions;
    class_rows: one dict per class (EvaluationClass fields, plus ``ap`` for instance models
    when known); folder: its files (summary_metrics.csv ... confusion_matrix.png).
    """

    id: int
    model: str
    model_version_id: int
    dataset_version_id: int | None
    split: str
    task: str
    summary: dict[str, Any]
    class_rows: list[dict[str, Any]]
    confusion: np.ndarray
    class_names: list[str]
    image_count: int
    seconds: float
    folder: Path
    created: str

    @property
    def files(self) -> dict[str, Path]:
        return {p.name: p for p in sorted(self.folder.glob("*")) if p.is_file()} if self.folder.is_dir() else {}


@dataclass(frozen=True)
class EvaluationImageView:
    """One image (or object crop, for classification) of an evaluation."""

    id: int
    version_image_id: int | None
    image_id: int | None  # the live image, for "send to review"
    file_name: str
    image_path: Path | None  # the stored pixels
    score: float | None
    prediction_path: Path | None  # absolute path of the prediction PNG, when stored
    labels: dict[str, Any] | None


def _dataset_labels(session: Any, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.exec(select(DatasetVersion.id, Dataset.name, DatasetVersion.version).join(Dataset)
                        .where(col(DatasetVersion.id).in_(ids))).all()
    from studio.naming import data_version

    return {i: data_version(name, number) for i, name, number in rows}


def list_evaluations(model: str | int | ModelVersion | None = None) -> list[EvaluationSummary]:
    """Evaluations newest first (of one model version when given)."""
    from studio.inference import as_version

    query = select(Evaluation, ModelVersion.name).join(ModelVersion).order_by(col(Evaluation.id).desc())
    if model is not None:
        query = query.where(Evaluation.model_version_id == as_version(model).id)
    with session_scope() as session:
        rows = session.exec(query).all()
        labels = _dataset_labels(session, {e.dataset_version_id for e, _ in rows if e.dataset_version_id})
        return [EvaluationSummary(e.id, name, e.model_version_id, e.dataset_version_id,  # type: ignore[arg-type]
                                  labels.get(e.dataset_version_id or -1, "") or str(e.summary.get("keypoint_dataset", "")),
                                  e.split, e.task, dict(e.summary),
                                  e.image_count, e.seconds, e.created_at.strftime("%Y-%m-%d %H:%M"))
                for e, name in rows]


def _evaluation(session: Any, eval_id: int) -> tuple[Evaluation, ModelVersion]:
    evaluation = get_row(session, Evaluation, eval_id,
                         f"no evaluation {eval_id}; see `studio evaluations` or the Evaluate page")
    return evaluation, session.get(ModelVersion, evaluation.model_version_id)


def get_evaluation(eval_id: int) -> EvaluationView:
    """The evaluation ``eval_id`` with its per-class rows and pooled matrix."""
    import csv as _csv

    from studio.registry import model_dir, output_names

    with session_scope() as session:
        evaluation, version = _evaluation(session, eval_id)
        classes = session.exec(select(EvaluationClass).where(EvaluationClass.evaluation_id == eval_id)
                               .order_by(EvaluationClass.class_index)).all()
        rows = [{k: getattr(c, k) for k in CLASS_COLUMNS} for c in classes]
        folder = model_dir(version) / "evaluations" / str(eval_id)
        task = evaluation.task
        names = output_names("semantic" if task in (Task.semantic.value, Task.instance.value) else task,
                             version.classes)
        view = dict(id=eval_id, model=version.name, model_version_id=version.id,
                    dataset_version_id=evaluation.dataset_version_id, split=evaluation.split, task=task,
                    summary=dict(evaluation.summary), confusion=np.asarray(evaluation.confusion, np.int64),
                    image_count=evaluation.image_count, seconds=evaluation.seconds,
                    created=evaluation.created_at.strftime("%Y-%m-%d %H:%M"))
    per_class_csv = folder / "per_class_metrics.csv"
    if per_class_csv.is_file():  # extra columns (instance AP) live only in the CSV
        with per_class_csv.open() as f:
            extra = {int(r["class_index"]): r for r in _csv.DictReader(f)}
        for row in rows:
            if "ap" in extra.get(row["class_index"], {}):
                value = extra[row["class_index"]]["ap"]
                row["ap"] = float(value) if value not in ("", None) else None
    if len(names) != len(view["confusion"]):
        names = [r["name"] for r in rows] or [str(k) for k in range(len(view["confusion"]))]
    return EvaluationView(class_rows=rows, class_names=names, folder=folder, **view)  # type: ignore[arg-type]


def _image_views(session: Any, images: Sequence[EvaluationImage]) -> list[EvaluationImageView]:
    from studio.datasets import resolve_stored_path
    from studio.registry import models_root

    vids = {i.version_image_id for i in images if i.version_image_id is not None}
    stored = {vid: (image_id, path) for vid, image_id, path in session.exec(
        select(VersionImage.id, VersionImage.image_id, VersionImage.stored_path)
        .where(col(VersionImage.id).in_(vids))).all()} if vids else {}
    root = models_root()
    out = []
    for i in images:
        image_id, path = stored.get(i.version_image_id, (None, None))  # type: ignore[arg-type]
        out.append(EvaluationImageView(i.id, i.version_image_id, image_id, i.file_name,  # type: ignore[arg-type]
                                       resolve_stored_path(path) if path else None, i.score,
                                       root / i.prediction_path if i.prediction_path else None,
                                       dict(i.labels) if i.labels else None))
    return out


def evaluation_images(eval_id: int) -> list[EvaluationImageView]:
    """Every image row of an evaluation in evaluation order."""
    with session_scope() as session:
        _evaluation(session, eval_id)
        rows = session.exec(select(EvaluationImage).where(EvaluationImage.evaluation_id == eval_id)
                            .order_by(EvaluationImage.id)).all()
        return _image_views(session, rows)


def images_for_confusion(eval_id: int, gt_class: int, pred_class: int) -> list[tuple[EvaluationImageView, int]]:
    """Click-through from the pooled matrix cell (gt_class, pred_class) (matrix positions):
    the images with such pixels (classification: samples), most pixels first, with the count."""
    from studio.evaluation import confusion_pairs

    with session_scope() as session:
        evaluation, _ = _evaluation(session, eval_id)
        size = len(evaluation.confusion)
        for what, c in (("gt_class", gt_class), ("pred_class", pred_class)):
            if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 0 <= c < size:
                raise InvalidInput(f"{what}: expected a class position 0..{size - 1}, got {c!r}")
        rows = session.exec(select(EvaluationImage).where(EvaluationImage.evaluation_id == eval_id)
                            .order_by(EvaluationImage.id)).all()
        if evaluation.task in (Task.classification.value, Task.sequence.value):
            hits = [(r, 1) for r in rows if r.labels and r.labels.get("true") == gt_class
                    and r.labels.get("pred") == pred_class]
        else:
            with_cm = [r for r in rows if r.confusion is not None]
            if not with_cm:
                return []
            cms = np.asarray([r.confusion for r in with_cm], np.int64)
            order = confusion_pairs(cms, int(gt_class), int(pred_class))
            hits = [(with_cm[k], int(cms[k, gt_class, pred_class])) for k in order]
        views = _image_views(session, [r for r, _ in hits])
        return [(v, count) for v, (_, count) in zip(views, hits)]


def worst_images(eval_id: int, n: int = 20) -> list[EvaluationImageView]:
    """The ``n`` lowest-scoring images (per-image mIoU; classification: wrong first), unscorable last."""
    from studio.evaluation import worst_first

    with session_scope() as session:
        _evaluation(session, eval_id)
        rows = session.exec(select(EvaluationImage).where(EvaluationImage.evaluation_id == eval_id)
                            .order_by(EvaluationImage.id)).all()
        scores = np.array([np.nan if r.score is None else r.score for r in rows], np.float64)
        order = worst_first(scores)[: max(int(n), 0)]
        return _image_views(session, [rows[k] for k in order])


def _find_image(eval_id: int, image: str | int) -> EvaluationImage:
    with session_scope() as session:
        _evaluation(session, eval_id)
        query = select(EvaluationImage).where(EvaluationImage.evaluation_id == eval_id)
        query = query.where(EvaluationImage.version_image_id == int(image)) if isinstance(image, (int, np.integer)) \
            else query.where(EvaluationImage.file_name == str(image))
        row = session.exec(query).first()
    if row is None:
        raise NotFound(f"evaluation {eval_id} has no image {image!r} (expected a file name or a version image id)")
    return row


def prediction_path(eval_id: int, image: str | int) -> Path | None:
    """Absolute path of the stored prediction PNG of ``image`` (its file name, or its version
    image id) in an evaluation; None when predictions were not stored."""
    from studio.registry import models_root

    row = _find_image(eval_id, image)
    return models_root() / row.prediction_path if row.prediction_path else None


def load_prediction(eval_id: int, image: str | int) -> np.ndarray | None:
    """The stored prediction of ``image`` as (H, W) int64 class indices (None when not stored)."""
    path = prediction_path(eval_id, image)
    return load_label_png(path) if path is not None and path.is_file() else None


def latest_evaluation(model: str | int | ModelVersion, dataset_version_id: int, split: str) -> int | None:
    """The newest evaluation of a version on (dataset version, split), or None."""
    from studio.inference import as_version

    version = as_version(model)
    with session_scope() as session:
        return session.exec(select(Evaluation.id).where(Evaluation.model_version_id == version.id,
                                                        Evaluation.dataset_version_id == dataset_version_id,
                                                        Evaluation.split == split)
                            .order_by(col(Evaluation.id).desc())).first()


def latest_keypoint_evaluation(model: str | int | ModelVersion, keypoint_dataset: str, split: str) -> int | None:
    """The newest evaluation of a sequence version on (keypoint dataset version, e.g. "signs v2", split), or None."""
    from studio.inference import as_version

    version = as_version(model)
    with session_scope() as session:
        rows = session.exec(select(Evaluation.id, Evaluation.summary).where(
            Evaluation.model_version_id == version.id, Evaluation.split == split,
            col(Evaluation.dataset_version_id).is_(None)).order_by(col(Evaluation.id).desc())).all()
    return next((int(i) for i, summary in rows if (summary or {}).get("keypoint_dataset") == keypoint_dataset), None)
