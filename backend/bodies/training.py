"""Job kinds of training: ``train`` (one run, registered as a model version) and ``tune``
(an Optuna search whose best trial is registered)."""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING, Any

from backend.kinds import job_kind
from studio.errors import InvalidInput

if TYPE_CHECKING:
    from studio.jobs import JobContext


def stop_flag_on_sigterm() -> threading.Event:
    """An event set on SIGTERM (the worker's cancel), so the loop stops at its next step."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop


@job_kind("train")
def train_body(ctx: JobContext) -> dict[str, Any]:
    """params: {"config": TrainConfig fields, "run_id": str}; a run_id that already has a
    last.pt resumes (re-queue a failed or cancelled job to continue it)."""
    from studio.training.config import TrainConfig
    from studio.training.history import record_csv_rows, record_epoch
    from studio.training.loop import TrainHooks
    from studio.training.run import previous_epochs, run_training

    params = ctx.params
    if not isinstance(params.get("config"), dict) or not params.get("run_id"):
        raise InvalidInput(f"train job params: expected {{'config': {{...}}, 'run_id': str}}; got {sorted(params)}")
    config = TrainConfig.from_dict(params["config"])
    record_csv_rows(ctx.job_id, previous_epochs(params["run_id"]))
    stop = stop_flag_on_sigterm()
    hooks = TrainHooks(
        progress=ctx.progress, should_stop=stop.is_set, log=ctx.log,
        on_epoch=lambda r: record_epoch(ctx.job_id, r.epoch, train_loss=r.train_loss, val_loss=r.val_loss,
                                        lr=r.lr, metrics=r.metrics, seconds=r.seconds))
    outcome = run_training(config, params["run_id"], hooks, job_id=ctx.job_id)
    version = outcome.version
    return {"model": version.name if version else None, "model_id": version.id if version else None,
            "run_id": params["run_id"], "best_metric": outcome.result.best_metric,
            "best_epoch": outcome.result.best_epoch, "epochs": outcome.result.epochs_run,
            "resumed_from": outcome.result.resumed_from, "stopped_early": outcome.result.stopped_early}


@job_kind("tune")
def tune_body(ctx: JobContext) -> dict[str, Any]:
    """params: {"config": TrainConfig fields, "run_id": str, "trials": int, "space": {field: range}};
    re-queued with the same run_id it continues the same Optuna study."""
    from studio.training.config import TrainConfig
    from studio.training.loop import TrainHooks
    from studio.training.tune import run_search

    params = ctx.params
    if not isinstance(params.get("config"), dict) or not params.get("run_id") or not params.get("trials"):
        raise InvalidInput(f"tune job params: expected {{'config': {{...}}, 'run_id': str, 'trials': int}}; "
                           f"got {sorted(params)}")
    stop = stop_flag_on_sigterm()
    hooks = TrainHooks(progress=ctx.progress, should_stop=stop.is_set, log=ctx.log)
    outcome = run_search(TrainConfig.from_dict(params["config"]), params["run_id"], int(params["trials"]),
                         params.get("space"), hooks, job_id=ctx.job_id)
    version = outcome.version
    return {"model": version.name if version else None, "model_id": version.id if version else None,
            "study": outcome.study_name, "storage": outcome.storage, "best_trial": outcome.best.number,
            "best_value": outcome.best.value, "best_params": outcome.best.params,
            "trials": [{"number": t.number, "state": t.state, "value": t.value, "params": t.params}
                       for t in outcome.trials]}
