"""Whole training runs on CPU: it learns (and does not learn broken labels), resume equals an
uninterrupted run, YOLO trains offline, a search registers its best trial, and the worker
cancels, resumes and reports a training job. Real smp / ultralytics / optuna, real SQLite."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from studio.training.config import TrainConfig
from studio.training.loop import Cancelled, TrainHooks


def load_demo(root: Path, n_images: int, size: int, *, seed: int = 1, shuffle_classes: bool = False) -> int:
    """Demo shelf scenes (size*2 x size*1.5) as dataset 'shelves'; returns the snapshot's version.
    ``shuffle_classes`` gives every object a random class: labels that carry no signal."""
    from studio.datasets import ingest_doc, snapshot
    from studio.demo import DEMO_CLASSES, generate_demo

    doc = generate_demo(root / "demo", n_images=n_images, seed=seed, width=size * 2, height=size * 3 // 2)
    if shuffle_classes:
        rng = random.Random(0)
        for ann in doc.annotations:
            ann.class_name = rng.choice(DEMO_CLASSES).name
    ingest_doc(doc, dataset="shelves")
    return snapshot("shelves").version


def unet_config(version: int, **overrides: object) -> TrainConfig:
    base = {"architecture": "unet", "backbone": "resnet18", "dataset": "shelves", "dataset_version": version,
            "epochs": 18, "batch_size": 4, "image_size": 128, "num_workers": 0, "lr": 5e-3,
            "augment": {"hflip": 0.5}}
    return TrainConfig.from_dict({**base, **overrides})


def test_unet_learns_the_demo_scenes_and_not_broken_labels(studio_env: dict[str, str], tmp_path: Path) -> None:
    from studio.registry import get_model, load_checkpoint, model_dir
    from studio.training.run import run_training

    version = load_demo(tmp_path, 24, 128)
    outcome = run_training(unet_config(version), "learns")
    assert outcome.result.best_metric >= 0.85, f"val mIoU {outcome.result.best_metric:.3f}"
    model = get_model(outcome.version.id)
    assert model.name.startswith("unet_resnet18_shelves_v1.0.0_") and model.task == "semantic"
    assert model.metrics["best_miou"] == pytest.approx(outcome.result.best_metric)
    folder = model_dir(model)
    for name in ("config.yaml", "metrics.json", "classes.json", "preprocessing.json", "training_log.csv"):
        assert (folder / name).is_file(), name
    checkpoint = load_checkpoint(folder / model.files["best"])  # lean: the weights and what reads them
    assert set(checkpoint) == {"model", "epoch", "best_metric", "config"}
    assert set(load_checkpoint(folder / model.files["last"])) >= {"model", "optimizer", "scheduler", "epoch"}
    rows = (folder / "training_log.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,train_loss,val_loss,miou") and len(rows) == 19

    from studio.db import session_scope
    from studio.datasets import get_dataset
    from studio.tables import Dataset

    with session_scope() as session:  # a second dataset whose labels are noise
        session.delete(session.get(Dataset, get_dataset(session, "shelves").id))
    broken = load_demo(tmp_path / "broken", 24, 128, shuffle_classes=True)
    noise = run_training(unet_config(broken, epochs=8), "broken", register=False)
    assert noise.result.best_metric < 0.6, f"random labels reached val mIoU {noise.result.best_metric:.3f}"


def test_resume_after_a_stop_equals_an_uninterrupted_run(studio_env: dict[str, str], tmp_path: Path) -> None:
    from studio.registry import load_checkpoint
    from studio.training.run import run_dir_for, run_training

    version = load_demo(tmp_path, 6, 80)
    # two loader workers kept across epochs, reading the version's input cache (built by the first run)
    config = unet_config(version, epochs=3, image_size=64, augment={"hflip": 0.5, "rotate": 10.0, "color_jitter": 0.2},
                         num_workers=2)
    straight = run_training(config, "straight", register=False)

    finished: list[int] = []  # stop at the first step after epoch 2 is saved
    hooks = TrainHooks(on_epoch=lambda record: finished.append(record.epoch), should_stop=lambda: 2 in finished)
    with pytest.raises(Cancelled, match="epoch 3"):
        run_training(config, "interrupted", hooks, register=False)
    assert load_checkpoint(run_dir_for("interrupted") / "last.pt")["epoch"] == 2
    resumed = run_training(config, "interrupted", register=False)
    assert resumed.result.resumed_from == 2 and resumed.result.epochs_run == 3

    a = load_checkpoint(run_dir_for("straight") / "last.pt")["model"]
    b = load_checkpoint(run_dir_for("interrupted") / "last.pt")["model"]
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-5), key
    assert resumed.result.best_metric == pytest.approx(straight.result.best_metric, abs=1e-5)
    log = (run_dir_for("interrupted") / "training_log.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in log[1:]] == ["1", "2", "3"]  # no duplicated epochs
    assert log[0].endswith(",lr,seconds,data_stall")
    assert all(0 <= float(line.split(",")[-1]) <= 1 for line in log[1:])  # the share of time spent waiting for data
    assert (tmp_path / "data" / "cache" / "shelves" / f"v{version}" / "64" / "manifest.json").is_file()


def test_yolo_trains_offline_and_registers_a_weights_only_checkpoint(studio_env: dict[str, str],
                                                                      tmp_path: Path) -> None:
    from studio.nets import create_model
    from studio.registry import load_checkpoint, model_file
    from studio.training.run import run_training

    version = load_demo(tmp_path, 6, 80)
    config = TrainConfig(task="instance", architecture="yolov8-seg", backbone="n", dataset="shelves",
                         dataset_version=version, epochs=2, batch_size=4, image_size=128, num_workers=0)
    epochs: list[int] = []
    outcome = run_training(config, "yolo", TrainHooks(on_epoch=lambda r: epochs.append(r.epoch)))
    assert epochs == [1, 2]
    version_row = outcome.version
    assert version_row.task == "instance" and [c["name"] for c in version_row.classes] == [
        "box", "jar", "bottle", "can", "tape"]
    checkpoint = load_checkpoint(model_file(version_row, "best"))  # weights_only=True inside
    model = create_model("yolov8-seg", num_classes=5, backbone="n")
    model.load_state_dict(checkpoint["model"], strict=True)
    log = (outcome.result.run_dir / "training_log.csv").read_text().splitlines()
    assert log[0] == "epoch,train_loss,val_loss,map50,map,box_map50,lr,seconds" and len(log) == 3


def test_search_records_trials_and_registers_the_best(studio_env: dict[str, str], tmp_path: Path) -> None:
    import optuna

    from studio.training.tune import optuna_storage_url, run_search

    version = load_demo(tmp_path, 6, 80)
    config = unet_config(version, epochs=1, image_size=64)
    outcome = run_search(config, "search", 2, {"lr": [1e-4, 1e-2], "optimizer": ["adam", "sgd"]})
    assert [t.state for t in outcome.trials] == ["COMPLETE", "COMPLETE"]
    assert outcome.best.value == max(t.value for t in outcome.trials)
    assert outcome.version is not None and outcome.version.metrics["tune_best_trial"] == outcome.best.number
    beside = tmp_path if studio_env["STUDIO_DB_URL"].startswith("sqlite") else tmp_path / "data"
    assert Path(optuna_storage_url().removeprefix("sqlite:///")).parent == beside  # by annotations.db, else data dir
    study = optuna.load_study(study_name=outcome.study_name, storage=outcome.storage)
    assert len(study.trials) == 2 and {"lr", "optimizer"} <= set(study.best_params)
    lines = (tmp_path / "data" / "runs" / "search" / "trials.csv").read_text().splitlines()
    assert len(lines) == 3


def test_search_space_refuses_unknown_fields(studio_env: dict[str, str]) -> None:
    from studio.errors import InvalidInput
    from studio.training.tune import check_space

    with pytest.raises(InvalidInput, match="'learning_rate' is not a training config field"):
        check_space({"learning_rate": [1e-4, 1e-2]})
    with pytest.raises(InvalidInput, match=r"expected \[low, high\]"):
        check_space({"lr": 0.1})
