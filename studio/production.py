"""Production versions and the A/B gate.

**Production slots.** Each (dataset, task) has at most one version in production (table
``productionslot``, unique per pair); :func:`promote` puts a version there in one transaction
and records a ``Promotion`` (the slot's history and the version's changelog read it). The
dataset of a slot is the one the version was trained on (an image dataset, or the keypoint /
clip dataset of a sign model), or one named explicitly whose classes the version predicts. A
version of another task than the slot it is promoted to is refused, as is a version that
predicts classes the dataset does not have.

**The gate.** :func:`gate` compares a candidate with the production version of its (dataset,
task) on the same split of the same data, under limits the user sets:

- metric: the task's headline (semantic mIoU, instance mask AP, classification and sign-model
  accuracy) must not drop by more than ``max_drop`` (absolute: 0.01 = one point);
- latency: not more than ``max_latency`` percent slower. From the newest pair of benchmarks
  run with the same runtime, device, batch and input size (``studio bench``), else from the
  median model time per image of the two evaluations (said so in the result).

Both versions must already be evaluated on that split of the same dataset version: the gate
never runs a model; a missing evaluation is an InvalidInput that gives the command to run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import col, select

from studio.db import session_scope
from studio.errors import InvalidInput
from studio.naming import metric_label
from studio.registry import get_model
from studio.tables import Dataset, DatasetVersion, Evaluation, LabelClass, ModelVersion, ProductionSlot, Promotion, \
    Task, utcnow

GATE_METRIC = {"semantic": "miou", "instance": "ap", "classification": "accuracy", "sequence": "accuracy"}


@dataclass(frozen=True)
class SlotView:
    dataset: str
    task: str
    model: str
    model_version_id: int
    promoted_at: str
    note: str = ""


@dataclass(frozen=True)
class PromotionResult:
    dataset: str
    task: str
    model: str
    replaced: str  # the version that was in production before ("" when the slot was empty)

    def line(self) -> str:
        was = f" (replacing {self.replaced})" if self.replaced else ""
        return f"{self.model} is now in production for {self.dataset} / {self.task}{was}"


# --------------------------------------------------------------------------- slots


def model_dataset(version: ModelVersion) -> str | None:
    """The dataset a version serves: its training dataset version's dataset, else (sign models,
    imported models) the ``keypoint_dataset`` / ``dataset`` its config records; None if unknown."""
    if version.dataset_version_id is not None:
        with session_scope() as session:
            dv = session.get(DatasetVersion, version.dataset_version_id)
            if dv is not None:
                return session.get(Dataset, dv.dataset_id).name  # type: ignore[union-attr]
    config = version.config if isinstance(version.config, dict) else {}
    name = config.get("keypoint_dataset") or config.get("dataset")
    return str(name) if name else None


def _check_task(version: ModelVersion, task: str | None) -> str:
    if task is None:
        return version.task
    try:
        task = Task(task).value
    except ValueError:
        raise InvalidInput(f"task {task!r}: expected one of {', '.join(t.value for t in Task)}") from None
    if task != version.task:
        raise InvalidInput(f"{version.name} is a {version.task} model; the production slot for {task} models takes "
                           f"{task} versions only (see `studio models list --task {task}`)")
    return task


def _check_classes(session: Any, version: ModelVersion, dataset: str) -> None:
    """An image dataset named for the slot must have every class the version predicts."""
    ds = session.exec(select(Dataset).where(Dataset.name == dataset)).first()
    if ds is None:
        return  # a keypoint or clip dataset (files, not rows): the version's own
    have = set(session.exec(select(LabelClass.name).where(LabelClass.dataset_id == ds.id)).all())
    missing = sorted(c["name"] for c in version.classes if c["name"] not in have)
    if missing:
        raise InvalidInput(f"{version.name} predicts classes {missing} that dataset {dataset!r} does not have; "
                           f"expected a version of the dataset's classes ({', '.join(sorted(have)) or 'it has none'})")


def promote(ref: str | int, *, dataset: str | None = None, task: str | None = None, note: str = "") -> PromotionResult:
    """Put version ``ref`` in production for (``dataset``, ``task``) (default: the version's own
    dataset and task), replacing the version there; one transaction. InvalidInput for a task
    other than the version's, a dataset it cannot serve, or no dataset known."""
    version = get_model(ref)
    task = _check_task(version, task)
    own = model_dataset(version)
    dataset = (dataset or own or "").strip()
    if not dataset:
        raise InvalidInput(f"{version.name} records no dataset; say which dataset it serves (--dataset NAME)")
    with session_scope() as session:
        if dataset != own:
            _check_classes(session, version, dataset)
        slot = session.exec(select(ProductionSlot).where(ProductionSlot.dataset == dataset,
                                                         ProductionSlot.task == task)).first()
        replaced = ""
        if slot is None:
            slot = ProductionSlot(dataset=dataset, task=task, model_version_id=int(version.id), note=note)  # type: ignore[arg-type]
        else:
            if slot.model_version_id == version.id:
                return PromotionResult(dataset, task, version.name, "")  # already there: nothing to record
            previous = session.get(ModelVersion, slot.model_version_id)
            replaced = previous.name if previous is not None else ""
            slot.model_version_id, slot.promoted_at, slot.note = int(version.id), utcnow(), note  # type: ignore[arg-type]
        session.add(slot)
        session.add(Promotion(dataset=dataset, task=task, model_version_id=int(version.id), replaced=replaced,  # type: ignore[arg-type]
                              note=note))
    return PromotionResult(dataset, task, version.name, replaced)


