"""How each task's predictions on a split are scored (the job that stores the result:
``studio.evaluation.run``).

Per task:

- semantic: pooled + per-image confusion matrices (``ConfusionAccumulator``), mIoU / pixel
  accuracy / mean Dice, per-class IoU / Dice / precision / recall; per-image score = that
  image's mIoU (worst first on the pages).
- every task: ``summary["ms_per_image"]``, the median model time per image (pre- and
  post-processing included, image decoding excluded; classification: per object crop); the
  median, so the first call's warm-up does not count.
- instance (YOLO): COCO mask AP / AP50 / AP75 (``coco_mask_eval``; predictions at score
  >= 0.001, at most 100 per image) plus the semantic metrics of the objects with score >= 0.25
  painted into a class map (``InstanceOutput.to_semantic``); per-class AP in the CSV.
- classification: one sample per non-crowd object of the split (its box crop with a 10 %
  margin, as training does); accuracy, macro / weighted F1, per-class precision / recall / F1.
- sequence (keypoint sign classifiers): one sample per clip of the split of a KEYPOINT dataset
  version (``studio.keypoints.dataset``; by default the one the model was trained on, its config's
  ``keypoint_dataset`` / ``keypoint_dataset_version``; ``dataset_version_id`` then means a version
  NUMBER of that keypoint dataset, or of ``keypoint_dataset=`` when given). Every clip is resampled
  to the model's ``sequence_length`` as training does. frame_cnn_gru models are scored the same
  way on a raw-frame clip dataset (``studio.frame_clips``), each clip prepared as training
  prepares its validation clips (frames picked evenly in time, resized, normalised). The gloss head is scored as classification
  (accuracy, macro / weighted F1, top-k; per-gloss rows; the pooled gloss matrix); when the model
  has a category head and clips carry categories, ``summary`` adds ``category_accuracy``,
  ``category_macro_f1``, ``category_weighted_f1``, ``category_names`` and
  ``category_confusion_matrix`` (rows = ground truth; clips without a category are left out of
  it). ``Evaluation.dataset_version_id`` stays None (it names image dataset versions);
  ``summary["keypoint_dataset"]`` says "signs v2". Per clip: file_name = clip id, score = 1/0
  (gloss correct), labels {gloss, predicted, true, pred, prob, category, predicted_category}.
  Files: as classification (predictions.csv per clip), plus ``category_confusion_matrix.csv`` /
  ``.png`` when there are category metrics.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from studio.errors import InvalidInput
from studio.evaluation.data import SequenceSplit, SplitData, SplitItem, class_lut, ground_truth
from studio.evaluation.metrics import IGNORE_INDEX
from studio.progress import ProgressFn
from studio.tables import Task

INSTANCE_AP_CONF = 0.001  # COCO-style: keep low-score objects for AP
INSTANCE_SEMANTIC_CONF = 0.25  # objects painted into the semantic map (ultralytics' predict default)
INSTANCE_MAX_DET = 100  # COCO's maxDets


@dataclass
class Scores:
    """What a task's scorer hands to the writer."""

    summary: dict[str, Any]
    confusion: np.ndarray
    names: list[str]
    class_rows: list[dict[str, Any]]
    images: list[dict[str, Any]]  # EvaluationImage fields + "pred_png" (array or None) + "pixels"
    extra_class_columns: dict[int, dict[str, Any]] = field(default_factory=dict)  # position -> {ap: ...}
    predict_ms: list[float] = field(default_factory=list)  # model time per image (classification: per object)
    category_confusion: np.ndarray | None = None  # sequence models with categories: the category head's matrix


