"""Task "sequence": real training runs of the keypoint sign classifiers on synthetic signs and on
real MediaPipe point-history recordings, through ``run_training`` (snapshot, train, register)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from studio.errors import InvalidInput, NotFound
from studio.keypoints.dataset import add_clips, create_keypoint_dataset, list_versions, snapshot, version_info
from studio.keypoints.synthetic import generate_signs
from studio.training.config import TrainConfig

SMALL = {"sign_transformer": {"emb_dim": 32, "num_heads": 4, "num_layers": 1, "positions": "sinusoidal",
                              "dropout": 0.0},
         "sign_gru": {"hidden_dim": 32, "num_layers": 1, "dropout": 0.0}}


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """These nets are tiny: one CPU thread is as fast, and far faster when other work shares the cores
    (OpenMP threads spin-waiting for a busy core made the same tests ~9x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _config(architecture: str, dataset: str, **fields: object) -> TrainConfig:
    base = dict(task="sequence", architecture=architecture, dataset=dataset, sequence_length=20, epochs=12,
                batch_size=8, lr=1e-2, model_kwargs=dict(SMALL[architecture]), augment={}, num_workers=0, seed=0)
    return TrainConfig(**{**base, **fields})


def _synthetic(name: str = "signs", glosses: int = 6, clips: int = 24, length: int = 20) -> None:
    create_keypoint_dataset(name, "hands_pose156")
    add_clips(name, generate_signs(glosses, clips, length, "hands_pose156", seed=0))


@pytest.mark.parametrize("architecture", ["sign_transformer", "sign_gru"])
def test_sign_classifiers_learn_synthetic_signs_and_register(studio_env: dict[str, str], architecture: str) -> None:
    from studio.nets import create_model
    from studio.registry import load_checkpoint, model_dir, output_names
    from studio.training.run import run_training

    _synthetic()
    config = _config(architecture, "signs")  # no dataset_version: the run takes a snapshot
    outcome = run_training(config, f"seq-{architecture}")
    result, version = outcome.result, outcome.version
    assert version.config["dataset_version"] == 1 and list_versions("signs") == [1]  # the run's own copy of the config
    assert version.config["backbone"] == ""  # the image-net default backbone does not apply
    accuracies = [h.metrics["accuracy"] for h in result.history]
    assert result.best_metric >= 0.9, accuracies  # 6 glosses: chance is 1/6
    assert max(h.metrics["category_accuracy"] for h in result.history) >= 0.8
    glosses = version_info("signs", 1).glosses
    assert version.task == "sequence" and output_names("sequence", version.classes) == glosses
    assert version.metrics["best_accuracy"] == pytest.approx(result.best_metric)

    folder = model_dir(version)
    pre = json.loads((folder / "preprocessing.json").read_text())
    assert (pre["layout"], pre["dim"], pre["sequence_length"]) == ("hands_pose156", 156, 20)
    assert pre["tensor_layout"] == "BTD" and pre["input_kind"] == "keypoints"
    header = (folder / "training_log.csv").read_text().splitlines()[0]
    assert header.startswith("epoch,train_loss,val_loss,accuracy,macro_f1,category_accuracy,category_macro_f1")
    # the checkpoint alone rebuilds the model: options, categories and layout travel in its config
    checkpoint = load_checkpoint(folder / version.files["best"])
    saved = checkpoint["config"]
    assert saved["categories"] == ["round", "straight"] and saved["layout"]["name"] == "hands_pose156"
    assert saved["keypoint_dataset_version"] == 1 and saved["model_kwargs"]["input_dim"] == 156
    model = create_model(saved["architecture"], num_classes=saved["num_outputs"], **saved["model_kwargs"])
    model.load_state_dict(checkpoint["model"])
    clips = version_info("signs", 1).split("val")
    from studio.keypoints.layout import pad_batch, resample

    x, lengths = pad_batch([resample(c.load(), 20) for c in clips])
    with torch.no_grad():
        predicted = model.eval()(x, lengths)["gloss"].argmax(1).numpy()
    truth = np.array([glosses.index(c.gloss) for c in clips])
    assert (predicted == truth).mean() == pytest.approx(result.best_metric)


def test_real_point_history_gestures_are_learned_well_above_chance(studio_env: dict[str, str],
                                                                   shared_fixtures: Path) -> None:
    from studio.keypoints.importers import import_path
    from studio.training.run import run_training

    import_path("gestures", shared_fixtures / "mediapipe_hand_keypoints_csv" / "point_history_subset.csv")
    version = version_info("gestures", snapshot("gestures"))
    val = version.split("val")
    chance = 1 / len(version.glosses)  # 4 gestures: Stop, Clockwise, Counter Clockwise, Move
    majority = max(sum(c.gloss == g for c in val) for g in version.glosses) / len(val)
    outcome = run_training(_config("sign_gru", "gestures", dataset_version=version.version, sequence_length=16),
                           "gestures")
    assert outcome.result.best_metric >= max(2 * chance, majority + 0.2), \
        [h.metrics["accuracy"] for h in outcome.result.history]
    assert [c["name"] for c in outcome.version.classes] == ["Stop", "Clockwise", "Counter Clockwise", "Move"]
    assert "category_accuracy" not in outcome.result.history[-1].metrics  # no categories in this data


def test_prepare_refuses_what_cannot_train(studio_env: dict[str, str]) -> None:
    from studio.training.tasks import prepare

    with pytest.raises(NotFound, match="no keypoint dataset named 'nope'"):
        prepare(_config("sign_gru", "nope"))
    _synthetic(glosses=3, clips=4, length=8)
    with pytest.raises(InvalidInput, match="architecture 'unet' does not read keypoint sequences; expected one of "
                                           "sign_gru, sign_transformer"):
        prepare(TrainConfig(task="sequence", architecture="unet", dataset="signs"))
    with pytest.raises(InvalidInput, match="sign_gru has no backbone"):
        prepare(_config("sign_gru", "signs", backbone="resnet18"))
    with pytest.raises(InvalidInput, match="model_kwargs input_dim=126 does not match the dataset"):
        prepare(_config("sign_gru", "signs", model_kwargs={"input_dim": 126}))
    with pytest.raises(InvalidInput, match="max_len=10 is below sequence_length 20"):
        prepare(_config("sign_transformer", "signs", model_kwargs={"max_len": 10}))
    with pytest.raises(NotFound, match="has no version 7"):
        prepare(_config("sign_gru", "signs", dataset_version=7))
    setup = prepare(_config("sign_gru", "signs", augment={"rotate": 15.0, "scale": 0.8, "hflip": 0.5}))
    assert (setup.task, setup.image_input, len(setup.classes)) == ("sequence", False, 3)
    batch = setup.collate([setup.train_set[i] for i in range(2)])
    assert [tuple(t.shape) for t in batch] == [(2, 20, 156), (2,), (2,), (2,)]
    setup.train_set.set_epoch(1)
    first = setup.train_set[0][0]
    setup.train_set.set_epoch(2)
    assert not torch.equal(first, setup.train_set[0][0])  # augmentation differs per epoch...
    setup.train_set.set_epoch(1)
    assert torch.equal(first, setup.train_set[0][0])  # ...and repeats for the same (seed, epoch)
    assert torch.isfinite(setup.compute_loss(setup.model, batch, torch.device("cpu")))
