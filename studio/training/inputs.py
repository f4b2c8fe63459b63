"""The one rule for what a training run reads: the dataset version is fixed when the job is
queued (or started here), after checking the dataset can be trained on at all.

``fix_dataset_version(config)`` is called by ``TrainSpec.prepare`` / ``TuneSpec.prepare`` in the
process that queues the job, so a run reads exactly what the user saw when they pressed
Train, whatever is labelled while it waits in the queue; a retried job keeps its version.
Torch-free: the UI process calls it.
"""

from __future__ import annotations

import dataclasses

from sqlmodel import func, select

from studio.db import session_scope
from studio.errors import InvalidInput
from studio.naming import data_version, data_versions
from studio.tables import Annotation, AnnotationStatus, DatasetVersion, Image, LabelClass
from studio.training.config import TrainConfig


def check_trainable(dataset: str) -> None:
    """InvalidInput, with what to do, unless image dataset ``dataset`` has at least one class
    (besides a background) and one accepted annotation; checked before any snapshot is taken."""
    from studio.datasets import get_dataset

    with session_scope() as session:
        ds = get_dataset(session, dataset)
        classes = session.exec(select(func.count()).select_from(LabelClass)
                               .where(LabelClass.dataset_id == ds.id, LabelClass.index != 0)).one()
        accepted = session.exec(select(func.count()).select_from(Annotation).join(Image)
                                .where(Image.dataset_id == ds.id,
                                       Annotation.status == AnnotationStatus.accepted.value)).one()
    if not classes:
        raise InvalidInput(f"dataset {dataset!r} has no classes yet, so there is nothing to learn: add classes "
                           f"on the Label or Datasets page (or `studio classes add {dataset} NAME`) and label "
                           "some objects first")
    if not accepted:
        raise InvalidInput(f"dataset {dataset!r} has no accepted annotations yet (drafts do not count): label "
                           "and accept some objects on the Label page first")


def check_version_trainable(dataset: str, version: int) -> None:
    """InvalidInput unless version ``version`` of ``dataset`` holds classes and annotations."""
    from studio.datasets import get_dataset

    with session_scope() as session:
        ds = get_dataset(session, dataset)
        dv = session.exec(select(DatasetVersion).where(DatasetVersion.dataset_id == ds.id,
                                                       DatasetVersion.version == version)).first()
        if dv is None:
            known = session.exec(select(DatasetVersion.version).where(DatasetVersion.dataset_id == ds.id)
                                 .order_by(DatasetVersion.version)).all()
            raise InvalidInput(f"dataset {dataset!r} has no version {version} (data v{version}); versions: "
                               f"{data_versions(known)}")
        if not any(c.get("index") != 0 for c in dv.classes) or not dv.annotation_count:
            raise InvalidInput(f"{data_version(dataset, version)} has no classes or no accepted annotations; "
                               "nothing to train on")


def fix_dataset_version(config: TrainConfig) -> TrainConfig:
    """``config`` with ``dataset_version`` set: checked, and a snapshot taken when none is named
    (image datasets: ``studio.datasets.snapshot``; keypoint datasets: their own snapshot). A
    dataset whose content has not changed since its latest version reuses that version."""
    if not config.dataset:
        raise InvalidInput("config dataset is empty; expected the name of the dataset to train on")
    if config.task == "sequence":
        if config.dataset_version is not None:
            return config
        from studio.frame_clips import CLIP_ARCHITECTURES

        if config.architecture in CLIP_ARCHITECTURES:  # raw-frame models read clip datasets (studio.frame_clips)
            from studio.frame_clips import snapshot as frames_snapshot

            return dataclasses.replace(config, dataset_version=frames_snapshot(config.dataset, note="taken for training"))
        from studio.keypoints.dataset import snapshot as keypoint_snapshot

        return dataclasses.replace(config, dataset_version=keypoint_snapshot(config.dataset,
                                                                             note="taken for training"))
    if config.dataset_version is not None:
        check_version_trainable(config.dataset, config.dataset_version)
        return config
    check_trainable(config.dataset)
    from studio.datasets import snapshot

    return dataclasses.replace(config, dataset_version=snapshot(config.dataset, note="taken for training").version)