def clean_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def score_segmentation(predictor: Any, data: SplitData, progress: ProgressFn, save: bool) -> Scores:
    from studio.evaluation import (
        ConfusionAccumulator,
        PredictedInstance,
        coco_inputs_from_records,
        coco_mask_eval,
        per_image_score,
        resize_prediction,
        segmentation_metrics,
    )
    from studio.images import load_rgb
    from studio.registry import num_outputs, output_names

    version = predictor.version
    instance = version.task == Task.instance.value
    classes = version.classes
    count = num_outputs("semantic", classes)
    names = output_names("semantic", classes)
    lut = class_lut(classes, data.classes, f"model {version.name}")
    accumulator = ConfusionAccumulator(count, ignore_index=IGNORE_INDEX)
    dataset_index = {c["name"]: int(c["index"]) for c in data.classes}
    output_to_dataset = [dataset_index.get(c["name"]) for c in classes]  # instance output k -> dataset index
    predicted: list[PredictedInstance] = []
    images: list[dict[str, Any]] = []
    times: list[float] = []
    for n, item in enumerate(data.items):
        image = load_rgb(item.path)
        gt = ground_truth(item, lut)
        started = time.perf_counter()
        if instance:
            out = predictor.predict(image, conf=INSTANCE_AP_CONF, max_det=INSTANCE_MAX_DET)
            times.append(1000.0 * (time.perf_counter() - started))
            pred = out.to_semantic(min_score=INSTANCE_SEMANTIC_CONF)
            for k in range(len(out)):
                target = output_to_dataset[int(out.class_indices[k])]
                mask = out.masks[k]
                if target is None or not mask.any():
                    continue
                if mask.shape != (item.height, item.width):
                    mask = resize_prediction(mask, (item.height, item.width))
                predicted.append(PredictedInstance(item.key, target, float(out.scores[k]), mask))
        else:
            pred = predictor.predict(image).labels
            times.append(1000.0 * (time.perf_counter() - started))
        if pred.shape != gt.shape:
            pred = resize_prediction(pred, gt.shape)
        cm = accumulator.update(gt, pred)
        score = per_image_score(cm)
        images.append({"version_image_id": item.version_image_id, "file_name": item.key,
                       "score": None if math.isnan(score) else score, "confusion": cm.tolist(),
                       "pixels": int(cm.sum()), "pred_png": pred if save else None})
        progress((n + 1) / len(data.items), f"evaluated {n + 1}/{len(data.items)} images")
    metrics = segmentation_metrics(accumulator.pooled, names)
    summary: dict[str, Any] = dict(metrics.summary())
    extra: dict[int, dict[str, Any]] = {}
    if instance:
        from studio.formats.records import AnnotationRecord, ClassRecord, DatasetDoc, ImageRecord

        doc = DatasetDoc(
            classes=[ClassRecord(c["name"], int(c["index"]), c.get("color")) for c in data.classes],
            images=[ImageRecord(i.key, i.path, i.width, i.height, data.split) for i in data.items],
            annotations=[AnnotationRecord(i.key, next(c["name"] for c in data.classes if int(c["index"]) == idx),
                                          rle, crowd) for i in data.items for idx, rle, crowd in i.objects])
        gt_coco, results = coco_inputs_from_records(doc, predicted)
        ap = coco_mask_eval(gt_coco, results)
        summary.update({k: clean_number(v) for k, v in ap.summary.items()})
        model_index = {c["name"]: int(c["index"]) for c in classes}
        for c in data.classes:
            value = ap.per_class.get(int(c["index"]))
            extra[model_index[c["name"]]] = {"ap": clean_number(value)}
    return Scores(summary, accumulator.pooled, names, metrics.class_rows(), images, extra, times)


def score_classification(predictor: Any, data: SplitData, progress: ProgressFn, batch: int = 32) -> Scores:
    from studio import masks
    from studio.evaluation import classification_metrics
    from studio.images import load_rgb
    from studio.training.data import crop_box

    version = predictor.version
    names = [c["name"] for c in version.classes]
    position = {name: k for k, name in enumerate(names)}
    lut_name = {int(c["index"]): c["name"] for c in data.classes}
    unknown = sorted({c["name"] for c in data.classes} - set(position))
    if unknown:
        raise InvalidInput(f"the dataset version has classes {unknown} that model {version.name} does not know; "
                           f"expected only classes of the model: {names}")
    samples: list[tuple[SplitItem, int, list[float], int]] = []
    for item in data.items:
        for j, (index, rle, crowd) in enumerate(item.objects):
            if not crowd:
                samples.append((item, j, masks.bbox(rle), position[lut_name[int(index)]]))
    if not samples:
        raise InvalidInput(f"split {data.split!r} of {data.label} has no annotated objects to classify; "
                           "expected at least one accepted, non-crowd object")
    probs = np.zeros((len(samples), len(names)), np.float32)
    cache: dict[str, np.ndarray] = {}
    times: list[float] = []
    for start in range(0, len(samples), batch):
        crops = []
        for item, _, bbox, _ in samples[start: start + batch]:
            if item.key not in cache:
                cache.clear()
                cache[item.key] = load_rgb(item.path)
            image = cache[item.key]
            x0, y0, x1, y1 = crop_box(bbox, image.shape[1], image.shape[0])
            crops.append(np.ascontiguousarray(image[y0:y1, x0:x1]))
        started = time.perf_counter()
        outs = predictor.predict_batch(crops)
        times.extend([1000.0 * (time.perf_counter() - started) / len(crops)] * len(crops))
        for k, out in enumerate(outs):
            probs[start + k] = out.probs
        done = min(start + batch, len(samples))
        progress(done / len(samples), f"classified {done}/{len(samples)} objects")
    y_true = np.array([s[3] for s in samples], np.int64)
    y_pred = probs.argmax(1).astype(np.int64)
    result = classification_metrics(y_true, y_pred, len(names), names, scores=probs, top_k=(min(5, len(names)),))
    images = [{"version_image_id": item.version_image_id, "file_name": f"{item.key}#{j}",
               "score": float(y_true[n] == y_pred[n]), "confusion": None, "pixels": 1, "pred_png": None,
               "labels": {"true": int(y_true[n]), "pred": int(y_pred[n]), "true_name": names[y_true[n]],
                          "pred_name": names[y_pred[n]], "prob": float(probs[n, y_pred[n]]), "bbox": bbox}}
              for n, (item, j, bbox, _) in enumerate(samples)]
    return Scores(dict(result.summary()), result.confusion, names, result.class_rows(), images, {}, times)


