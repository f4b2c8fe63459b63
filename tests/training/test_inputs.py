"""The one rule for what a training run reads (studio.training.inputs): the dataset version is
fixed when the job is queued, after checking there is something to learn; nothing is left
behind when the check fails. Real SQLite, real imports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from studio.errors import InvalidInput
from studio.training.config import TrainConfig


def _photos(folder: Path, n: int = 3) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        PILImage.fromarray(rng.integers(0, 255, (48, 64, 3), np.uint8)).save(folder / f"p{i}.png")
    return folder


def _versions(dataset: str) -> int:
    from studio.datasets import dataset_stats

    return len(dataset_stats(dataset).versions)


def _config(**overrides: object) -> TrainConfig:
    return TrainConfig.from_dict({"dataset": "photos", "image_size": 64, **overrides})


def test_a_dataset_without_classes_is_refused_before_any_snapshot(studio_env: dict[str, str], tmp_path: Path) -> None:
    from studio.jobs import enqueue, list_jobs
    from studio.jobs.kinds import TrainSpec
    from studio.training.inputs import fix_dataset_version
    from studio.transfer import import_dataset

    import_dataset(fmt="images", source=_photos(tmp_path / "photos"), dataset="photos")
    with pytest.raises(InvalidInput, match="has no classes yet.*studio classes add photos NAME"):
        fix_dataset_version(_config())
    with pytest.raises(InvalidInput, match="has no classes yet"):
        enqueue(TrainSpec(config=_config()))
    assert _versions("photos") == 0 and list_jobs() == []  # no snapshot, no job


def test_classes_without_accepted_annotations_are_refused(studio_env: dict[str, str], tmp_path: Path) -> None:
    from studio import annotations as ann
    from studio import classes as class_ops
    from studio.training.inputs import fix_dataset_version
    from studio.transfer import import_dataset

    report = import_dataset(fmt="images", source=_photos(tmp_path / "photos"), dataset="photos", classes=["can", "jar"])
    assert report.classes_added == ["can", "jar"]  # --classes: created with the import, in one transaction
    image = ann.image_queue("photos")[0]
    can = next(c for c in class_ops.list_classes(dataset="photos") if c.name == "can")
    mask = np.zeros((48, 64), bool)
    mask[10:20, 10:30] = True
    ann.add_annotation(image_id=image.id, class_id=can.id, mask=mask, source="manual", status="draft")
    with pytest.raises(InvalidInput, match="no accepted annotations yet \\(drafts do not count\\)"):
        fix_dataset_version(_config())
    assert _versions("photos") == 0


def test_a_trainable_dataset_gets_its_version_fixed_once(studio_env: dict[str, str], tmp_path: Path) -> None:
    from studio.datasets import ingest_doc
    from studio.demo import generate_demo
    from studio.jobs.kinds import TrainSpec

    ingest_doc(generate_demo(tmp_path / "demo", n_images=3, seed=1), dataset="photos")
    spec = TrainSpec(config=_config()).prepare()
    assert spec.config.dataset_version == 1 and _versions("photos") == 1
    assert spec.prepare() == spec and _versions("photos") == 1  # a retried job keeps its version
    with pytest.raises(InvalidInput, match=r"has no version 7 \(data v7\); versions: data v1"):
        TrainSpec(config=_config(dataset_version=7)).prepare()
