"""Training jobs: ``train`` (one run, registered as a model version) and ``tune`` (an Optuna
search whose best trial is registered). Both fix their dataset version when queued
(``studio.training.inputs``); a re-queued job keeps its ``run_id`` and resumes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from studio.errors import InvalidInput
from studio.jobs.context import JobContext
from studio.jobs.spec import JobSpec, job_kind
from studio.training.config import RUN_ID_PATTERN, TrainConfig, new_run_id


@dataclass(frozen=True)
class TrainOutcome:
    model: str | None  # the registered version's name
    model_id: int | None
    run_id: str
    best_metric: float  # the best value of the monitored metric
    monitor: str  # which metric that is ("miou", "accuracy" ...), measured on the val split
    best_epoch: int
    epochs: int
    resumed_from: int  # epoch of the last.pt this run continued from (0: fresh)
    stopped_early: bool
    evaluation_id: int | None = None  # the val evaluation the job wrote (scored as Evaluate does)
    eval_metric: float | None = None  # the monitored metric in that evaluation
    chance: float | None = None  # what a model that learned nothing scores on that metric (val split)
    warning: str = ""  # "at chance level: ..." when the run ended there ('' otherwise)

    def lines(self) -> list[str]:
        """The result for people (CLI, log): the version, the named metric, the evaluation, a warning."""
        from studio.naming import metric_label, monitored_label

        out = [f"model version {self.model}" if self.model else "no model version registered",
               f"{monitored_label(self.monitor)} {self.best_metric:.4f} at epoch {self.best_epoch} of "
               f"{self.epochs} (training-time)" + (", stopped early" if self.stopped_early else "")]
        if self.eval_metric is not None:
            out.append(f"val {metric_label(self.monitor)} {self.eval_metric:.4f} as Evaluate scores it "
                       f"(evaluation {self.evaluation_id})")
        if self.chance is not None:
            out.append(f"chance level {self.chance:.4f}")
        if self.warning:
            out.append("WARNING " + self.warning)
        return out


@job_kind
@dataclass(frozen=True, kw_only=True)
class TrainSpec(JobSpec[TrainOutcome]):
    kind: ClassVar[str] = "train"
    result_type: ClassVar[type] = TrainOutcome
    stops_cooperatively: ClassVar[bool] = True
    resources: ClassVar[str] = "gpu"

    config: TrainConfig
    run_id: str = field(default_factory=new_run_id)  # same run_id = resume from its last.pt
    evaluate: bool = True  # score the registered version on val as Evaluate does, check the chance level

    def validate(self) -> None:
        if not RUN_ID_PATTERN.fullmatch(self.run_id):
            raise InvalidInput(f"train job run_id {self.run_id!r}: expected 1-64 letters, digits, '-' or '_'")

    def prepare(self) -> TrainSpec:
        from studio.training.inputs import fix_dataset_version

        return dataclasses.replace(self, config=fix_dataset_version(self.config))

    def run(self, ctx: JobContext) -> TrainOutcome:
        from studio.training.loop import TrainHooks
        from studio.training.run import previous_epochs, run_training

        on_epoch = None
        if ctx.job_id is not None:
            from studio.training.history import record_csv_rows, record_epoch

            job_id = ctx.job_id
            record_csv_rows(job_id, previous_epochs(self.run_id))

            def on_epoch(r: Any) -> None:
                record_epoch(job_id, r.epoch, train_loss=r.train_loss, val_loss=r.val_loss, lr=r.lr,
                             metrics=r.metrics, seconds=r.seconds)

        share = 0.9 if self.evaluate else 1.0  # the rest: the evaluation after training
        hooks = TrainHooks(progress=lambda f, m: ctx.progress(share * f, m), should_stop=ctx.should_stop,
                           log=ctx.log, **({"on_epoch": on_epoch} if on_epoch else {}))
        if self.config.gpus > 1:  # one run on several processes (DDP); rank 0 reports to this job itself
            version, result = self._run_distributed(ctx)
        else:
            outcome = run_training(self.config, self.run_id, hooks, job_id=ctx.job_id)
            version, result = outcome.version, outcome.result
        monitor = self.config.monitor_metric
        done = TrainOutcome(model=version.name if version else None, model_id=version.id if version else None,
                            run_id=self.run_id, best_metric=result.best_metric, monitor=monitor,
                            best_epoch=result.best_epoch, epochs=result.epochs_run,
                            resumed_from=result.resumed_from, stopped_early=result.stopped_early)
        if version is None:
            return done
        from studio.training.readout import read_out

        readout = read_out(version, monitor, result.best_metric, job_id=ctx.job_id, evaluate=self.evaluate,
                           progress=lambda f, m: ctx.progress(share + (1 - share) * f, f"evaluating on val: {m}"),
                           log=ctx.log)
        done = dataclasses.replace(done, evaluation_id=readout.evaluation_id, eval_metric=readout.eval_value,
                                   chance=readout.chance.chance if readout.chance else None,
                                   warning=readout.warning)
        ctx.progress(1.0, "; ".join(done.lines()[1:3]))
        return done

    def _run_distributed(self, ctx: JobContext) -> tuple[Any, Any]:
        """(version, result) of a torchrun launch of this run (studio.training.distributed)."""
        from types import SimpleNamespace

        from studio.registry import get_model
        from studio.training.distributed import launch

        got = launch(self.config, self.run_id, job_id=ctx.job_id, attempt=getattr(ctx, "attempt", None),
                     should_stop=ctx.should_stop, log=ctx.log)
        version = get_model(got["model_id"]) if got.get("model_id") is not None else None
        result = SimpleNamespace(best_metric=got["best_metric"], best_epoch=got["best_epoch"], epochs_run=got["epochs"],
                                 resumed_from=got["resumed_from"], stopped_early=got["stopped_early"])
        return version, result

    def lane(self) -> str:
        return "multi" if self.config.gpus > 1 else "gpu"

    def describe(self) -> str:
        c = self.config
        from studio.naming import data_version

        return f"train {c.architecture}{f'_{c.backbone}' if c.backbone else ''} on " \
            f"{data_version(c.dataset, c.dataset_version)}"


@dataclass(frozen=True)
class TrialSummary:
    number: int  # 0-based
    state: str  # COMPLETE | FAIL | PRUNED
    value: float | None  # the trial's best monitored metric (None when it failed)
    params: dict[str, Any]


@dataclass(frozen=True)
class TuneOutcome:
    model: str | None  # the registered best trial's version name
    model_id: int | None
    study: str
    storage: str
    best_trial: int
    best_value: float | None
    best_params: dict[str, Any]
    trials: list[TrialSummary]


@job_kind
@dataclass(frozen=True, kw_only=True)
class TuneSpec(JobSpec[TuneOutcome]):
    kind: ClassVar[str] = "tune"
    result_type: ClassVar[type] = TuneOutcome
    stops_cooperatively: ClassVar[bool] = True
    resources: ClassVar[str] = "gpu"

    config: TrainConfig
    trials: int
    space: dict[str, Any] | None = None  # config field -> [low, high] or choices; None = lr and weight_decay
    run_id: str = field(default_factory=new_run_id)  # same run_id = continue the same Optuna study

    def validate(self) -> None:
        if self.trials < 1:
            raise InvalidInput(f"tune job trials: {self.trials}; expected a positive integer")
        if self.space is not None:
            from studio.training.tune import check_space

            check_space(self.space)

    def prepare(self) -> TuneSpec:
        from studio.training.inputs import fix_dataset_version

        return dataclasses.replace(self, config=fix_dataset_version(self.config))

    def run(self, ctx: JobContext) -> TuneOutcome:
        from studio.training.loop import TrainHooks
        from studio.training.tune import run_search

        hooks = TrainHooks(progress=ctx.progress, should_stop=ctx.should_stop, log=ctx.log)
        outcome = run_search(self.config, self.run_id, self.trials, self.space, hooks, job_id=ctx.job_id)
        version = outcome.version
        return TuneOutcome(model=version.name if version else None, model_id=version.id if version else None,
                           study=outcome.study_name, storage=outcome.storage, best_trial=outcome.best.number,
                           best_value=outcome.best.value, best_params=dict(outcome.best.params),
                           trials=[TrialSummary(t.number, t.state, t.value, dict(t.params)) for t in outcome.trials])

    def describe(self) -> str:
        return f"tune {self.config.architecture} on {self.config.dataset} ({self.trials} trials)"
