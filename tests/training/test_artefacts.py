"""Lean, honest artefacts: best.pt holds the weights (and what evaluation needs), last.pt the
resume state; a registered version shares its run's files (hard links, one copy on disk);
resume still works from the run folder; a snapshot of unchanged data reuses the latest
dataset version, a change makes a new one. Real SQLite, a real (tiny) CNN, real files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from studio.training.config import TrainConfig


@pytest.fixture
def shelves(studio_env: dict[str, str], tmp_path: Path) -> str:
    from studio.datasets import ingest_doc
    from studio.demo import generate_demo

    ingest_doc(generate_demo(tmp_path / "demo", n_images=4, seed=1, width=160, height=120), dataset="shelves")
    return "shelves"


def _config(**overrides: object) -> TrainConfig:
    base = {"task": "classification", "architecture": "small_cnn", "backbone": "", "dataset": "shelves",
            "epochs": 1, "batch_size": 8, "image_size": 32, "num_workers": 0, "augment": {}}
    return TrainConfig.from_dict({**base, **overrides})


def test_a_second_train_on_unchanged_data_reuses_the_snapshot_and_a_change_makes_a_new_one(shelves: str) -> None:
    from sqlmodel import select

    from studio.datasets import dataset_stats, take_snapshot
    from studio.db import session_scope
    from studio.jobs.kinds import TrainSpec
    from studio.tables import Annotation, DatasetVersion

    first = TrainSpec(config=_config()).prepare()
    second = TrainSpec(config=_config()).prepare()  # nothing changed: the same version, no copy
    assert first.config.dataset_version == second.config.dataset_version == 1
    assert [v["version"] for v in dataset_stats(shelves).versions] == [1]
    assert second.describe() == "train small_cnn on shelves (data v1)"  # a dataset version, named as one
    with session_scope() as session:  # a label becomes a draft: what training reads changed
        session.exec(select(Annotation).order_by(Annotation.id)).first().status = "draft"
    changed = TrainSpec(config=_config()).prepare()
    assert changed.config.dataset_version == 2
    again = take_snapshot(shelves)
    assert again.reused and again.version.version == 2 and again.label == "shelves (data v2)"
    assert not take_snapshot(shelves, reuse=False).reused  # asked for explicitly: a new version anyway
    with session_scope() as session:
        fingerprints = session.exec(select(DatasetVersion.fingerprint).order_by(DatasetVersion.version)).all()
    assert len(set(fingerprints)) == 2 and fingerprints[1] == fingerprints[2] and all(len(f) == 64 for f in fingerprints)


def test_a_version_made_before_fingerprints_is_fingerprinted_once_and_reused(shelves: str) -> None:
    from sqlmodel import select

    from studio.datasets import snapshot, take_snapshot
    from studio.db import session_scope
    from studio.tables import DatasetVersion

    snapshot(shelves)
    with session_scope() as session:  # as a database migrated from 0005 has it
        session.exec(select(DatasetVersion)).one().fingerprint = ""
    assert take_snapshot(shelves).reused


def test_best_is_lean_last_resumes_and_the_registry_shares_the_run_files(shelves: str) -> None:
    from studio.evaluation.run import evaluate_version
    from studio.registry import downloads, load_checkpoint, model_dir, model_file
    from studio.training.run import run_dir_for, run_training

    config = TrainConfig.from_dict({**_config().to_dict(), "dataset_version": None})
    outcome = run_training(config, "lean")
    version, run_dir = outcome.version, run_dir_for("lean")
    best, last = load_checkpoint(model_file(version, "best")), load_checkpoint(model_file(version, "last"))
    assert set(best) == {"model", "epoch", "best_metric", "config"}  # no optimizer, no scheduler
    assert {"optimizer", "scheduler"} <= set(last) and last["epoch"] == 1
    assert os.path.getsize(model_file(version, "best")) < os.path.getsize(model_file(version, "last"))
    for role, name in (("best", "best.pt"), ("last", "last.pt"), ("training_log", "training_log.csv")):
        kept, run_file = os.stat(model_dir(version) / version.files[role]), os.stat(run_dir / name)
        assert (kept.st_dev, kept.st_ino) == (run_file.st_dev, run_file.st_ino), role  # one file, two names
    assert evaluate_version(version.name) > 0  # evaluation reads the lean best.pt
    assert [role for role, _ in downloads(version)] == ["best", "training_log"]  # never the resume state

    resumed = run_training(TrainConfig.from_dict({**config.to_dict(), "dataset_version": 1, "epochs": 2}), "lean")
    assert resumed.result.resumed_from == 1 and resumed.result.epochs_run == 2
    assert load_checkpoint(model_file(version, "last"))["epoch"] == 1  # the first version's files never change
    assert load_checkpoint(model_file(resumed.version, "last"))["epoch"] == 2