def production_version(dataset: str, task: str) -> ModelVersion | None:
    """The version in production for (dataset, task), detached; None when the slot is empty."""
    with session_scope() as session:
        slot = session.exec(select(ProductionSlot).where(ProductionSlot.dataset == dataset,
                                                         ProductionSlot.task == task)).first()
        version = session.get(ModelVersion, slot.model_version_id) if slot is not None else None
        if version is not None:
            session.expunge(version)
        return version


def production_slots() -> list[SlotView]:
    """Every filled slot, by dataset then task."""
    with session_scope() as session:
        rows = session.exec(select(ProductionSlot, ModelVersion.name).join(ModelVersion)
                            .order_by(ProductionSlot.dataset, ProductionSlot.task)).all()
        return [SlotView(s.dataset, s.task, name, s.model_version_id, s.promoted_at.strftime("%Y-%m-%d %H:%M"), s.note)
                for s, name in rows]


def slots_of(ref: str | int | ModelVersion) -> list[SlotView]:
    """The slots a version fills (usually none or one)."""
    version_id = ref.id if isinstance(ref, ModelVersion) else get_model(ref).id
    return [s for s in production_slots() if s.model_version_id == version_id]


def promotions_of(ref: str | int | ModelVersion) -> list[Promotion]:
    """The version's promotions, oldest first (detached rows)."""
    version_id = ref.id if isinstance(ref, ModelVersion) else get_model(ref).id
    with session_scope() as session:
        rows = session.exec(select(Promotion).where(Promotion.model_version_id == version_id)
                            .order_by(col(Promotion.id))).all()
        for row in rows:
            session.expunge(row)
        return list(rows)


def replaced_by(ref: str | int | ModelVersion) -> list[Promotion]:
    """Promotions of other versions that took a slot from this one (its changelog's 'replaced by')."""
    name = ref.name if isinstance(ref, ModelVersion) else get_model(ref).name
    with session_scope() as session:
        rows = session.exec(select(Promotion).where(Promotion.replaced == name).order_by(col(Promotion.id))).all()
        for row in rows:
            session.expunge(row)
        return list(rows)


# --------------------------------------------------------------------------- the gate


@dataclass(frozen=True)
class GateCheck:
    name: str  # "metric" | "latency"
    passed: bool
    detail: str


