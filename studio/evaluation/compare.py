"""Compare two model versions on the same split of the same dataset version.

``compare_versions(a, b)`` uses each version's newest evaluation on (dataset version, split),
running ``evaluate_version`` first for a version that has none, and returns a ``Comparison``:

- ``metrics``: one ``MetricDelta`` per summary metric either has: a, b, delta = b - a and
  improved / regressed flags (higher is better, except losses, latencies and times: names
  with a "_"-separated part "loss", "latency", "seconds" or "ms", e.g. ``ms_per_image``);
- ``classes``: per-class IoU of both and the delta (classification and sequence: F1);
- ``images``: images ranked by disagreement, the fraction of pixels where the two predictions
  differ (from the stored prediction PNGs when both evaluations kept them, else by running
  both predictors); classification: 1.0 for a sample the two classify differently; sequence
  (keypoint sign models, on a keypoint dataset version: ``dataset_version_id`` is then its
  version NUMBER, default A's training version): 1.0 for a clip whose gloss they predict
  differently (file_name = clip id, no image path, no per-pixel maps);
- ``disagreement_map(image)``: (H, W) uint8 codes 0 = same prediction, 1 = different and only
  A right, 2 = different and only B right, 3 = different and neither right (including
  ground-truth pixels marked ignore).

Refused clearly (InvalidInput): versions of different tasks, or different class lists (the
message names the classes only one has, or the classes whose index differs).

``send_to_review(image_ids, note)`` flags live images for a second look on the Label page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.errors import InvalidInput
from studio.evaluation.data import SplitData, class_lut, ground_truth, load_sequence_split, load_split
from studio.evaluation.files import load_label_png
from studio.evaluation.run import evaluate_version
from studio.evaluation.views import EvaluationImageView, evaluation_images, get_evaluation, latest_evaluation, latest_keypoint_evaluation
from studio.progress import ProgressFn, null_progress
from studio.tables import ModelVersion, Task

LOWER_IS_BETTER = ("loss", "latency", "seconds", "ms")
AGREE, ONLY_A_RIGHT, ONLY_B_RIGHT, BOTH_WRONG = 0, 1, 2, 3


@dataclass(frozen=True)
class MetricDelta:
    metric: str
    a: float | None
    b: float | None
    delta: float | None  # b - a
    higher_is_better: bool
    improved: bool
    regressed: bool


@dataclass(frozen=True)
class ClassDelta:
    class_index: int
    name: str
    a: float | None  # IoU (classification: F1) of version A
    b: float | None
    delta: float | None


@dataclass(frozen=True)
class ImageDisagreement:
    version_image_id: int | None
    image_id: int | None  # the live image (for send_to_review)
    file_name: str
    disagreement: float  # fraction of pixels (samples) where A and B predict differently
    score_a: float | None
    score_b: float | None
    image_path: Path | None


def higher_is_better(metric: str) -> bool:
    """False for losses, latencies and times (see the module docstring)."""
    name = metric.lower()
    return not any(part in name.split("_") for part in LOWER_IS_BETTER)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value) \
        else None


def metric_deltas(a: dict[str, Any], b: dict[str, Any]) -> list[MetricDelta]:
    """One row per numeric metric of either summary (A's order first)."""
    rows = []
    for key in [*a, *(k for k in b if k not in a)]:
        va, vb = _number(a.get(key)), _number(b.get(key))
        if va is None and vb is None:
            continue
        delta = vb - va if va is not None and vb is not None else None
        better = higher_is_better(key)
        gain = None if delta is None else (delta if better else -delta)
        rows.append(MetricDelta(key, va, vb, delta, better, bool(gain is not None and gain > 1e-12),
                                bool(gain is not None and gain < -1e-12)))
    return rows


def check_comparable(a: ModelVersion, b: ModelVersion) -> None:
    """InvalidInput unless ``a`` and ``b`` have the same task and the same classes (names and indices)."""
    if a.task != b.task:
        raise InvalidInput(f"cannot compare {a.name} ({a.task}) with {b.name} ({b.task}): expected two models "
                           "of the same task")
    ca = {c["name"]: int(c["index"]) for c in a.classes}
    cb = {c["name"]: int(c["index"]) for c in b.classes}
    if ca == cb and [c["name"] for c in a.classes] == [c["name"] for c in b.classes]:
        return
    only_a, only_b = sorted(set(ca) - set(cb)), sorted(set(cb) - set(ca))
    moved = sorted(n for n in set(ca) & set(cb) if ca[n] != cb[n])
    parts = []
    if only_a:
        parts.append(f"only {a.name} has {only_a}")
    if only_b:
        parts.append(f"only {b.name} has {only_b}")
    if moved:
        parts.append(f"indices differ for {', '.join(f'{n} ({ca[n]} vs {cb[n]})' for n in moved)}")
    if not parts:
        parts.append(f"the class order differs: {[c['name'] for c in a.classes]} vs {[c['name'] for c in b.classes]}")
    raise InvalidInput(f"cannot compare models with different classes: {'; '.join(parts)}; expected the same class list")


@dataclass
class Comparison:
    """The comparison of version ``a`` with ``b`` (deltas are b - a); see the module docstring."""

    a: ModelVersion
    b: ModelVersion
    dataset_version_id: int
    split: str
    evaluation_a: int
    evaluation_b: int
    metrics: list[MetricDelta]
    classes: list[ClassDelta]
    images: list[ImageDisagreement]
    runtime: str = "torch"
    _split_data: SplitData | None = field(default=None, repr=False)
    _views: dict[str, dict[Any, EvaluationImageView]] = field(default_factory=dict, repr=False)

    def metric_rows(self) -> list[dict[str, Any]]:
        return [m.__dict__.copy() for m in self.metrics]

    def class_rows(self) -> list[dict[str, Any]]:
        return [c.__dict__.copy() for c in self.classes]

    def image_rows(self) -> list[dict[str, Any]]:
        return [i.__dict__.copy() for i in self.images]

    # -- per image ----------------------------------------------------------------------------

    def _data(self) -> SplitData:
        if self._split_data is None:
            self._split_data = load_split(self.dataset_version_id, self.split)
        return self._split_data

    def _item(self, image: int | str) -> Any:
        for item in self._data().items:
            if (isinstance(image, (int, np.integer)) and item.version_image_id == int(image)) or item.key == image:
                return item
        raise InvalidInput(f"image {image!r} is not in split {self.split!r} of dataset version "
                           f"{self.dataset_version_id}; expected a file name or a version image id")

    def predictions(self, image: int | str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(pred A, pred B, ground truth) (H, W) int64 class indices of ``image`` (file name or
        version image id); ground truth uses 255 for ignored pixels."""
        if self.a.task in (Task.classification.value, Task.sequence.value):
            raise InvalidInput(f"{self.a.task} models predict one class per sample: no per-pixel maps to compare")
        item = self._item(image)
        gt = ground_truth(item, class_lut(self.a.classes, self._data().classes, f"model {self.a.name}")).astype(np.int64)
        preds = [_prediction(self, which, item, gt.shape) for which in ("a", "b")]
        return preds[0], preds[1], gt

    def disagreement_map(self, image: int | str) -> np.ndarray:
        """(H, W) uint8: 0 same prediction, 1 only A right, 2 only B right, 3 both wrong and different."""
        pred_a, pred_b, gt = self.predictions(image)
        return disagreement_codes(pred_a, pred_b, gt)


def disagreement_codes(pred_a: np.ndarray, pred_b: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """The codes of ``Comparison.disagreement_map`` from three (H, W) label maps."""
    if not pred_a.shape == pred_b.shape == gt.shape:
        raise InvalidInput(f"label maps: expected equal shapes, got {pred_a.shape}, {pred_b.shape}, {gt.shape}")
    differ = pred_a != pred_b
    codes = np.zeros(gt.shape, np.uint8)
    codes[differ] = BOTH_WRONG
    codes[differ & (pred_a == gt)] = ONLY_A_RIGHT
    codes[differ & (pred_b == gt)] = ONLY_B_RIGHT
    return codes


def _views_of(comparison: Comparison, which: str) -> dict[Any, EvaluationImageView]:
    if which not in comparison._views:
        eval_id = comparison.evaluation_a if which == "a" else comparison.evaluation_b
        comparison._views[which] = {v.version_image_id: v for v in evaluation_images(eval_id)}
    return comparison._views[which]


def _prediction(comparison: Comparison, which: str, item: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A version's prediction of an item: the stored PNG when there is one, else predicted now."""
    from studio.evaluation import resize_prediction

    view = _views_of(comparison, which).get(item.version_image_id)
    if view is not None and view.prediction_path is not None and view.prediction_path.is_file():
        pred = load_label_png(view.prediction_path)
    else:
        from studio.evaluation.scoring import INSTANCE_SEMANTIC_CONF
        from studio.images import load_rgb
        from studio.inference import load_predictor

        version = comparison.a if which == "a" else comparison.b
        out = load_predictor(version, runtime=comparison.runtime).predict(load_rgb(item.path))
        pred = out.to_semantic(min_score=INSTANCE_SEMANTIC_CONF) if version.task == Task.instance.value else out.labels
    return pred if pred.shape == tuple(shape) else resize_prediction(pred, tuple(shape))


def _class_deltas(eval_a: int, eval_b: int, task: str) -> list[ClassDelta]:
    metric = "f1" if task in (Task.classification.value, Task.sequence.value) else "iou"
    rows_a = {r["class_index"]: r for r in get_evaluation(eval_a).class_rows}
    rows_b = {r["class_index"]: r for r in get_evaluation(eval_b).class_rows}
    out = []
    for index in sorted(set(rows_a) | set(rows_b)):
        va, vb = _number((rows_a.get(index) or {}).get(metric)), _number((rows_b.get(index) or {}).get(metric))
        name = (rows_a.get(index) or rows_b.get(index))["name"]
        out.append(ClassDelta(index, name, va, vb, vb - va if va is not None and vb is not None else None))
    return out


def compare_versions(a: str | int | ModelVersion, b: str | int | ModelVersion, dataset_version_id: int | None = None,
                     split: str = "val", *, runtime: str = "torch", evaluate_missing: bool = True,
                     progress: ProgressFn | None = None) -> Comparison:
    """Compare ``b`` against ``a`` (deltas b - a) on ``split`` of ``dataset_version_id`` (default:
    A's training dataset version, else B's); see the module docstring."""
    from studio.inference import as_version

    progress = progress or null_progress
    va, vb = as_version(a), as_version(b)
    check_comparable(va, vb)
    if va.task == Task.sequence.value:
        return _compare_sequence(va, vb, dataset_version_id, split, runtime, evaluate_missing, progress)
    dv = dataset_version_id if dataset_version_id is not None else (va.dataset_version_id or vb.dataset_version_id)
    if dv is None:
        raise InvalidInput(f"neither {va.name} nor {vb.name} records a dataset version; pass one (--dataset-version N)")
    evaluations = []
    for n, version in enumerate((va, vb)):
        found = latest_evaluation(version, int(dv), split)
        if found is None:
            if not evaluate_missing:
                raise InvalidInput(f"{version.name} has no evaluation on dataset version {dv} split {split!r}; "
                                   f"run `studio evaluate {version.name} --dataset-version {dv} --split {split}`")
            found = evaluate_version(version, int(dv), split, runtime=runtime,
                                     progress=lambda f, m, n=n: progress(0.4 * n + 0.4 * f, f"{version.name}: {m}"))
        evaluations.append(found)
    view_a, view_b = get_evaluation(evaluations[0]), get_evaluation(evaluations[1])
    comparison = Comparison(va, vb, int(dv), split, evaluations[0], evaluations[1],
                            metric_deltas(view_a.summary, view_b.summary),
                            _class_deltas(evaluations[0], evaluations[1], va.task), [], runtime)
    progress(0.8, "ranking images by disagreement")
    comparison.images = _rank_images(comparison)
    progress(1.0, f"compared on {len(comparison.images)} images")
    return comparison


def _compare_sequence(va: ModelVersion, vb: ModelVersion, number: int | None, split: str, runtime: str,
                      evaluate_missing: bool, progress: ProgressFn) -> Comparison:
    """compare_versions of two sequence models on a split of a keypoint dataset version (A's by default)."""
    clips = load_sequence_split(va, split, number)
    evaluations = []
    for n, version in enumerate((va, vb)):
        found = latest_keypoint_evaluation(version, clips.label, split)
        if found is None:
            if not evaluate_missing:
                raise InvalidInput(f"{version.name} has no evaluation on keypoint dataset {clips.label} split "
                                   f"{split!r}; run `studio evaluate {version.name} --dataset-version "
                                   f"{clips.version} --split {split}`")
            found = evaluate_version(version, clips.version, split, runtime=runtime, keypoint_dataset=clips.dataset,
                                     progress=lambda f, m, n=n: progress(0.4 * n + 0.4 * f, f"{version.name}: {m}"))
        evaluations.append(found)
    view_a, view_b = get_evaluation(evaluations[0]), get_evaluation(evaluations[1])
    comparison = Comparison(va, vb, clips.version, split, evaluations[0], evaluations[1],
                            metric_deltas(view_a.summary, view_b.summary),
                            _class_deltas(evaluations[0], evaluations[1], va.task), [], runtime)
    comparison.images = _rank_images(comparison)
    progress(1.0, f"compared on {len(comparison.images)} clips")
    return comparison


def _rank_images(comparison: Comparison) -> list[ImageDisagreement]:
    out = []
    if comparison.a.task in (Task.classification.value, Task.sequence.value):
        rows_a = {v.file_name: v for v in evaluation_images(comparison.evaluation_a)}
        rows_b = {v.file_name: v for v in evaluation_images(comparison.evaluation_b)}
        for name, ra in rows_a.items():
            rb = rows_b.get(name)
            if rb is None:
                continue
            differ = float((ra.labels or {}).get("pred") != (rb.labels or {}).get("pred"))
            out.append(ImageDisagreement(ra.version_image_id, ra.image_id, name, differ, ra.score, rb.score,
                                         ra.image_path))
    else:
        views_a, views_b = _views_of(comparison, "a"), _views_of(comparison, "b")
        for item in comparison._data().items:
            ra, rb = views_a.get(item.version_image_id), views_b.get(item.version_image_id)
            shape = (item.height, item.width)
            pred_a = _prediction(comparison, "a", item, shape)
            pred_b = _prediction(comparison, "b", item, shape)
            out.append(ImageDisagreement(item.version_image_id, item.image_id, item.key,
                                         float((pred_a != pred_b).mean()), ra.score if ra else None,
                                         rb.score if rb else None, item.path))
    out.sort(key=lambda d: -d.disagreement)  # stable: ties keep image order
    return out


def send_to_review(image_ids: list[int], note: str = "") -> int:
    """Flag live images (``Image.review_requested``, ``review_note``) so they come back into the
    Label page's queue; how many were flagged."""
    from studio.annotations import set_review

    ids = [int(i) for i in image_ids if i is not None]
    if not ids:
        raise InvalidInput("send to review: expected at least one image id")
    return set_review(ids, True, note)
