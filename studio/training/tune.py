"""Hyper-parameter search: N Optuna trials of one training config; the best is registered.

The search space maps config fields to ranges::

    {"lr": [1e-4, 1e-2],                 # two positive numbers: log-uniform float
     "weight_decay": [0.0, 1e-3],        # two numbers with a 0: uniform float
     "batch_size": [4, 16],              # two ints: integer range
     "optimizer": ["adam", "adamw"]}     # anything else: one of these values

Trials train in ``<run_dir>/trial_<n>/`` without registering; the study lives in the
studio database's directory (``optuna.db`` beside ``annotations.db``), so trials survive the
worker and ``optuna-dashboard sqlite:///optuna.db`` can show them. Each finished trial is
appended to ``<run_dir>/trials.csv`` and reported through ``on_trial``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.errors import InvalidInput, StudioError
from studio.tables import ModelVersion
from studio.training.config import TrainConfig
from studio.training.loop import TrainHooks

DEFAULT_SPACE: dict[str, list[Any]] = {"lr": [1e-4, 1e-2], "weight_decay": [1e-6, 1e-2]}


@dataclass(frozen=True)
class TrialRecord:
    number: int  # 0-based
    params: dict[str, Any]
    value: float | None  # the monitored metric's best value; None when the trial failed
    state: str  # COMPLETE | FAIL | PRUNED


@dataclass(frozen=True)
class SearchOutcome:
    study_name: str
    storage: str
    trials: list[TrialRecord]
    best: TrialRecord
    version: ModelVersion | None


def optuna_storage_url() -> str:
    """``sqlite:///<directory of the studio database>/optuna.db`` (the data dir for non-file URLs)."""
    from studio.config import get_settings

    settings = get_settings()
    url = settings.db_url
    folder = Path(url.removeprefix("sqlite:///")).resolve().parent if url.startswith("sqlite:///") \
        else settings.data_dir.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(folder / 'optuna.db').as_posix()}"


def check_space(space: dict[str, Any]) -> dict[str, list[Any]]:
    """The space with each entry checked against TrainConfig's fields (InvalidInput naming the bad one)."""
    from dataclasses import fields

    known = {f.name for f in fields(TrainConfig)}
    if not isinstance(space, dict) or not space:
        raise InvalidInput(f"search space: expected a mapping of config field -> range or choices, got {space!r}")
    for name, values in space.items():
        if name not in known:
            raise InvalidInput(f"search space: {name!r} is not a training config field")
        if not isinstance(values, list) or len(values) < 2:
            raise InvalidInput(f"search space {name}: expected [low, high] or a list of >= 2 choices, got {values!r}")
    return space


def suggest(trial: Any, name: str, values: list[Any]) -> Any:
    """One value for ``name`` from ``values`` (see the module docstring for the rules)."""
    numeric = len(values) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if numeric and all(isinstance(v, int) for v in values):
        return trial.suggest_int(name, min(values), max(values))
    if numeric:
        low, high = float(min(values)), float(max(values))
        return trial.suggest_float(name, low, high, log=low > 0)
    return trial.suggest_categorical(name, values)


def _append_trial(path: Path, record: TrialRecord) -> None:
    new = not path.is_file()
    with path.open("a", newline="") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow(["trial", "state", "value", "params"])
        writer.writerow([record.number, record.state, "" if record.value is None else f"{record.value:.6f}",
                         repr(record.params)])


def run_search(config: TrainConfig, run_id: str, n_trials: int, space: dict[str, Any] | None = None,
               hooks: TrainHooks | None = None, *, job_id: str | None = None,
               on_trial: Callable[[TrialRecord], None] = lambda record: None) -> SearchOutcome:
    """Run ``n_trials`` trainings of ``config`` with sampled fields; register the best trial."""
    import optuna

    from studio.training.run import ensure_snapshot, register_run, run_dir_for, train_in

    if not isinstance(n_trials, int) or n_trials < 1:
        raise InvalidInput(f"n_trials: expected a positive integer, got {n_trials!r}")
    hooks = hooks or TrainHooks()
    space = check_space(space or DEFAULT_SPACE)
    config = ensure_snapshot(config)
    run_dir = run_dir_for(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    storage = optuna_storage_url()
    study_name = f"tune-{run_id}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=study_name, storage=storage, direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=config.seed), load_if_exists=True)
    setups: dict[int, tuple[Any, Any, TrainConfig]] = {}
    done = len([t for t in study.trials if t.state.is_finished()])

    def objective(trial: optuna.Trial) -> float:
        values = {name: suggest(trial, name, choices) for name, choices in space.items()}
        trial_config = TrainConfig.from_dict({**config.to_dict(), **values})
        n = trial.number
        trial_hooks = TrainHooks(
            progress=lambda f, msg: hooks.progress((n + f) / n_trials, f"trial {n + 1}/{n_trials} · {msg}"),
            should_stop=hooks.should_stop, on_epoch=hooks.on_epoch, log=hooks.log)
        hooks.log(f"trial {n + 1}/{n_trials}: {values}")
        setup, result = train_in(trial_config, run_dir / f"trial_{n}", trial_hooks)
        setups[n] = (setup, result, trial_config)
        if not math.isfinite(result.best_metric):
            raise StudioError(f"trial {n}: no finite {config.monitor_metric}")
        return result.best_metric

    def record(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        rec = TrialRecord(trial.number, dict(trial.params), trial.value, trial.state.name)
        _append_trial(run_dir / "trials.csv", rec)
        hooks.log(f"trial {trial.number + 1}: {rec.state} {config.monitor_metric}="
                  f"{'-' if rec.value is None else f'{rec.value:.4f}'} {rec.params}")
        on_trial(rec)

    remaining = max(0, n_trials - done)
    study.optimize(objective, n_trials=remaining, callbacks=[record], catch=(StudioError,))
    trials = [TrialRecord(t.number, dict(t.params), t.value, t.state.name) for t in study.trials]
    completed = [t for t in trials if t.state == "COMPLETE" and t.value is not None]
    if not completed:
        raise StudioError(f"no trial of {study_name} completed; see the job log")
    best = max(completed, key=lambda t: t.value)  # type: ignore[arg-type, return-value]
    if best.number not in setups:  # finished before a resume: rebuild its setup from the trial folder
        best_config = TrainConfig.from_dict({**config.to_dict(), **best.params})
        setups[best.number] = train_in(best_config, run_dir / f"trial_{best.number}", TrainHooks()) + (best_config,)
    setup, result, best_config = setups[best.number]
    version = register_run(best_config, setup, result, job_id=job_id, log=hooks.log,
                           extra_metrics={"tune_trials": len(trials), "tune_best_trial": best.number,
                                          "tune_study": study_name})
    hooks.progress(1.0, f"best trial {best.number + 1}: {config.monitor_metric} {best.value:.4f}")
    return SearchOutcome(study_name, storage, trials, best, version)
