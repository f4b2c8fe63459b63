"""Training the classical classifier (studio.nets.classical) as a ``train`` job like every other
model: ``TrainConfig(task="classification", architecture="classical_svm" | "classical_rf")``.

What it reads is what the CNN classifiers read: one sample per accepted, non-crowd object of
the dataset version (its box crop with a 10 % margin, ``studio.training.data.crop_box``), train
and val split as ``VersionData.train_val`` splits them. Crops are read image by image on a
thread pool and resized to ``image_size`` squared at once (the features resize to that size
anyway, so the result is identical and the crops stay small); features are computed in
vectorised batches (``batch_features``); the estimator is fitted once ("epochs" does not apply).

Config fields it uses: ``image_size`` (the feature side: a multiple of 16; 64 is the usual
choice, 1,802 features; 256 gives 34,596), ``seed``, ``monitor`` (accuracy or macro_f1), and
``model_kwargs``: ``C`` (SVM, default 1.0), ``n_estimators`` (forest, default 100),
``max_depth`` (forest, default none). ``backbone`` must be empty.

The run folder gets ``classical.npz`` (the fitted model as plain arrays: no pickle), a one-row
``training_log.csv`` (train / val log loss, val accuracy and macro F1) and ``config.yaml``;
registration stores the .npz as the version's ``classical`` file. Cancelling stops between
feature batches.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.errors import InvalidInput
from studio.naming import data_version
from studio.nets.classical import ARCHITECTURES, ClassicalClassifier
from studio.nets.classical_features import FEATURES, feature_count
from studio.training.config import TrainConfig
from studio.training.loop import Cancelled, EpochRecord, TrainHooks, TrainResult, _row, _write_log

CLASSICAL_FILE = "classical.npz"  # in the run folder; registered as the version's "classical" file
METRICS = ["accuracy", "macro_f1"]
OPTIONS = {"C": 1.0, "n_estimators": 100, "max_depth": None}  # model_kwargs and their defaults


@dataclass
class ClassicalSetup:
    """What ``run_training`` needs to register the result (mirrors ``TaskSetup``'s fields)."""

    classes: list[dict[str, Any]]  # output k = classes[k]
    dataset_label: str
    dataset_version_id: int | None
    preprocessing: dict[str, Any] = field(default_factory=dict)
    task: str = "classification"
    metric_names: list[str] = field(default_factory=lambda: list(METRICS))

    def checkpoint_config(self, config: TrainConfig) -> dict[str, Any]:
        return {**config.to_dict(), "classes": self.classes, "preprocessing": self.preprocessing,
                "num_outputs": len(self.classes)}


def classical_preprocessing(architecture: str, image_size: int) -> dict[str, Any]:
    """The preprocessing.json of a classical version: what goes in and how features are made."""
    return {"format": "studio.preprocessing/1", "architecture": architecture, "backbone": "",
            "task": "classification", "input_kind": "image", "layout": "HWC", "dtype": "uint8",
            "channel_order": "RGB", "input_range": None, "mean": None, "std": None, "size_multiple": 1,
            "min_size": 2, "resize": "resize", "image_size": image_size,
            "input": "object crop (box + 10% margin), resized to image_size x image_size (aspect not kept)",
            "features": FEATURES, "feature_count": feature_count(image_size),
            "output": "(B, num_classes) float32 probabilities (features -> SVM softmax / forest mean)"}


def check_config(config: TrainConfig) -> ClassicalClassifier:
    """The (unfitted) classifier ``config`` asks for; InvalidInput naming the field otherwise."""
    if config.architecture not in ARCHITECTURES:
        raise InvalidInput(f"architecture {config.architecture!r}: expected one of {', '.join(ARCHITECTURES)}")
    if config.task != "classification":
        raise InvalidInput(f"{config.architecture} classifies object crops: expected task 'classification', "
                           f"got {config.task!r}")
    if config.backbone:
        raise InvalidInput(f"{config.architecture} has no backbone: expected backbone '' (HOG + LBP + colour "
                           f"histogram features), got {config.backbone!r}")
    if config.image_size % 16 or config.image_size < 16:
        raise InvalidInput(f"config image_size: {config.image_size}; {config.architecture} needs a multiple of 16 "
                           "(64 is the usual choice)")
    unknown = sorted(set(config.model_kwargs) - set(OPTIONS))
    if unknown:
        raise InvalidInput(f"{config.architecture}: unknown model_kwargs {unknown}; accepted: "
                           f"{', '.join(f'{k}={v!r}' for k, v in OPTIONS.items())}")
    if config.monitor_metric not in METRICS:
        raise InvalidInput(f"config monitor {config.monitor_metric!r}: a classical model reports "
                           f"{' or '.join(METRICS)}")
    options = {**OPTIONS, **config.model_kwargs}
    return ClassicalClassifier(ARCHITECTURES[config.architecture], config.image_size, C=options["C"],
                               n_estimators=options["n_estimators"], max_depth=options["max_depth"],
                               random_state=config.seed, n_jobs=2)


def object_crops(samples: list[Any], class_indices: list[int], size: int,
                 workers: int = 4) -> tuple[list[np.ndarray], np.ndarray]:
    """(crops resized to size x size (H, W, 3) uint8, labels (N,) int64 = positions in ``class_indices``)
    of every non-crowd object of ``samples`` whose class is in ``class_indices``; each image decoded
    once, images in parallel."""
    import cv2

    from studio import masks
    from studio.images import load_rgb
    from studio.training.data import crop_box

    position = {index: k for k, index in enumerate(class_indices)}

    def one(sample: Any) -> list[tuple[np.ndarray, int]]:
        objects = [(masks.bbox(rle), position[index]) for index, rle, crowd in sample.objects
                   if not crowd and index in position]
        if not objects:
            return []
        image = load_rgb(sample.path)
        out = []
        for bbox, label in objects:
            x0, y0, x1, y1 = crop_box(bbox, image.shape[1], image.shape[0])
            crop = np.ascontiguousarray(image[y0:y1, x0:x1])
            shrink = crop.shape[0] > size or crop.shape[1] > size
            out.append((cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR),
                        label))
        return out

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        pairs = [pair for found in pool.map(one, samples) for pair in found]
    return [p[0] for p in pairs], np.array([p[1] for p in pairs], np.int64)