@dataclass(frozen=True)
class GateResult:
    candidate: str
    production: str
    dataset: str
    task: str
    split: str
    data: str  # "shelves (data v3) val": what both were scored on
    metric: str
    candidate_value: float
    production_value: float
    max_drop: float
    max_latency: float  # percent
    candidate_ms: float | None
    production_ms: float | None
    latency_source: str
    candidate_evaluation: int
    production_evaluation: int
    checks: list[GateCheck] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def reasons(self) -> list[str]:
        """Why the gate failed (empty when it passed)."""
        return [c.detail for c in self.checks if not c.passed]

    def lines(self) -> list[str]:
        head = "PASSED" if self.passed else "FAILED"
        return [f"gate {head}: {self.candidate} against production {self.production} on {self.data}",
                *[f"  {'ok  ' if c.passed else 'FAIL'} {c.name}: {c.detail}" for c in self.checks]]


def _check_limits(max_drop: float, max_latency: float) -> None:
    if not max_drop >= 0 or not max_latency >= 0:
        raise InvalidInput(f"gate limits: expected max_drop >= 0 (0.01 = one point) and max_latency >= 0 (percent); "
                           f"got {max_drop}, {max_latency}")


def _newest_evaluation(version: ModelVersion, split: str, dataset_version_id: int | None) -> Evaluation | None:
    with session_scope() as session:
        query = select(Evaluation).where(Evaluation.model_version_id == version.id, Evaluation.split == split)
        if dataset_version_id is not None:
            query = query.where(Evaluation.dataset_version_id == dataset_version_id)
        row = session.exec(query.order_by(col(Evaluation.id).desc())).first()
        if row is not None:
            session.expunge(row)
        return row


def _matching_evaluation(version: ModelVersion, like: Evaluation) -> Evaluation | None:
    """The newest evaluation of ``version`` on the same data and split as ``like``."""
    with session_scope() as session:
        query = select(Evaluation).where(Evaluation.model_version_id == version.id, Evaluation.split == like.split)
        if like.dataset_version_id is not None:
            query = query.where(Evaluation.dataset_version_id == like.dataset_version_id)
        else:
            query = query.where(col(Evaluation.dataset_version_id).is_(None))
        rows = session.exec(query.order_by(col(Evaluation.id).desc())).all()
        for row in rows:
            if like.dataset_version_id is not None or \
                    row.summary.get("keypoint_dataset") == like.summary.get("keypoint_dataset"):
                session.expunge(row)
                return row
    return None


def _data_label(evaluation: Evaluation) -> str:
    if evaluation.dataset_version_id is None:
        return f"{evaluation.summary.get('keypoint_dataset', 'keypoint data')} {evaluation.split}"
    from studio.evaluation.inspect import dataset_version_label

    return f"{dataset_version_label(evaluation.dataset_version_id)} {evaluation.split}"


def _evaluate_command(model: str, split: str, evaluation: Evaluation | None) -> str:
    data = f" --dataset-version {evaluation.dataset_version_id}" if evaluation is not None and \
        evaluation.dataset_version_id is not None else ""
    return f"`studio evaluate {model} --split {split}{data} --wait`"


def _latency(candidate: ModelVersion, production: ModelVersion, evals: Sequence[Evaluation]
             ) -> tuple[float | None, float | None, str]:
    """(candidate ms, production ms, where from): the newest benchmark pair of equal settings,
    else the evaluations' median ms per image."""
    from studio.benchmarking import list_benchmarks

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        return row["runtime"], row["device"], row["batch_size"], row["input_size"]

    theirs = {}
    for row in list_benchmarks(production):  # newest first: the first of each setting wins
        theirs.setdefault(key(row), row)
    for row in list_benchmarks(candidate):
        other = theirs.get(key(row))
        if other is not None:
            runtime, device, batch, size = key(row)
            return (float(row["latency_mean_ms"]), float(other["latency_mean_ms"]),
                    f"benchmarks: {runtime} on {device}, batch {batch} at {size}")
    ms = [e.summary.get("ms_per_image") for e in evals]
    if all(isinstance(m, (int, float)) and m > 0 for m in ms):
        return float(ms[0]), float(ms[1]), "median model time per image in the two evaluations (no benchmark pair " \
            "of the same runtime, device and size)"
    return None, None, ""


