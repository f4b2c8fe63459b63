"""How versions are named for people, so a dataset version is never read as a model version.

One rule, used by messages, CLI output and pages:

- a **dataset version** (an immutable snapshot of an image or keypoint dataset) is
  ``"<dataset> (data v<N>)"``, e.g. ``shelves (data v3)``: a whole number after "data v";
- a **model version** is its full name, ``unet_resnet18_shelves_v1.0.0_20261130``, or its
  semver with three parts, ``v1.0.0``; never a bare ``v3``.

``data_version("shelves", 3)`` -> ``"shelves (data v3)"``; ``data_versions([1, 2])`` ->
``"data v1, data v2"`` (a list after the dataset name is already said).

Metrics are named for people the same way everywhere: ``metric_label("miou")`` -> ``"mIoU"``,
``monitored_label("miou")`` -> ``"best val mIoU"`` (the metric that picked the checkpoint),
``metrics_label("best_miou")`` -> ``"best val mIoU"``, ``metrics_label("val_pixel_accuracy")``
-> ``"val pixel accuracy"`` (the keys of a model version's ``metrics``).
"""

from __future__ import annotations

from collections.abc import Iterable


def data_version(dataset: str, number: int | None) -> str:
    """``"shelves (data v3)"``; ``"shelves (live data)"`` when ``number`` is None (not frozen yet)."""
    return f"{dataset} (live data)" if number is None else f"{dataset} (data v{int(number)})"


def data_version_short(number: int | None) -> str:
    """``"data v3"`` (``"live data"`` for None): where the dataset's name is already shown."""
    return "live data" if number is None else f"data v{int(number)}"


def data_versions(numbers: Iterable[int]) -> str:
    """``"data v1, data v2"`` ("none" when empty)."""
    return ", ".join(data_version_short(n) for n in numbers) or "none"


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """``"1 image"``, ``"2 images"``, ``"12,345 pixels"``: a count with its noun in the right number."""
    return f"{count:,} {singular if count == 1 else plural or singular + 's'}"


def model_semver(semver: str) -> str:
    """``"v1.0.0"`` for a model version's semver."""
    return f"v{semver}"


METRIC_LABELS = {
    "miou": "mIoU", "pixel_accuracy": "pixel accuracy", "mean_dice": "mean Dice", "accuracy": "accuracy",
    "macro_f1": "macro F1", "weighted_f1": "weighted F1", "category_accuracy": "category accuracy",
    "category_macro_f1": "category macro F1", "map50": "mask mAP50", "map": "mask mAP50-95",
    "box_map50": "box mAP50", "ap": "mask AP", "ap50": "mask AP50", "ap75": "mask AP75",
    "ms_per_image": "ms per image", "top3_accuracy": "top-3 accuracy", "top5_accuracy": "top-5 accuracy",
}


def metric_label(metric: str) -> str:
    """``"mIoU"`` for ``"miou"``; a metric without a known label reads with spaces for ``_``."""
    return METRIC_LABELS.get(metric, metric.replace("_", " "))


def monitored_label(metric: str) -> str:
    """``"best val mIoU"``: the monitored metric of a training run, measured on the val split."""
    return f"best val {metric_label(metric)}"


def metrics_label(key: str) -> str:
    """People's name of a model version's metrics key: ``best_miou`` -> ``best val mIoU``,
    ``val_miou`` -> ``val mIoU``, ``eval_miou`` -> ``val mIoU (Evaluate)``, ``chance_miou`` ->
    ``chance mIoU``, ``best_epoch`` -> ``best epoch``."""
    for prefix, shown in (("best_", "best val "), ("val_", "val "), ("chance_", "chance ")):
        if key.startswith(prefix) and key != "best_epoch":
            return shown + metric_label(key[len(prefix):])
    if key.startswith("eval_"):
        return f"val {metric_label(key[5:])} (Evaluate)"
    return metric_label(key)


__all__ = ["METRIC_LABELS", "counted", "data_version", "data_version_short", "data_versions", "metric_label", "metrics_label",
           "model_semver", "monitored_label"]
