"""Instance segmentation training: YOLOv8-seg with ultralytics' own trainer, fully offline.

The dataset version is written as a YOLO-seg folder (``<run_dir>/yolo_data``, via
``studio.formats.yolo.save_yolo``), ultralytics trains in ``<run_dir>/ultralytics`` from a
model built by ``studio.nets`` (random init, or local pretrained weights), and callbacks
turn its epochs into the same things the plain loop produces:

- a ``training_log.csv`` row per epoch (train_loss, val_loss, map50, map, box_map50, lr, seconds),
  ``hooks.on_epoch`` (the job writes the database) and ``hooks.progress`` per batch with an ETA;
- ``best.pt`` / ``last.pt`` in the studio format: ``{"model": state_dict, "epoch", "best_metric",
  "config"}``, loadable with ``weights_only=True`` (ultralytics' own pickled checkpoints stay
  in ``ultralytics/weights/`` for its resume only; they are written and read by this code alone).

Resume: a run folder with ultralytics' ``last.pt`` continues with ``resume=True``.
Stop: ``hooks.should_stop()`` is checked after every batch and raises ``Cancelled``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.device import resolve_device
from studio.errors import InvalidInput
from studio.naming import data_version
from studio.training.config import TrainConfig
from studio.training.loop import Cancelled, EpochRecord, TrainHooks, TrainResult, _eta, _row, _write_log, read_log

METRIC_KEYS = {"map50": "metrics/mAP50(M)", "map": "metrics/mAP50-95(M)", "box_map50": "metrics/mAP50(B)"}
OPTIMIZER_NAMES = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD"}


@dataclass
class YoloSetup:
    """What ``run_training`` needs to register the result (mirrors ``TaskSetup``'s fields)."""

    classes: list[dict[str, Any]]  # output index i = classes[i]
    dataset_label: str
    dataset_version_id: int | None
    preprocessing: dict[str, Any] = field(default_factory=dict)
    task: str = "instance"
    metric_names: list[str] = field(default_factory=lambda: list(METRIC_KEYS))

    def checkpoint_config(self, config: TrainConfig) -> dict[str, Any]:
        return {**config.to_dict(), "classes": self.classes, "preprocessing": self.preprocessing,
                "num_outputs": len(self.classes)}


def write_yolo_dataset(config: TrainConfig, out_dir: Path) -> tuple[Path, list[dict[str, Any]], int | None, str]:
    """Export the config's dataset version as YOLO-seg into ``out_dir`` (rewritten each run).

    Returns (data.yaml path, classes in output order, dataset version row id, a note).
    A version without a 'val' split validates on its training images (the note says so).
    """
    import yaml

    from studio.datasets import doc_from_version
    from studio.db import session_scope
    from studio.formats.yolo import save_yolo
    from studio.training.data import load_version

    if not config.dataset or config.dataset_version is None:
        raise InvalidInput("instance training: expected config dataset and dataset_version (a snapshot)")
    version = load_version(config.dataset, config.dataset_version)
    with session_scope() as session:
        doc = doc_from_version(session, config.dataset, config.dataset_version)
    doc.classes = [c for c in doc.classes if c.index != 0]
    if not doc.classes:
        raise InvalidInput(f"dataset {data_version(config.dataset, config.dataset_version)} has no classes to learn")
    if not doc.annotations:
        raise InvalidInput(f"dataset {data_version(config.dataset, config.dataset_version)} has no annotations "
                           "to learn from")
    save_yolo(doc, out_dir, force=True)
    data_yaml = out_dir / "data.yaml"
    data = yaml.safe_load(data_yaml.read_text())
    note = ""
    if "val" not in data:
        data["val"] = data.get("train", "images/train")
        note = "no 'val' split: validating on the training images"
    data["path"] = str(out_dir.resolve())
    data_yaml.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    classes = [{"name": c.name, "index": c.index, "color": c.color} for c in sorted(doc.classes, key=lambda c: c.index)]
    return data_yaml, classes, version.version_id, note


def _train_args(config: TrainConfig, data_yaml: Path, run_dir: Path, workers: int) -> dict[str, Any]:
    device = resolve_device(config.device)
    return {
        "data": str(data_yaml), "epochs": config.epochs, "imgsz": config.image_size, "batch": config.batch_size,
        "device": "cpu" if device.type != "cuda" else (device.index or 0),
        "amp": bool(config.amp and device.type == "cuda"),  # ultralytics' AMP check downloads: off on CPU
        "workers": workers, "project": str(run_dir), "name": "ultralytics", "exist_ok": True,
        "seed": config.seed, "deterministic": True, "optimizer": OPTIMIZER_NAMES[config.optimizer],
        "lr0": config.lr, "lrf": max(config.min_lr / config.lr, 1e-6), "cos_lr": config.scheduler == "cosine",
        "weight_decay": config.weight_decay, "momentum": config.momentum, "warmup_epochs": config.warmup_epochs,
        "patience": config.early_stopping or 10_000, "plots": False, "verbose": False, "val": True,
        "fliplr": float(config.augment.get("hflip", 0.0)), "flipud": float(config.augment.get("vflip", 0.0)),
        "degrees": float(config.augment.get("rotate", 0.0)), "mosaic": 0.0,
        "hsv_v": float(config.augment.get("color_jitter", 0.0)), "nbs": config.batch_size * config.accumulate,
    }


def _total_loss(trainer: Any) -> float:
    """Sum of ultralytics' running mean loss items (a dict in 8.4, a tensor before)."""
    items = trainer.tloss
    if items is None:
        return float("nan")
    values = items.values() if isinstance(items, dict) else items
    return float(sum(float(v) for v in values)) if isinstance(items, dict) else float(values.sum())


class _Reporter:
    """ultralytics callbacks -> studio log rows, hooks and checkpoints."""

    def __init__(self, config: TrainConfig, setup: YoloSetup, run_dir: Path, hooks: TrainHooks, start_epoch: int):
        self.config, self.setup, self.run_dir, self.hooks = config, setup, run_dir, hooks
        self.columns = ["epoch", "train_loss", "val_loss", *setup.metric_names, "lr", "seconds"]
        self.rows: list[dict[str, object]] = [r for r in read_log(run_dir / "training_log.csv")
                                              if int(r["epoch"]) < start_epoch]
        self.history: list[EpochRecord] = []
        self.best = max((float(r["map50"]) for r in self.rows if r.get("map50")), default=-math.inf)
        self.best_epoch = max((int(r["epoch"]) for r in self.rows if r.get("map50")
                               and float(r["map50"]) == self.best), default=0)
        self.epoch_start = self.run_start = time.monotonic()
        self.done_batches = 0

    def on_train_epoch_start(self, trainer: Any) -> None:
        self.epoch_start = time.monotonic()

    def on_train_batch_end(self, trainer: Any) -> None:
        if self.hooks.should_stop():
            raise Cancelled(f"stopped in epoch {trainer.epoch + 1}")
        batches = max(len(trainer.train_loader), 1)
        self.done_batches += 1
        i = self.done_batches % batches or batches
        remaining = (self.config.epochs - trainer.epoch - 1) * batches + (batches - i)
        eta = (time.monotonic() - self.run_start) / self.done_batches * remaining
        loss = _total_loss(trainer)
        self.hooks.progress((trainer.epoch + i / batches) / self.config.epochs,
                            f"epoch {trainer.epoch + 1}/{self.config.epochs} · batch {i}/{batches} · "
                            f"loss {loss:.4f} · ETA {_eta(eta)}")

    def on_fit_epoch_end(self, trainer: Any) -> None:
        from studio.registry import save_checkpoint

        epoch = trainer.epoch + 1
        if epoch > self.config.epochs:  # ultralytics' final validation of best.pt calls this again
            return
        m = trainer.metrics or {}
        metrics = {name: float(m.get(key, 0.0)) for name, key in METRIC_KEYS.items()}
        val_loss = sum(float(v) for k, v in m.items() if k.startswith("val/")) or None
        train_loss = _total_loss(trainer)
        lr = float(next(iter(trainer.lr.values()))) if getattr(trainer, "lr", None) else self.config.lr
        record = EpochRecord(epoch, train_loss, val_loss, metrics, lr, time.monotonic() - self.epoch_start)
        self.history.append(record)
        self.rows.append(_row(record))
        _write_log(self.run_dir / "training_log.csv", self.columns, self.rows)
        improved = metrics["map50"] > self.best
        if improved:
            self.best, self.best_epoch = metrics["map50"], epoch
        net = trainer.ema.ema if getattr(trainer, "ema", None) is not None else trainer.model
        state = {k: v.detach().float().cpu() if v.is_floating_point() else v.detach().cpu()
                 for k, v in net.state_dict().items()}
        parts = {"model": state, "epoch": epoch, "best_metric": self.best,
                 "config": self.setup.checkpoint_config(self.config)}
        save_checkpoint(self.run_dir / "last.pt", **parts)
        if improved:
            save_checkpoint(self.run_dir / "best.pt", **parts)
        self.hooks.on_epoch(record)
        self.hooks.log(f"epoch {epoch}: train loss {train_loss:.4f}, mask mAP50 {metrics['map50']:.4f}, "
                       f"mAP50-95 {metrics['map']:.4f}, lr {lr:.2e}, {record.seconds:.1f} s" + (" *" if improved else ""))


def train_yolo(config: TrainConfig, run_dir: Path, hooks: TrainHooks | None = None) -> tuple[YoloSetup, TrainResult]:
    """Train ``config`` (task instance, architecture yolov8-seg) in ``run_dir``; resume when its
    ultralytics ``last.pt`` exists."""
    from studio.nets import create_model, preprocessing
    from studio.nets.yolo import as_yolo
    from studio.training.loop import _worker_count

    hooks = hooks or TrainHooks()
    if config.architecture != "yolov8-seg":
        raise InvalidInput(f"instance training: expected architecture 'yolov8-seg', got {config.architecture!r}")
    run_dir.mkdir(parents=True, exist_ok=True)
    config.save(run_dir / "config.yaml")
    data_yaml, classes, version_id, note = write_yolo_dataset(config, run_dir / "yolo_data")
    if note:
        hooks.log(note)
    setup = YoloSetup(classes, config.dataset, version_id,
                      {**preprocessing("yolov8-seg", config.backbone or "n"), "image_size": config.image_size,
                       "resize": "letterbox to image_size (ultralytics)"})
    ultra_last = run_dir / "ultralytics" / "weights" / "last.pt"
    studio_last = run_dir / "last.pt"
    resumed_from = 0
    if ultra_last.is_file() and studio_last.is_file():
        from studio.registry import load_checkpoint

        resumed_from = int(load_checkpoint(studio_last)["epoch"])
    reporter = _Reporter(config, setup, run_dir, hooks, resumed_from + 1)
    if resumed_from >= config.epochs:
        hooks.log(f"run already finished {resumed_from} epochs")
    else:
        from ultralytics import YOLO

        if resumed_from:
            hooks.log(f"resuming after epoch {resumed_from}")
            yolo = YOLO(str(ultra_last), task="segment")  # written by this trainer above: trusted
            args: dict[str, Any] = {"resume": str(ultra_last)}
        else:
            import torch

            torch.manual_seed(config.seed)
            model = create_model("yolov8-seg", num_classes=len(classes), backbone=config.backbone or "n",
                                 pretrained=config.pretrained, names=tuple(c["name"] for c in classes))
            yolo = as_yolo(model)
            args = _train_args(config, data_yaml, run_dir, _worker_count(config))
        for event in ("on_train_epoch_start", "on_train_batch_end", "on_fit_epoch_end"):
            yolo.add_callback(event, getattr(reporter, event))
        hooks.log(f"training yolov8-seg {config.backbone or 'n'} with ultralytics: {len(classes)} classes")
        yolo.train(**args)
    hooks.progress(1.0, f"done: best map50 {reporter.best:.4f} (epoch {reporter.best_epoch})")
    epochs_run = reporter.history[-1].epoch if reporter.history else resumed_from
    return setup, TrainResult(run_dir, reporter.best, reporter.best_epoch, epochs_run, False,
                              reporter.history, resumed_from)
