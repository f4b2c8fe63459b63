"""Evaluate a model version on one split of a dataset version and store the result (the data it
scores: ``studio.evaluation.data``; files: ``.files``; reading back: ``.views``).

``evaluate_version(ref, dataset_version_id=None, split="val")`` predicts every image of the
split with ``studio.inference`` and writes one ``Evaluation`` row with its ``EvaluationClass``
and ``EvaluationImage`` rows in ONE transaction, plus files in
``<model folder>/evaluations/<evaluation id>/``:

    summary_metrics.csv    metric,value
    per_class_metrics.csv  class_index,name,iou,dice,precision,recall,accuracy,f1,support[,ap]
    predictions.csv        per image: file_name,version_image_id,score,pixels,prediction_path
                           (classification: per object crop: file_name,true,pred,prob,correct)
    confusion_matrix.csv   the pooled matrix (rows = ground truth, columns = prediction)
    confusion_matrix.png   row-normalised heatmap (matplotlib)
    predictions/NNNNN.png  predicted class-index map per image (palette PNG, the class colours),
                           so pages overlay predictions without running the model again

The folder is written under a temporary name and renamed inside the transaction; on any
failure neither rows nor folder remain.

Class positions: for segmentation (semantic, and instance rasterised to a semantic map) the
confusion matrix position k is the class whose ``index`` is k (0 = background), as the
model's outputs (``registry.output_names``). Ground truth is the dataset version's accepted
objects painted into a label map (``studio.training.data.label_map``: larger objects first,
crowd regions = 255 = ignored) with dataset class indices re-mapped to the model's by class
NAME; a dataset class the model does not know is refused (InvalidInput naming it).

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
  to the model's ``sequence_length`` as training does. The gloss head is scored as classification
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
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.db import session_scope
from studio.errors import InvalidInput
from studio.evaluation.metrics import IGNORE_INDEX
from studio.progress import ProgressFn, null_progress
from studio.tables import (
    Evaluation,
    EvaluationClass,
    EvaluationImage,
    ModelVersion,
    Task,
)
from studio.evaluation.data import (
    KeypointSplit,
    SplitData,
    SplitItem,
    class_lut,
    ground_truth,
    load_keypoint_split,
    load_split,
)
from studio.evaluation.files import CLASS_COLUMNS, _color_table, _write_csv, save_confusion_png, save_label_png

INSTANCE_AP_CONF = 0.001  # COCO-style: keep low-score objects for AP
INSTANCE_SEMANTIC_CONF = 0.25  # objects painted into the semantic map (ultralytics' predict default)
INSTANCE_MAX_DET = 100  # COCO's maxDets


# --------------------------------------------------------------------------- scoring


@dataclass
class _Result:
    """What a task's scorer hands to the writer."""

    summary: dict[str, Any]
    confusion: np.ndarray
    names: list[str]
    class_rows: list[dict[str, Any]]
    images: list[dict[str, Any]]  # EvaluationImage fields + "pred_png" (array or None) + "pixels"
    extra_class_columns: dict[int, dict[str, Any]] = field(default_factory=dict)  # position -> {ap: ...}
    predict_ms: list[float] = field(default_factory=list)  # model time per image (classification: per object)
    category_confusion: np.ndarray | None = None  # sequence models with categories: the category head's matrix


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _segmentation(predictor: Any, data: SplitData, progress: ProgressFn, save: bool) -> _Result:
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
        summary.update({k: _clean(v) for k, v in ap.summary.items()})
        model_index = {c["name"]: int(c["index"]) for c in classes}
        for c in data.classes:
            value = ap.per_class.get(int(c["index"]))
            extra[model_index[c["name"]]] = {"ap": _clean(value)}
    return _Result(summary, accumulator.pooled, names, metrics.class_rows(), images, extra, times)


def _classification(predictor: Any, data: SplitData, progress: ProgressFn, batch: int = 32) -> _Result:
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
    return _Result(dict(result.summary()), result.confusion, names, result.class_rows(), images, {}, times)


