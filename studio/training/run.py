"""A whole training run: take a snapshot if none is named, prepare the task, train, and
register the result as a model version.

Runs live in ``<data_dir>/runs/<run_id>/`` (config.yaml, training_log.csv, last.pt,
best.pt). A run started again with the same ``run_id`` resumes from its ``last.pt``: that is
how a re-queued job continues after a worker died or the job was cancelled. The registered
version's files are hard links to the run's (one copy on disk; the trainer replaces its files
by rename, so later epochs never change a registered file); where models/ lies on another disk
they are moved, and the run folder keeps only its config and log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.config import get_settings
from studio.errors import InvalidInput, StudioError
from studio.registry import register_model
from studio.tables import ModelVersion
from studio.training.config import RUN_ID_PATTERN, TrainConfig, new_run_id  # noqa: F401 (new_run_id: re-exported)
from studio.training.loop import TrainHooks, TrainResult, read_log, train


@dataclass(frozen=True)
class RunOutcome:
    result: TrainResult
    version: ModelVersion | None  # None when registration was not asked for


def run_dir_for(run_id: str) -> Path:
    if not RUN_ID_PATTERN.fullmatch(run_id):
        raise InvalidInput(f"run id {run_id!r}: expected letters, digits, '-' or '_'")
    return get_settings().data_dir / "runs" / run_id


def ensure_snapshot(config: TrainConfig) -> TrainConfig:
    """Name the dataset version to read (the one rule: ``studio.training.inputs``)."""
    from studio.training.inputs import fix_dataset_version

    return fix_dataset_version(config)


def previous_epochs(run_id: str) -> list[dict[str, str]]:
    """The ``training_log.csv`` rows a run already has (what a resumed job re-reports)."""
    return read_log(run_dir_for(run_id) / "training_log.csv")


def run_training(config: TrainConfig, run_id: str, hooks: TrainHooks | None = None, *,
                 job_id: str | None = None, register: bool = True) -> RunOutcome:
    """Train ``config`` in run ``run_id`` (resuming when it has a ``last.pt``) and register the
    best checkpoint as a new model version."""
    hooks = hooks or TrainHooks()
    config = ensure_snapshot(config)
    run_dir = run_dir_for(run_id)
    setup, result = train_in(config, run_dir, hooks)
    version = register_run(config, setup, result, job_id=job_id, log=hooks.log) if register else None
    return RunOutcome(result, version)


def train_in(config: TrainConfig, run_dir: Path, hooks: TrainHooks) -> tuple[Any, TrainResult]:
    """Train ``config`` in ``run_dir`` with the trainer of its task: (setup, result)."""
    from studio.nets.classical import is_classical

    if is_classical(config.architecture):  # HOG/LBP/colour features + SVM or forest, fitted once
        from studio.training.classical import train_classical

        return train_classical(config, run_dir, hooks)
    if config.task == "instance":
        from studio.training.yolo import train_yolo

        return train_yolo(config, run_dir, hooks)
    from studio.training.tasks import prepare

    setup = prepare(config)
    return setup, train(config, setup, run_dir, hooks)


def register_run(config: TrainConfig, setup: Any, result: TrainResult, *, job_id: str | None = None,
                 log: Callable[[str], None] = lambda line: None, extra_metrics: dict[str, Any] | None = None,
                 ) -> ModelVersion:
    """Register the checkpoints of a finished run (``result.run_dir``) as a new model version."""
    run_dir = result.run_dir
    last = result.history[-1] if result.history else None
    metrics = {f"best_{config.monitor_metric}": result.best_metric, "best_epoch": result.best_epoch,
               "epochs": result.epochs_run, **({f"val_{k}": v for k, v in last.metrics.items()} if last else {}),
               **(extra_metrics or {})}
    files = {role: run_dir / f"{role}.pt" for role in ("best", "last") if (run_dir / f"{role}.pt").is_file()}
    if (run_dir / "classical.npz").is_file():  # a classical model: its arrays (studio.training.classical)
        files = {"classical": run_dir / "classical.npz"}
    if "best" not in files and "classical" not in files:
        raise StudioError(f"run {run_dir.name} has no best.pt (no epoch finished); nothing to register")
    files["training_log"] = run_dir / "training_log.csv"
    version = register_model(task=setup.task, architecture=config.architecture, backbone=config.backbone,
                             classes=setup.classes, dataset=setup.dataset_label, files=files,
                             config=setup.checkpoint_config(config), metrics=metrics,
                             preprocessing=setup.preprocessing, dataset_version_id=setup.dataset_version_id,
                             job_id=job_id, link=True)  # hard links: the run's files, stored once
    log(f"registered model version {version.name}")
    return version