def gate(candidate: str | int, *, split: str = "val", max_drop: float = 0.01, max_latency: float = 10.0,
         dataset_version: int | None = None) -> GateResult:
    """Gate ``candidate`` against the production version of its (dataset, task) (see the module
    docstring). ``dataset_version``: the dataset version id both were evaluated on (default: the
    candidate's newest evaluation on ``split``)."""
    _check_limits(max_drop, max_latency)
    from studio.evaluation.compare import check_comparable

    version = get_model(candidate)
    dataset = model_dataset(version)
    if dataset is None:
        raise InvalidInput(f"{version.name} records no dataset, so it has no production slot to be gated against")
    production = production_version(dataset, version.task)
    if production is None:
        raise InvalidInput(f"no version is in production for {dataset} / {version.task} yet; promote one first "
                           f"(`studio models promote NAME`)")
    if production.id == version.id:
        raise InvalidInput(f"{version.name} is the production version of {dataset} / {version.task}; gate another "
                           "version against it")
    check_comparable(production, version)
    mine = _newest_evaluation(version, split, dataset_version)
    if mine is None:
        raise InvalidInput(f"{version.name} was never evaluated on split {split!r}"
                           + (f" of dataset version {dataset_version}" if dataset_version is not None else "")
                           + f"; evaluate first: {_evaluate_command(version.name, split, None)}"
                           + (f" (add --dataset-version {dataset_version})" if dataset_version is not None else ""))
    theirs = _matching_evaluation(production, mine)
    if theirs is None:
        raise InvalidInput(f"production version {production.name} has no evaluation on {_data_label(mine)}, the data "
                           f"{version.name} was evaluated on; evaluate it there first: "
                           f"{_evaluate_command(production.name, split, mine)}")
    metric = GATE_METRIC.get(version.task, "accuracy")
    values = [e.summary.get(metric) for e in (mine, theirs)]
    if not all(isinstance(v, (int, float)) for v in values):
        raise InvalidInput(f"the evaluations {mine.id} and {theirs.id} do not both report {metric_label(metric)}; "
                           "evaluate both again")
    cand_value, prod_value = float(values[0]), float(values[1])  # type: ignore[arg-type]
    drop = prod_value - cand_value
    name = metric_label(metric)
    checks = [GateCheck("metric", drop <= max_drop + 1e-12,
                        f"{name} {cand_value:.4f} vs {prod_value:.4f} in production ({-drop:+.4f}; "
                        f"a drop of at most {max_drop:g} allowed)")]
    cand_ms, prod_ms, source = _latency(version, production, (mine, theirs))
    if cand_ms is None or prod_ms is None:
        checks.append(GateCheck("latency", False, "not measured for both; time them with the same settings: "
                                f"`studio bench {version.name} --wait` and `studio bench {production.name} --wait`"))
    else:
        slower = 100.0 * (cand_ms / prod_ms - 1.0) if prod_ms > 0 else 0.0
        checks.append(GateCheck("latency", slower <= max_latency + 1e-9,
                                f"{cand_ms:.1f} ms vs {prod_ms:.1f} ms in production ({slower:+.1f} %; at most "
                                f"+{max_latency:g} % allowed; {source})"))
    return GateResult(version.name, production.name, dataset, version.task, split, _data_label(mine), metric,
                      cand_value, prod_value, max_drop, max_latency, cand_ms, prod_ms, source, int(mine.id),  # type: ignore[arg-type]
                      int(theirs.id), checks)  # type: ignore[arg-type]


__all__ = ["GATE_METRIC", "GateCheck", "GateResult", "PromotionResult", "SlotView", "gate", "model_dataset",
           "production_slots", "production_version", "promote", "promotions_of", "replaced_by", "slots_of"]
