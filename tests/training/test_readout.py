"""Readable training: the monitored metric named, chance levels per task, the train job's own
evaluation (so Models and Evaluate agree) and the warning of a run that learned nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from studio.naming import metric_label, metrics_label, monitored_label
from studio.training.chance import MARGIN, chance_level, chance_value


@pytest.mark.parametrize(("key", "shown"), [
    ("best_miou", "best val mIoU"),  # the monitored metric that picked the checkpoint
    ("val_pixel_accuracy", "val pixel accuracy"),  # the last epoch's val metrics
    ("eval_miou", "val mIoU (Evaluate)"),  # the train job's own evaluation
    ("chance_accuracy", "chance accuracy"),
    ("best_epoch", "best epoch"),  # not a metric
    ("best_map50", "best val mask mAP50"),
    ("something_new", "something new"),  # unknown keys still read as words
])
def test_metrics_keys_read_as_words(key: str, shown: str) -> None:
    assert metrics_label(key) == shown


def test_monitored_metric_is_named() -> None:
    assert monitored_label("miou") == "best val mIoU"
    assert metric_label("macro_f1") == "macro F1"


@pytest.mark.parametrize(("metric", "counts", "expected", "how"), [
    # accuracy: always the majority class
    ("accuracy", [10, 30, 60], 0.6, "always predicting 'c', the majority class (60% of val samples)"),
    # mIoU of a constant majority prediction: IoU p for that class, 0 for the 2 other present ones
    ("miou", [60, 30, 10], 0.6 / 3, "always predicting 'a', the majority class (60% of val samples)"),
    # balanced classes: the uniform guess beats the constant one (1/3 / 3 = 0.111 < 1/5 = 0.2)
    ("miou", [1, 1, 1], 1 / 5, "predicting each of the 3 classes equally often at random"),
    ("mean_dice", [50, 50], 1 / 2, "predicting each of the 2 classes equally often at random"),
    ("map50", [5, 5], 0.0, "a model that finds nothing"),  # instance models
])
def test_chance_values(metric: str, counts: list[int], expected: float, how: str) -> None:
    value, text = chance_value(metric, counts, ["a", "b", "c"][:len(counts)])
    assert value == pytest.approx(expected)
    assert text == how


def test_unknown_metric_or_no_counts_has_no_chance_level() -> None:
    assert chance_value("top_secret", [1, 2]) is None
    assert chance_value("accuracy", [0, 0]) is None


def test_at_chance_threshold_and_message() -> None:
    low = chance_level("accuracy", 0.25, [1, 1, 1, 1], ["w", "x", "y", "z"])
    assert low.chance == pytest.approx(0.25) and low.threshold == pytest.approx(0.25 + MARGIN * 0.75)
    assert low.at_chance
    assert low.message().startswith("at chance level: val accuracy 0.250 is below 0.325 (chance 0.250: ")
    high = chance_level("accuracy", 0.9, [1, 1, 1, 1])
    assert not high.at_chance and high.message() == ""
    assert chance_level("miou", float("nan"), [1, 2]).at_chance  # no value: nothing learned


def test_a_run_that_learned_nothing_warns_and_is_evaluated_like_evaluate(studio_env: dict[str, str],
                                                                         tmp_path: Path) -> None:
    from studio.evaluation.views import get_evaluation
    from studio.jobs import run_here
    from studio.jobs.kinds import TrainSpec
    from studio.registry import get_model
    from studio.training.config import TrainConfig
    from studio.training.readout import train_vs_eval_note
    from tests.test_inference import make_dataset

    make_dataset(tmp_path, n_images=4)
    logged: list[str] = []
    config = TrainConfig(architecture="unet", backbone="resnet18", dataset="shelves", dataset_version=1, epochs=1,
                         image_size=64, batch_size=2, num_workers=0, lr=1e-6)  # a step too small to learn
    outcome = run_here(TrainSpec(config=config), log=logged.append)
    evaluation = get_evaluation(outcome.evaluation_id)
    assert evaluation.split == "val" and outcome.eval_metric == pytest.approx(evaluation.summary["miou"])
    pixels = evaluation.confusion.sum(1)
    assert outcome.chance == pytest.approx(chance_value("miou", pixels)[0])
    assert outcome.warning.startswith("at chance level: val mIoU ")
    assert any(line.startswith("WARNING at chance level") for line in logged)
    lines = outcome.lines()
    assert lines[1].startswith("best val mIoU ") and "(training-time)" in lines[1]
    assert lines[2] == f"val mIoU {outcome.eval_metric:.4f} as Evaluate scores it (evaluation {evaluation.id})"
    assert lines[-1] == "WARNING " + outcome.warning
    version = get_model(outcome.model)
    assert version.metrics["eval_miou"] == pytest.approx(outcome.eval_metric)
    assert version.metrics["evaluation_id"] == evaluation.id
    assert version.metrics["chance_miou"] == pytest.approx(outcome.chance)
    note = train_vs_eval_note(version)
    assert note.startswith(f"best val mIoU {outcome.best_metric:.3f} is the training-time value; evaluation "
                           f"#{evaluation.id} scores the same weights on val at {outcome.eval_metric:.3f}")
    if abs(outcome.eval_metric - outcome.best_metric) >= 5e-4:
        assert "padded with black" in note and "64 px square" in note
    assert np.isfinite(outcome.best_metric)