def _log_loss(probs: np.ndarray, labels: np.ndarray) -> float:
    picked = probs[np.arange(len(labels)), labels] if len(labels) else np.zeros(0)
    return float(-np.log(np.clip(picked, 1e-12, 1.0)).mean()) if len(labels) else math.nan


def full_probs(model: ClassicalClassifier, X: np.ndarray, num_classes: int) -> np.ndarray:
    """(N, num_classes) probabilities: the model's columns placed at their class positions (a class
    without training samples gets 0)."""
    assert model.classes is not None
    out = np.zeros((len(X), num_classes), np.float64)
    out[:, model.classes.astype(np.int64)] = model.proba_from_features(X)
    return out


def train_classical(config: TrainConfig, run_dir: Path, hooks: TrainHooks | None = None
                    ) -> tuple[ClassicalSetup, TrainResult]:
    """Fit ``config`` (see the module docstring) in ``run_dir``: (setup, result); the fitted model is
    ``run_dir / CLASSICAL_FILE``."""
    from studio.evaluation import classification_metrics
    from studio.training.data import load_version

    hooks = hooks or TrainHooks()
    model = check_config(config)
    if not config.dataset or config.dataset_version is None:
        raise InvalidInput("classical training: expected config dataset and dataset_version (a snapshot)")
    run_dir.mkdir(parents=True, exist_ok=True)
    config.save(run_dir / "config.yaml")
    started = time.monotonic()
    version = load_version(config.dataset, config.dataset_version)
    label = data_version(config.dataset, version.version)
    classes = [c for c in version.classes if c["index"] != 0]
    if len(classes) < 2:
        raise InvalidInput(f"{label} has {len(classes)} class(es); a classifier needs at least 2")
    train, val = version.train_val()
    indices = [c["index"] for c in classes]
    hooks.progress(0.0, f"reading object crops of {label}")
    train_x, train_y = object_crops(train, indices, config.image_size)
    val_x, val_y = object_crops(val, indices, config.image_size)
    if len(np.unique(train_y)) < 2:
        raise InvalidInput(f"{label} has annotated objects of {len(np.unique(train_y))} class(es) in its train split; "
                           "a classifier needs objects of at least 2 classes")
    hooks.log(f"fitting {config.architecture} on {label}: {len(train_x)} train / {len(val_x)} val object crops, "
              f"{feature_count(config.image_size)} features at {config.image_size}x{config.image_size} "
              "(fitted once: epochs do not apply)")
    total = len(train_x) + len(val_x)
    done_before = [0]

    def features(images: list[np.ndarray]) -> np.ndarray:
        def report(done: int, _count: int) -> None:
            if hooks.should_stop():
                raise Cancelled(f"stopped while computing features ({done_before[0] + done}/{total} crops)")
            hooks.progress(0.7 * (done_before[0] + done) / total,
                           f"features {done_before[0] + done}/{total} crops")

        out = model.features(images, progress=report) if images else np.zeros((0, feature_count(model.image_size)), np.float32)
        done_before[0] += len(images)
        return out

    X_train, X_val = features(train_x), features(val_x)
    if hooks.should_stop():
        raise Cancelled("stopped before fitting")
    hooks.progress(0.75, f"fitting the {model.kind}")
    model.fit_features(X_train, train_y)
    train_probs = full_probs(model, X_train, len(classes))
    metrics: dict[str, float] = {}
    val_loss = None
    if len(X_val):
        val_probs = full_probs(model, X_val, len(classes))
        result = classification_metrics(val_y, val_probs.argmax(1), len(classes))
        metrics = {"accuracy": float(result.accuracy), "macro_f1": float(result.macro_f1)}
        val_loss = _log_loss(val_probs, val_y)
    else:
        hooks.log("no val objects: the model is scored on nothing (add val images to measure it)")
    model.save(run_dir / CLASSICAL_FILE)
    record = EpochRecord(1, _log_loss(train_probs, train_y), val_loss, metrics, 0.0, time.monotonic() - started)
    columns = ["epoch", "train_loss", "val_loss", *METRICS, "lr", "seconds"]
    _write_log(run_dir / "training_log.csv", columns, [_row(record)])
    hooks.on_epoch(record)
    best = metrics.get(config.monitor_metric, -record.train_loss)
    shown = ", ".join(f"val {k} {v:.4f}" for k, v in metrics.items())
    hooks.log(f"fitted in {record.seconds:.1f} s: train log loss {record.train_loss:.4f}" + (f", {shown}" if shown else ""))
    hooks.progress(1.0, f"done: val {config.monitor_metric} {best:.4f}" if metrics else "done")
    setup = ClassicalSetup(classes, config.dataset, version.version_id,
                           classical_preprocessing(config.architecture, config.image_size))
    return setup, TrainResult(run_dir, float(best), 1, 1, False, [record], 0)
