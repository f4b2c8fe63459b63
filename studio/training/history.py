"""Per-epoch rows of training jobs in the database (``EpochLog``): what the Jobs and Models
pages plot while a job runs and after."""

from __future__ import annotations

import math
from typing import Any

from sqlmodel import col, select

from studio.db import session_scope
from studio.tables import EpochLog


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def record_epoch(job_id: str, epoch: int, *, train_loss: float | None, val_loss: float | None,
                 lr: float | None, metrics: dict[str, float], seconds: float) -> None:
    """Insert (or replace, for a resumed epoch) the row of ``epoch`` of ``job_id``."""
    with session_scope() as session:
        old = session.exec(select(EpochLog).where(EpochLog.job_id == job_id, EpochLog.epoch == epoch)).first()
        if old is not None:
            session.delete(old)
            session.flush()
        session.add(EpochLog(job_id=job_id, epoch=epoch, train_loss=_number(train_loss), val_loss=_number(val_loss),
                             lr=_number(lr), metrics={k: v for k, v in metrics.items() if _number(v) is not None},
                             seconds=float(seconds)))


def record_csv_rows(job_id: str, rows: list[dict[str, str]]) -> None:
    """Re-report ``training_log.csv`` rows (a resumed run's earlier epochs) under ``job_id``."""
    fixed = {"epoch", "train_loss", "val_loss", "lr", "seconds", "data_stall"}  # data_stall: input timing, not a metric
    for row in rows:
        record_epoch(job_id, int(row["epoch"]), train_loss=_number(row.get("train_loss")),
                     val_loss=_number(row.get("val_loss")), lr=_number(row.get("lr")),
                     metrics={k: float(v) for k, v in row.items() if k not in fixed and _number(v) is not None},
                     seconds=_number(row.get("seconds")) or 0.0)


def epoch_rows(job_id: str) -> list[dict[str, Any]]:
    """The job's epochs, oldest first, flat: epoch, train_loss, val_loss, lr, seconds, metrics..."""
    with session_scope() as session:
        logs = session.exec(select(EpochLog).where(EpochLog.job_id == job_id).order_by(col(EpochLog.epoch))).all()
        return [{"epoch": r.epoch, "train_loss": r.train_loss, "val_loss": r.val_loss, "lr": r.lr,
                 "seconds": r.seconds, **r.metrics} for r in logs]
