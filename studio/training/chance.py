"""Chance level: what a model that learned nothing scores on the val split, per task and metric,
so a run that ends there is flagged (in the job result, its log, the pages) instead of
registered silently as if it had learned.

The baselines come from the val split's class counts (pixels per class for segmentation, samples
per class for classifiers and sign models; the rows of an evaluation's confusion matrix):

- **majority**: always predict the most frequent class. Accuracy = its share ``p``; IoU of that
  class = ``p`` (the union is every pixel), 0 for the others, so mIoU = ``p / present`` (present =
  classes in the ground truth; the prediction adds none); Dice / F1 of that class ``2p / (1 + p)``.
- **uniform**: every class equally often at random. Expected IoU of class k with share ``p_k``
  among C classes = ``(p_k / C) / (p_k + 1 / C - p_k / C)``; Dice / F1 = ``2 (p_k / C) / (p_k + 1 / C)``;
  the mean over the C classes (all are predicted).

The chance level of a metric is the better of the two (for accuracy that is always the
majority). Instance models (mask mAP / AP) have chance 0: a model that finds nothing scores 0.
A run is *at chance level* when its value closes less than :data:`MARGIN` of the distance from
chance to a perfect 1.0, e.g. mIoU 0.17 where chance is 0.10 (threshold 0.19).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from studio.naming import metric_label

MARGIN = 0.1  # of the way from chance to 1.0 a run must go to count as having learned
ACCURACIES = ("accuracy", "pixel_accuracy", "category_accuracy")
IOUS = ("miou",)
DICES = ("mean_dice", "macro_f1", "category_macro_f1")
ZERO = ("map50", "map", "box_map50", "ap", "ap50", "ap75")


@dataclass(frozen=True)
class ChanceLevel:
    """The chance level of ``metric`` on a val split and whether ``value`` is at it."""

    metric: str  # the monitored metric ("miou", "accuracy" ...)
    value: float  # what the run scored
    chance: float  # what a model that learned nothing scores
    threshold: float  # below this the run counts as at chance level
    baseline: str  # how the chance level is reached, for people

    @property
    def at_chance(self) -> bool:
        return not self.value >= self.threshold  # NaN counts as at chance

    def message(self) -> str:
        """One line for the job log and result; '' when the run is above chance."""
        if not self.at_chance:
            return ""
        return (f"at chance level: val {metric_label(self.metric)} {self.value:.3f} is below {self.threshold:.3f} "
                f"(chance {self.chance:.3f}: {self.baseline}); the run learned (almost) nothing: train longer, "
                "raise the learning rate, or check the labels")


def chance_value(metric: str, counts: Sequence[float] | np.ndarray, names: Sequence[str] | None = None,
                 unit: str = "samples") -> tuple[float, str] | None:
    """(chance level, how it is reached) of ``metric`` for val class counts ``counts`` (position
    k = class k; ``names`` their names; ``unit`` "pixels" or "samples"); None for a metric
    without a known baseline or no counts at all."""
    if metric in ZERO:
        return 0.0, "a model that finds nothing"
    c = np.asarray(counts, np.float64).ravel()
    total = float(c.sum())
    if total <= 0 or not len(c):
        return None
    p = c / total
    major = int(np.argmax(p))
    who = repr(names[major]) if names is not None and major < len(names) else f"class {major}"
    majority_text = f"always predicting {who}, the majority class ({p[major]:.0%} of val {unit})"
    present = int((c > 0).sum())
    k = len(c)
    if metric in ACCURACIES:
        return float(p[major]), majority_text
    if metric in IOUS:
        majority = float(p[major]) / present
        uniform = float(np.mean((p / k) / (p + 1 / k - p / k)))
    elif metric in DICES:
        majority = 2 * float(p[major]) / (1 + float(p[major])) / present
        uniform = float(np.mean(2 * (p / k) / (p + 1 / k)))
    else:
        return None
    if uniform > majority:
        return uniform, f"predicting each of the {k} classes equally often at random"
    return majority, majority_text


def chance_level(metric: str, value: float, counts: Sequence[float] | np.ndarray,
                 names: Sequence[str] | None = None, unit: str = "samples") -> ChanceLevel | None:
    """The :class:`ChanceLevel` of a run that scored ``value`` on ``metric``; None when the
    metric has no known baseline (see :func:`chance_value`)."""
    found = chance_value(metric, counts, names, unit)
    if found is None:
        return None
    chance, baseline = found
    return ChanceLevel(metric, float(value), chance, chance + MARGIN * (1.0 - chance), baseline)


def uniform_counts(classes: int) -> np.ndarray:
    """Equal counts for ``classes`` classes (when the val split's own counts are not at hand)."""
    return np.ones(max(int(classes), 1))


__all__ = ["ChanceLevel", "MARGIN", "chance_level", "chance_value", "uniform_counts"]