def score_sequence(predictor: Any, clips: SequenceSplit, progress: ProgressFn) -> Scores:
    """Gloss (and category) metrics of a sequence model over the clips of a split: keypoint
    clips resampled to the model's sequence length, or raw-frame clips prepared as its training
    prepared validation clips (studio.training.frames.prepared_clip)."""
    from studio.evaluation import classification_metrics

    version = predictor.version
    if predictor.input_kind != clips.input_kind:
        reads = "raw-frame clips (frame_cnn_gru)" if predictor.input_kind == "clip" else f"{predictor.input_kind} input"
        raise InvalidInput(f"model {version.name} reads {reads}; {clips.label} holds {clips.input_kind} clips: "
                           "keypoint datasets are scored with keypoint sequence models (sign_gru, sign_transformer), "
                           "clip datasets with frame_cnn_gru")
    config = version.config if isinstance(version.config, dict) else {}
    names = [c["name"] for c in version.classes]
    position = {name: k for k, name in enumerate(names)}
    categories = [str(c) for c in config.get("categories") or []]
    category_position = {name: k for k, name in enumerate(categories)}
    unknown = sorted({c.gloss for c in clips.clips} - set(position))
    if unknown:
        raise InvalidInput(f"{clips.label} {clips.split} has glosses {unknown} that model {version.name} does not "
                           f"know; expected only glosses of the model: {names}")
    unknown = sorted({c.category for c in clips.clips if c.category} - set(category_position)) if categories else []
    if unknown:
        raise InvalidInput(f"{clips.label} {clips.split} has categories {unknown} that model {version.name} does "
                           f"not know; expected only categories of the model: {categories}")
    length = int(predictor.prep.get("sequence_length") or config.get("sequence_length") or 32)
    if clips.input_kind == "keypoints":
        from studio.keypoints.layout import resample

        dim = int(predictor.prep.get("dim") or (config.get("model_kwargs") or {}).get("input_dim") or clips.dim)
        if dim != clips.dim:
            raise InvalidInput(f"{clips.label} has {clips.dim} values per frame; model {version.name} expects {dim}")

        def prepare(frames: np.ndarray) -> np.ndarray:
            return resample(frames, length)
    else:
        from studio.training.frames import prepared_clip

        size = int(predictor.prep.get("image_size") or config.get("image_size") or 64)
        mean = tuple(predictor.prep.get("mean") or (0.485, 0.456, 0.406))
        std = tuple(predictor.prep.get("std") or (0.229, 0.224, 0.225))

        def prepare(frames: np.ndarray) -> np.ndarray:
            return prepared_clip(frames, length, size, mean, std)
    count = len(clips.clips)
    probs = np.zeros((count, len(names)), np.float32)
    cat_probs = np.zeros((count, len(categories)), np.float32) if categories else None
    times: list[float] = []
    for n, clip in enumerate(clips.clips):
        frames = prepare(clip.load())
        started = time.perf_counter()
        out = predictor.predict(frames)
        times.append(1000.0 * (time.perf_counter() - started))
        probs[n] = out["gloss"]
        if cat_probs is not None and "category" in out:
            cat_probs[n] = out["category"]
        progress((n + 1) / count, f"evaluated {n + 1}/{count} clips")
    y_true = np.array([position[c.gloss] for c in clips.clips], np.int64)
    y_pred = probs.argmax(1).astype(np.int64)
    result = classification_metrics(y_true, y_pred, len(names), names, scores=probs, top_k=(min(5, len(names)),))
    summary: dict[str, Any] = dict(result.summary())
    cat_true = np.array([category_position.get(c.category, -1) if c.category else -1 for c in clips.clips], np.int64)
    cat_pred = cat_probs.argmax(1).astype(np.int64) if cat_probs is not None else None
    known = cat_true >= 0
    category_confusion = None
    if cat_pred is not None and known.any():
        cat = classification_metrics(cat_true[known], cat_pred[known], len(categories), categories)
        summary.update(category_accuracy=clean_number(cat.accuracy), category_macro_f1=clean_number(cat.macro_f1),
                       category_weighted_f1=clean_number(cat.weighted_f1), category_count=int(known.sum()),
                       category_names=list(categories), category_confusion_matrix=cat.confusion.tolist())
        category_confusion = cat.confusion
    images = []
    for n, clip in enumerate(clips.clips):
        labels: dict[str, Any] = {"gloss": clip.gloss, "predicted": names[y_pred[n]], "true": int(y_true[n]),
                                  "pred": int(y_pred[n]), "prob": float(probs[n, y_pred[n]]),
                                  "category": clip.category, "predicted_category": None}
        if cat_pred is not None:
            labels["predicted_category"] = categories[cat_pred[n]]
            labels["category_prob"] = float(cat_probs[n, cat_pred[n]])  # type: ignore[index]
        images.append({"version_image_id": None, "file_name": clip.id, "score": float(y_true[n] == y_pred[n]),
                       "confusion": None, "pixels": 1, "pred_png": None, "labels": labels})
    out = Scores(summary, result.confusion, names, result.class_rows(), images, {}, times)
    out.category_confusion = category_confusion
    return out