def _sequence(predictor: Any, clips: KeypointSplit, progress: ProgressFn) -> _Result:
    """Gloss (and category) metrics of a keypoint sequence model over the clips of a split."""
    from studio.evaluation import classification_metrics
    from studio.keypoints.layout import resample

    version = predictor.version
    if predictor.input_kind != "keypoints":
        raise InvalidInput(f"model {version.name} reads {predictor.input_kind} input; keypoint datasets are scored "
                           "with keypoint sequence models (sign_gru, sign_transformer)")
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
    dim = int(predictor.prep.get("dim") or (config.get("model_kwargs") or {}).get("input_dim") or clips.dim)
    if dim != clips.dim:
        raise InvalidInput(f"{clips.label} has {clips.dim} values per frame; model {version.name} expects {dim}")
    length = int(predictor.prep.get("sequence_length") or config.get("sequence_length") or 32)
    count = len(clips.clips)
    probs = np.zeros((count, len(names)), np.float32)
    cat_probs = np.zeros((count, len(categories)), np.float32) if categories else None
    times: list[float] = []
    for n, clip in enumerate(clips.clips):
        frames = resample(clip.load(), length)
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
        summary.update(category_accuracy=_clean(cat.accuracy), category_macro_f1=_clean(cat.macro_f1),
                       category_weighted_f1=_clean(cat.weighted_f1), category_count=int(known.sum()),
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
    out = _Result(summary, result.confusion, names, result.class_rows(), images, {}, times)
    out.category_confusion = category_confusion
    return out


# --------------------------------------------------------------------------- the job


def evaluations_dir(version: ModelVersion) -> Path:
    from studio.registry import model_dir

    return model_dir(version) / "evaluations"


def evaluate_version(ref: str | int | ModelVersion, dataset_version_id: int | None = None, split: str = "val",
                     progress: ProgressFn | None = None, *, runtime: str = "torch", device: str | None = None,
                     save_predictions: bool = True, job_id: str | None = None,
                     keypoint_dataset: str | None = None) -> int:
    """Evaluate the version on ``split`` of ``dataset_version_id`` (default: the dataset
    version it was trained on) and store everything (see the module docstring); the new
    Evaluation's id.

    Sequence models read keypoint datasets: ``dataset_version_id`` is then a version NUMBER of
    ``keypoint_dataset`` (default: the keypoint dataset and version the model was trained on).

    InvalidInput: no dataset version given and none recorded on the model, an empty split,
    classes the model does not know.
    """
    from studio.inference import as_version, load_predictor
    from studio.registry import models_root

    progress = progress or null_progress
    started = time.perf_counter()
    version = as_version(ref)
    stored_dv: int | None
    if version.task == Task.sequence.value:
        progress(0.0, f"reading split {split!r} of the keypoint dataset")
        clips = load_keypoint_split(version, split, dataset_version_id, keypoint_dataset)
        predictor = load_predictor(version, runtime=runtime, device=device)
        result = _sequence(predictor, clips, lambda f, m: progress(0.02 + 0.93 * f, m))
        result.summary["keypoint_dataset"] = clips.label
        label, stored_dv, count = clips.label, None, len(clips.clips)
    else:
        if keypoint_dataset is not None:
            raise InvalidInput(f"model {version.name} is a {version.task} model; keypoint_dataset applies to "
                               "sequence models only")
        dv_id = dataset_version_id if dataset_version_id is not None else version.dataset_version_id
        if dv_id is None:
            raise InvalidInput(f"model {version.name} records no dataset version; pass one (--dataset-version N)")
        progress(0.0, f"reading split {split!r} of dataset version {dv_id}")
        data = load_split(int(dv_id), split)
        predictor = load_predictor(version, runtime=runtime, device=device)
        if version.task == Task.classification.value:
            result = _classification(predictor, data, lambda f, m: progress(0.02 + 0.93 * f, m))
        else:
            result = _segmentation(predictor, data, lambda f, m: progress(0.02 + 0.93 * f, m), save_predictions)
        label, stored_dv, count = data.label, data.dataset_version_id, len(data.items)
    result.summary["ms_per_image"] = float(np.median(result.predict_ms)) if result.predict_ms else None
    progress(0.96, "writing the evaluation")
    root = evaluations_dir(version)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{uuid.uuid4().hex[:12]}"
    final: Path | None = None
    try:
        (tmp / "predictions").mkdir(parents=True)
        with session_scope() as session:
            evaluation = Evaluation(model_version_id=version.id, dataset_version_id=stored_dv,  # type: ignore[arg-type]
                                    split=split, task=version.task, summary=result.summary,
                                    confusion=np.asarray(result.confusion).tolist(), image_count=count,
                                    seconds=0.0, job_id=job_id)
            session.add(evaluation)
            session.flush()
            eval_id = int(evaluation.id)  # type: ignore[arg-type]
            final = root / str(eval_id)
            relative = final.relative_to(models_root()) if final.is_relative_to(models_root()) else final
            for row in result.class_rows:
                session.add(EvaluationClass(evaluation_id=eval_id, **{k: _clean(row.get(k)) for k in CLASS_COLUMNS}))
            palette = _color_table(version, len(result.names))
            image_rows = []
            for n, img in enumerate(result.images):
                png = None
                if img.get("pred_png") is not None:
                    png = f"{n:05d}.png"
                    save_label_png(tmp / "predictions" / png, img["pred_png"], palette)
                image_rows.append(EvaluationImage(
                    evaluation_id=eval_id, version_image_id=img["version_image_id"], file_name=img["file_name"],
                    score=img["score"], confusion=img["confusion"], labels=img.get("labels"),
                    prediction_path=(relative / "predictions" / png).as_posix() if png else None))
            session.add_all(image_rows)
            _write_files(tmp, version, f"{label} {split}", result, image_rows, eval_id)
            if final.exists():  # an orphan folder of a deleted evaluation whose id came back
                shutil.rmtree(final)
            evaluation.seconds = time.perf_counter() - started
            session.add(evaluation)
            tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if final is not None:
            shutil.rmtree(final, ignore_errors=True)
        raise
    progress(1.0, f"{label} {split}: " + ", ".join(
        f"{k} {v:.3f}" for k, v in result.summary.items()
        if isinstance(v, float) and k in ("miou", "ap", "accuracy", "category_accuracy")))
    return eval_id


def _write_files(folder: Path, version: ModelVersion, what: str, result: _Result,
                 image_rows: Sequence[EvaluationImage], eval_id: int) -> None:
    """The evaluation's files in ``folder``; ``what`` names the data ("shelves v3 val")."""
    _write_csv(folder / "summary_metrics.csv", ("metric", "value"),  # matrices and name lists have their own files
               [(k, _clean(v)) for k, v in result.summary.items() if not isinstance(v, (list, dict))])
    extra_keys = sorted({k for v in result.extra_class_columns.values() for k in v})
    _write_csv(folder / "per_class_metrics.csv", (*CLASS_COLUMNS, *extra_keys),
               [(*[row.get(k) for k in CLASS_COLUMNS],
                 *[result.extra_class_columns.get(row["class_index"], {}).get(k) for k in extra_keys])
                for row in result.class_rows])
    if version.task == Task.sequence.value:
        _write_csv(folder / "predictions.csv", ("file_name", "gloss", "predicted", "prob", "correct", "category",
                                                "predicted_category"),
                   [(r.file_name, r.labels["gloss"], r.labels["predicted"],  # type: ignore[index]
                     f"{r.labels['prob']:.6f}", int(r.score or 0), r.labels.get("category"),  # type: ignore[index, union-attr]
                     r.labels.get("predicted_category")) for r in image_rows])  # type: ignore[union-attr]
    elif version.task == Task.classification.value:
        _write_csv(folder / "predictions.csv", ("file_name", "version_image_id", "true", "pred", "prob", "correct"),
                   [(r.file_name, r.version_image_id, r.labels["true_name"], r.labels["pred_name"],  # type: ignore[index]
                     f"{r.labels['prob']:.6f}", int(r.score or 0)) for r in image_rows])  # type: ignore[index]
    else:
        _write_csv(folder / "predictions.csv", ("file_name", "version_image_id", "score", "pixels", "prediction_path"),
                   [(r.file_name, r.version_image_id, "" if r.score is None else f"{r.score:.6f}", img["pixels"],
                     r.prediction_path or "") for r, img in zip(image_rows, result.images)])
    _write_csv(folder / "confusion_matrix.csv", ("ground_truth \\ predicted", *result.names),
               [(name, *row) for name, row in zip(result.names, np.asarray(result.confusion).tolist())])
    save_confusion_png(folder / "confusion_matrix.png", result.confusion, result.names,
                       f"{version.name}\n{what} (evaluation {eval_id})")
    if result.category_confusion is not None:
        categories = list(result.summary.get("category_names") or [])
        _write_csv(folder / "category_confusion_matrix.csv", ("ground_truth \\ predicted", *categories),
                   [(name, *row) for name, row in zip(categories, np.asarray(result.category_confusion).tolist())])
        save_confusion_png(folder / "category_confusion_matrix.png", result.category_confusion, categories,
                           f"{version.name} categories\n{what} (evaluation {eval_id})")

