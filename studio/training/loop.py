"""The training loop: one readable function for every task that trains with plain PyTorch
(semantic segmentation, image classification, keypoint sequences; YOLO uses its own).

Per epoch it writes a row to ``training_log.csv`` (epoch, train_loss, val_loss, metrics...,
lr, seconds, data_stall), calls ``hooks.on_epoch`` (the job writes the same to the database) and saves
``last.pt`` (the resume state: model, optimizer, scheduler, epoch) and, when the monitored
metric improved, ``best.pt`` (the weights, epoch, best metric and config only) in the run folder.

Resume: with ``last.pt`` in the run folder, training continues after its epoch with the
model, optimizer and schedule restored. Shuffling, augmentation and dropout derive from
(seed, epoch), so the resumed run reproduces the uninterrupted one.

Stop: ``hooks.should_stop()`` is checked before every step; when it says so, the loop
raises :class:`Cancelled` (the last completed epoch's ``last.pt`` stays for a resume).

Input: loader workers live for the whole run (each index carries its epoch, see
``data.EpochItems``), with pinned memory and a deeper prefetch on CUDA; the loaders draw their
worker seeds from their own generator, never from the global RNG the model's dropout uses.
``data_stall`` is the fraction of the epoch's wall time the loop spent waiting for the next
batch (train and val): near 0, the input keeps up; near 1, the GPU starves.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from studio.device import describe_device, resolve_device
from studio.errors import StudioError
from studio.naming import metric_label, monitored_label
from studio.progress import ProgressFn, null_progress
from studio.registry import load_checkpoint, save_checkpoint
from studio.training.config import TrainConfig
from studio.training.data import EpochItems, EpochShuffle, sample_seed
from studio.training import distributed, unfreeze
from studio.training.optim import build_optimizer, build_scheduler
from studio.training.tasks import TaskSetup

log = logging.getLogger(__name__)


class Cancelled(StudioError):
    """Training was asked to stop (the job was cancelled)."""


@dataclass(frozen=True)
class EpochRecord:
    epoch: int  # 1-based
    train_loss: float
    val_loss: float | None
    metrics: dict[str, float]
    lr: float
    seconds: float
    data_stall: float | None = None  # share of ``seconds`` spent waiting for input batches (None: not measured)


@dataclass
class TrainHooks:
    """How the loop talks to its caller (a job, the CLI, a test)."""

    progress: ProgressFn = null_progress  # (fraction of the whole run, message)
    should_stop: Callable[[], bool] = lambda: False  # checked before every step
    on_epoch: Callable[[EpochRecord], None] = lambda record: None  # after each epoch's files are written
    log: Callable[[str], None] = lambda line: log.info(line)


@dataclass
class TrainResult:
    run_dir: Path
    best_metric: float
    best_epoch: int
    epochs_run: int  # epochs finished, counting those before a resume
    stopped_early: bool
    history: list[EpochRecord] = field(default_factory=list)
    resumed_from: int = 0  # the epoch of the last.pt this run continued from (0: fresh)


def _worker_count(config: TrainConfig, device: torch.device | None = None) -> int:
    """``config.num_workers``, or by default one per CPU core but one, at most 8 on CUDA (the
    GPU outruns them) and 4 on a CPU (where they compete with the model for the cores)."""
    if config.num_workers >= 0:
        return config.num_workers
    most = 8 if device is not None and device.type == "cuda" else 4
    return max(0, min(most, (os.cpu_count() or 1) - 1))


def _loader(dataset: Any, config: TrainConfig, device: torch.device, workers: int, *, sampler: Any = None,
            collate: Callable | None = None, drop_last: bool = False, batch_size: int | None = None) -> DataLoader:
    """A loader whose workers persist across epochs; pinned memory and 4 batches in flight per
    worker on CUDA; worker seeds from a generator of its own (the global RNG is left alone, so a
    resumed run draws the same dropout masks as an uninterrupted one)."""
    cuda = device.type == "cuda"
    extra: dict[str, Any] = {"persistent_workers": True, "prefetch_factor": 4 if cuda else 2} if workers else {}
    return DataLoader(dataset, batch_size=batch_size or config.batch_size, sampler=sampler, shuffle=False, num_workers=workers,
                      collate_fn=collate, drop_last=drop_last, pin_memory=cuda,
                      generator=torch.Generator().manual_seed(config.seed), **extra)


class _Timed:
    """Iterates ``loader``, adding the time spent waiting for each batch to ``waited``."""

    def __init__(self, loader: DataLoader) -> None:
        self.loader, self.waited = loader, 0.0

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Any]:
        started = time.perf_counter()
        iterator = iter(self.loader)
        while True:
            try:
                batch = next(iterator)
            except StopIteration:
                self.waited += time.perf_counter() - started
                return
            self.waited += time.perf_counter() - started
            yield batch
            started = time.perf_counter()


def _csv_columns(setup: TaskSetup) -> list[str]:
    return ["epoch", "train_loss", "val_loss", *setup.metric_names, "lr", "seconds", "data_stall"]


def read_log(path: Path) -> list[dict[str, str]]:
    """Rows of a ``training_log.csv`` (empty if there is none)."""
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _write_log(path: Path, columns: list[str], rows: list[dict[str, object]]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def _row(record: EpochRecord) -> dict[str, object]:
    return {"epoch": record.epoch, "train_loss": f"{record.train_loss:.6f}",
            "val_loss": "" if record.val_loss is None else f"{record.val_loss:.6f}",
            **{k: f"{v:.6f}" for k, v in record.metrics.items()}, "lr": f"{record.lr:.8g}",
            "seconds": f"{record.seconds:.2f}",
            "data_stall": "" if record.data_stall is None else f"{record.data_stall:.4f}"}


def _autocast(device: torch.device, config: TrainConfig):  # noqa: ANN202
    """bf16 autocast on CUDA when enabled (fp16 where bf16 is missing), else nothing."""
    if device.type != "cuda" or not config.amp:
        return nullcontext(), None
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    return torch.autocast("cuda", dtype=dtype), scaler


def _eta(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s" if seconds >= 60 else f"{seconds:.0f}s"


def train(config: TrainConfig, setup: TaskSetup, run_dir: Path, hooks: TrainHooks | None = None,
          resume: bool = True) -> TrainResult:
    """Train ``setup.model`` on ``setup.train_set`` for ``config.epochs`` (see the module docstring)."""
    rank = distributed.current()  # 0 of 1 unless started by studio.training.distributed (DDP)
    hooks = hooks or TrainHooks()
    if not rank.main:  # one voice: rank 0 reports, logs and writes the run folder
        hooks = TrainHooks(should_stop=hooks.should_stop)
    run_dir.mkdir(parents=True, exist_ok=True)
    if rank.main:
        config.save(run_dir / "config.yaml")
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    net = setup.model.to(device)  # the network itself: checkpoints, evaluation, unfreezing
    if device.type == "cuda" and config.channels_last and setup.image_input:
        net = net.to(memory_format=torch.channels_last)
    model = net  # what the steps run: the network, or its DDP wrapper (gradients averaged over ranks)

    workers = _worker_count(config, device)
    if rank.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
        sampler: Any = distributed.RankShuffle(len(setup.train_set), config.seed, config.batch_size, rank)
        train_loader = _Timed(_loader(EpochItems(setup.train_set), config, device, workers, sampler=sampler,
                                      collate=setup.collate, batch_size=sampler.share))
    else:
        sampler = EpochShuffle(len(setup.train_set), config.seed, tag_epoch=True)
        train_loader = _Timed(_loader(EpochItems(setup.train_set), config, device, workers, sampler=sampler,
                                      collate=setup.collate, drop_last=len(setup.train_set) > config.batch_size))
    val_loader = _Timed(_loader(setup.val_set, config, device, workers, collate=setup.collate)) \
        if len(setup.val_set) and rank.main else None
    has_val = len(setup.val_set) > 0
    batches = len(train_loader) if not config.max_train_batches else min(len(train_loader), config.max_train_batches)
    if batches == 0:
        raise StudioError(f"no training batches: {len(setup.train_set)} training samples")
    steps_per_epoch = math.ceil(batches / config.accumulate)
    optimizer = build_optimizer(unfreeze.param_groups(net, config.unfreeze, config.lr, config.architecture), config)
    scheduler = build_scheduler(optimizer, config, steps_per_epoch)
    autocast, scaler = _autocast(device, config)

    columns = _csv_columns(setup)
    log_path = run_dir / "training_log.csv"
    start_epoch, best, best_epoch, rows = 1, -math.inf, 0, []
    last_path, best_path = run_dir / "last.pt", run_dir / "best.pt"
    resumed_from = 0
    if resume and last_path.is_file():
        checkpoint = load_checkpoint(last_path)
        net.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        resumed_from = int(checkpoint["epoch"])
        start_epoch = resumed_from + 1
        best = float(checkpoint["best_metric"])
        rows = [r for r in read_log(log_path) if int(r["epoch"]) <= resumed_from]
        best_epoch = max((int(r["epoch"]) for r in rows if r.get(config.monitor_metric) and
                          math.isclose(float(r[config.monitor_metric]), best, rel_tol=1e-6)), default=resumed_from)
        hooks.log(f"resuming after epoch {resumed_from} ({monitored_label(config.monitor_metric)} {best:.4f})")
    hooks.log(f"training {config.architecture} {config.backbone} on {describe_device(device)}: "
              f"{len(setup.train_set)} train / {len(setup.val_set)} val samples, {batches} batches per epoch, "
              f"{workers} loader worker(s)" + (f", {rank.world} processes (DDP)" if rank.world > 1 else ""))
    if setup.input_note:
        hooks.log(setup.input_note)

    history: list[EpochRecord] = []
    stale, stopped_early = 0, False
    run_start = time.monotonic()
    done_batches, total_batches = 0, (config.epochs - start_epoch + 1) * batches
    for epoch in range(start_epoch, config.epochs + 1):
        epoch_start = time.monotonic()
        waited_before = train_loader.waited + (val_loader.waited if val_loader is not None else 0.0)
        sampler.set_epoch(epoch)
        setup.train_set.set_epoch(epoch)
        torch.manual_seed(sample_seed(config.seed, epoch, 0))  # dropout etc.: the same after a resume
        model.train()
        unfreeze.apply(net, config.unfreeze, epoch, config.architecture, hooks.log)  # progressive unfreezing
        total_loss, seen = 0.0, 0
        optimizer.zero_grad(set_to_none=True)
        for i, batch in enumerate(train_loader):
            if i >= batches:
                break
            if hooks.should_stop():
                raise Cancelled(f"stopped in epoch {epoch} at batch {i + 1}/{batches}")
            with autocast:
                loss = setup.compute_loss(model, batch, device)
            if not torch.isfinite(loss):
                raise StudioError(f"loss became {loss.item()} in epoch {epoch}, batch {i + 1}; "
                                  "lower the learning rate (lr) or check the labels")
            scaled = loss / config.accumulate
            (scaler.scale(scaled) if scaler else scaled).backward()
            if (i + 1) % config.accumulate == 0 or i + 1 == batches:
                if scaler:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                scheduler.step()
            n = setup.batch_size_of(batch)
            total_loss, seen = total_loss + loss.item() * n, seen + n
            done_batches += 1
            elapsed = time.monotonic() - run_start
            eta = elapsed / done_batches * (total_batches - done_batches)
            hooks.progress(((epoch - 1) + (i + 1) / batches) / config.epochs,
                           f"epoch {epoch}/{config.epochs} · batch {i + 1}/{batches} · "
                           f"loss {total_loss / seen:.4f} · ETA {_eta(eta)}")
        val_loss, metrics = (None, {}) if val_loader is None else setup.evaluate(net, val_loader, device, autocast)
        seconds = time.monotonic() - epoch_start
        waited = train_loader.waited + (val_loader.waited if val_loader is not None else 0.0) - waited_before
        record = EpochRecord(epoch, total_loss / max(seen, 1), val_loss, metrics, optimizer.param_groups[0]["lr"],
                             seconds, min(1.0, waited / seconds) if seconds > 0 else 0.0)
        history.append(record)
        rows.append(_row(record))
        if rank.main:
            _write_log(log_path, columns, rows)
        score = metrics.get(config.monitor_metric, -record.train_loss if not has_val else -math.inf)
        improved = score > best
        if improved:
            best, best_epoch, stale = float(score), epoch, 0
        else:
            stale += 1
        if rank.main:
            parts = {"model": net.state_dict(), "epoch": epoch, "best_metric": best,
                     "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                     "config": setup.checkpoint_config(config)}
            save_checkpoint(last_path, **parts)  # the full resume state
            if improved:  # weights and what evaluation needs; no optimizer (a third of the size)
                save_checkpoint(best_path, **{k: v for k, v in parts.items() if k not in ("optimizer", "scheduler")})
        hooks.on_epoch(record)
        shown = " ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        hooks.log(f"epoch {epoch}: train loss {record.train_loss:.4f}"
                  + (f", val loss {val_loss:.4f}" if val_loss is not None else "") + (f", {shown}" if shown else "")
                  + f", lr {record.lr:.2e}, {record.seconds:.1f} s, waited for data {record.data_stall:.0%}"
                  + (" *" if improved else ""))
        if distributed.stop_agreed(bool(config.early_stopping and stale >= config.early_stopping)):
            stopped_early = True
            hooks.log(f"early stop: val {metric_label(config.monitor_metric)} did not improve for {stale} epochs")
            break
    hooks.progress(1.0, f"done: {monitored_label(config.monitor_metric)} {best:.4f} (epoch {best_epoch})")
    return TrainResult(run_dir, best, best_epoch, (history[-1].epoch if history else resumed_from), stopped_early,
                       history, resumed_from)
