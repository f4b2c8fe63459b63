"""Model versions: naming, the checkpoint format, the model store (imports of outside
models: ``studio.model_import``).

Store layout (one folder per version)::

    <models_dir>/<task>/<name>/
        <Name>_best.pt  <Name>_last.pt   checkpoint dicts (below); <Name> = name
        training_log.csv                 epoch, train_loss, val_loss, <metrics...>, lr
        config.yaml  metrics.json  classes.json  preprocessing.json
        model.onnx (+ model.onnx.data)   when exported

Name: ``{architecture}_{backbone}_{dataset}_v{semver}_{YYYYMMDD}``. ``semver`` counts per
lineage (architecture, backbone, dataset): a new model is the next minor (1.0.0, 1.1.0 ...).

Checkpoint dict (``torch.save``; loaded with ``weights_only=True`` only): ``model``
(state_dict), ``epoch``, ``best_metric``, ``config`` (plain dict: what evaluation and export
need to rebuild the model), and in a resume file only, ``optimizer`` and ``scheduler`` (state
dicts). ``best.pt`` is lean (the weights and what reads them: about the size of the weights);
``last.pt`` is the full resume state (Adam's two moments make it about three times larger).
Files that need arbitrary pickled code to load (e.g. raw ultralytics checkpoints, whole
pickled modules) are refused with the reason.

A trained version's files are hard links to its run's (``<data>/runs/<run_id>/``), so a run
costs its disk once; where the run folder lies on another disk they are moved there instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, true
from sqlmodel import col, select

from studio.config import get_settings
from studio.db import get_row, session_scope
from studio.errors import Conflict, InvalidInput, NotFound, StudioError
from studio.tables import DatasetVersion, Evaluation, ModelVersion, Task

CHECKPOINT_KEYS = ("model", "epoch", "best_metric", "optimizer", "scheduler", "config")
WEIGHT_ROLES = ("best", "last", "onnx", "onnx_data", "weights", "classical")  # files[role] -> file name in the folder
_NAME_PART = re.compile(r"[^A-Za-z0-9.-]+")


@dataclass(frozen=True)
class ModelSummary:
    """A model version as lists and pages show it."""

    id: int
    name: str
    semver: str
    task: str
    architecture: str
    backbone: str
    classes: list[str]
    metrics: dict[str, Any]
    source: str
    created: str
    evaluations: int


# ---- naming ----------------------------------------------------------------------------

def _part(text: str) -> str:
    return _NAME_PART.sub("-", text.strip()).strip("-").lower() or "none"


def lineage(architecture: str, backbone: str, dataset: str) -> str:
    """``{architecture}_{backbone}_{dataset}``, the prefix every version of a line shares."""
    return "_".join(_part(p) for p in (architecture, backbone or "none", dataset or "external"))


def model_name(architecture: str, backbone: str, dataset: str, semver: str, day: date | None = None) -> str:
    """``{architecture}_{backbone}_{dataset}_v{semver}_{YYYYMMDD}``."""
    return f"{lineage(architecture, backbone, dataset)}_v{semver}_{(day or date.today()).strftime('%Y%m%d')}"


def next_semver(architecture: str, backbone: str, dataset: str) -> str:
    """The next minor version of a lineage (``1.0.0`` for the first)."""
    prefix = lineage(architecture, backbone, dataset) + "_v"
    with session_scope() as session:
        versions = session.exec(select(ModelVersion.semver).where(col(ModelVersion.name).startswith(prefix))).all()
    majors_minors = [tuple(int(x) for x in v.split(".")[:2]) for v in versions if re.fullmatch(r"\d+\.\d+\.\d+", v)]
    if not majors_minors:
        return "1.0.0"
    major, minor = max(majors_minors)
    return f"{major}.{minor + 1}.0"


# ---- files -----------------------------------------------------------------------------

def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    tmp.replace(path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint as a dict, loaded with ``weights_only=True``.

    A bare state_dict is wrapped as ``{"model": state_dict}``. StudioError naming the file
    and the reason for anything else: unreadable, truncated, or needing pickled code.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise NotFound(f"checkpoint {path} does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 (torch raises UnpicklingError, RuntimeError, EOFError ...)
        message = str(exc)
        needs_code = re.search(r"GLOBAL (\S+) was not an allowed global|Unsupported global: GLOBAL (\S+)", message)
        if needs_code:
            culprit = needs_code.group(1) or needs_code.group(2)
            raise StudioError(f"{path.name}: refused: loading it would run pickled code ({culprit}); expected a "
                              "plain state_dict or a checkpoint dict of tensors and numbers (re-save it with "
                              "torch.save({'model': model.state_dict()}, ...) where you trust it)") from None
        lines = [line.strip() for line in message.splitlines() if line.strip()]
        detail = next((line for line in lines if "Unsupported operand" in line or "central directory" in line),
                      lines[0] if lines else type(exc).__name__)
        raise StudioError(f"{path.name}: not a readable PyTorch checkpoint ({type(exc).__name__}: {detail[:160]})") from None
    if not isinstance(data, dict):
        raise StudioError(f"{path.name}: expected a dict (state_dict or checkpoint), found {type(data).__name__}")
    if "model" in data and isinstance(data["model"], dict):
        return data
    if data and all(isinstance(k, str) for k in data) and all(hasattr(v, "shape") for v in data.values()):
        return {"model": data}
    raise StudioError(f"{path.name}: expected a state_dict or a dict with a 'model' state_dict; "
                      f"found keys {sorted(map(str, data))[:8]}")


def save_checkpoint(path: Path, **parts: Any) -> Path:
    """``torch.save`` a checkpoint dict (keys from :data:`CHECKPOINT_KEYS`; only those given and
    not None are written, so a weights-only file carries no empty optimizer slot) via a temp name."""
    import torch

    unknown = set(parts) - set(CHECKPOINT_KEYS)
    if unknown:
        raise ValueError(f"checkpoint keys {sorted(unknown)}: expected some of {CHECKPOINT_KEYS}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    torch.save({key: parts[key] for key in CHECKPOINT_KEYS if parts.get(key) is not None}, tmp)
    tmp.replace(path)
    return path


# ---- rows ------------------------------------------------------------------------------

def models_root() -> Path:
    return get_settings().models_dir


def model_dir(version: ModelVersion) -> Path:
    """The version's folder (absolute)."""
    return models_root() / version.folder


def model_file(version: ModelVersion, role: str) -> Path:
    """The absolute path of file ``role`` (best, last, onnx, ...); NotFound if it has none."""
    name = version.files.get(role)
    if not name:
        raise NotFound(f"model {version.name} has no {role!r} file; it has: {', '.join(version.files) or 'none'}")
    return model_dir(version) / name


DOWNLOAD_ROLES = ("best", "weights", "classical", "onnx", "onnx_data", "onnx_int8", "torchscript", "training_log")


def downloads(version: ModelVersion) -> list[tuple[str, str]]:
    """(role, file name) of the files a person downloads to use the version: the lean weights
    (``best.pt``, a classical model's arrays), its exports and the training log; never the
    resume state (``last.pt``: three times the weights, for continuing a run). Only files that exist."""
    folder = model_dir(version)
    return [(role, version.files[role]) for role in DOWNLOAD_ROLES
            if role in version.files and (folder / version.files[role]).is_file()]


def get_model(ref: str | int) -> ModelVersion:
    """A version by id or name (detached); NotFound lists close names."""
    with session_scope() as session:
        version = session.get(ModelVersion, int(ref)) if str(ref).isdigit() else \
            session.exec(select(ModelVersion).where(ModelVersion.name == str(ref))).first()
        if version is None:
            names = session.exec(select(ModelVersion.name).order_by(col(ModelVersion.created_at).desc())).all()
            import difflib

            close = difflib.get_close_matches(str(ref), names, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(names[:5]) or 'none'}"
            raise NotFound(f"no model version {ref!r}{hint}")
        session.expunge(version)
        return version


def list_models(task: str | None = None) -> list[ModelSummary]:
    """Versions newest first (optionally one task) with their evaluation counts."""
    query = select(ModelVersion).order_by(col(ModelVersion.created_at).desc(), col(ModelVersion.id).desc())
    if task is not None:
        query = query.where(ModelVersion.task == Task(task).value)
    with session_scope() as session:
        counts = dict(session.exec(select(Evaluation.model_version_id, func.count())
                                   .group_by(Evaluation.model_version_id)).all())
        return [ModelSummary(v.id, v.name, v.semver, v.task, v.architecture, v.backbone,  # type: ignore[arg-type]
                             [c["name"] for c in v.classes], v.metrics, v.source,
                             v.created_at.strftime("%Y-%m-%d %H:%M"), counts.get(v.id, 0))
                for v in session.exec(query).all()]


def check_classes(classes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not classes:
        raise InvalidInput("a model needs its classes: expected a list of {name, index} (at least one)")
    out = []
    for c in classes:
        if not isinstance(c, dict) or not isinstance(c.get("name"), str) or not isinstance(c.get("index"), int):
            raise InvalidInput(f"class entry {c!r}: expected {{'name': str, 'index': int, 'color': '#rrggbb'}}")
        out.append({"name": c["name"], "index": c["index"], "color": c.get("color")})
    if len({c["index"] for c in out}) != len(out):
        raise InvalidInput(f"class indices repeat: {[c['index'] for c in out]}")
    return out


def version_of_job(job_id: str) -> ModelVersion | None:
    """The version job ``job_id`` registered (detached), if any: a job registers at most one."""
    with session_scope() as session:
        version = session.exec(select(ModelVersion).where(ModelVersion.job_id == job_id)).first()
        if version is not None:
            session.expunge(version)
        return version


def register_model(*, task: str, architecture: str, backbone: str, classes: list[dict[str, Any]],
                   dataset: str, files: dict[str, Path], config: dict[str, Any] | None = None,
                   metrics: dict[str, Any] | None = None, preprocessing: dict[str, Any] | None = None,
                   dataset_version_id: int | None = None, job_id: str | None = None,
                   source: str = "trained", move: bool = True, link: bool = False) -> ModelVersion:
    """Create a version: files go into a new folder under a temp name (renamed when complete)
    and the row is inserted; if the insert fails the folder is removed.

    ``files``: role -> path (best, last, onnx, onnx_data, training_log, weights ...); the
    weights roles are renamed ``<Name>_<role>.pt`` (checkpoints) or kept (others).
    How they get there: ``link`` hard-links them (no second copy; a file on another disk is
    moved instead), else ``move`` moves them, else they are copied.
    """
    if job_id is not None and (done := version_of_job(job_id)) is not None:
        return done  # a requeued job that registered before its worker vanished: once only
    task = Task(task).value
    classes = check_classes(classes)
    missing = [f"{role}: {p}" for role, p in files.items() if not Path(p).is_file()]
    if missing:
        raise InvalidInput(f"model files not found: {'; '.join(missing)}")
    semver = next_semver(architecture, backbone, dataset)
    name = model_name(architecture, backbone, dataset, semver)
    folder = Path(task) / name
    target = models_root() / folder
    if target.exists():
        raise Conflict(f"{target} already exists; remove it or the version of that name first")
    tmp = target.with_name(f".{name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    stored: dict[str, str] = {}
    try:
        for role, path in files.items():
            path = Path(path)
            file_name = f"{name}_{role}{path.suffix}" if role in ("best", "last") else \
                "training_log.csv" if role == "training_log" else path.name
            _place(path, tmp / file_name, "link" if link else "move" if move else "copy")
            stored[role] = file_name
        (tmp / "config.yaml").write_text(yaml.safe_dump(config or {}, sort_keys=False))
        _write_json(tmp / "metrics.json", metrics or {})
        _write_json(tmp / "classes.json", classes)
        _write_json(tmp / "preprocessing.json", preprocessing or {})
        weights_role = next((r for r in ("best", "weights", "classical", "onnx", "last") if r in stored), None)
        checksum = sha256_of(tmp / stored[weights_role]) if weights_role else ""
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    version = ModelVersion(name=name, semver=semver, task=task, architecture=architecture, backbone=backbone,
                           classes=classes, dataset_version_id=dataset_version_id, config=config or {},
                           metrics=metrics or {}, files=stored, folder=folder.as_posix(), checksum=checksum,
                           source=source, job_id=job_id)
    try:
        with session_scope() as session:
            session.add(version)
            session.flush()
            session.expunge(version)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return version


def _place(source: Path, target: Path, how: str) -> None:
    """Put ``source`` at ``target``: "link" (a hard link; moved where linking fails, e.g. across
    disks, so there is never a second copy), "move" or "copy"."""
    if how == "link":
        try:
            os.link(source, target)
            return
        except OSError:
            how = "move"
    (shutil.move if how == "move" else shutil.copy2)(str(source), target)


def update_metrics(version_id: int, metrics: dict[str, Any]) -> None:
    """Merge ``metrics`` into the version's metrics (row and metrics.json)."""
    with session_scope() as session:
        version = get_row(session, ModelVersion, version_id, f"no model version {version_id}")
        version.metrics = {**version.metrics, **metrics}
        session.add(version)
        folder = models_root() / version.folder
        merged = version.metrics
    if folder.is_dir():
        _write_json(folder / "metrics.json", merged)


def add_file(version_id: int, role: str, path: Path) -> None:
    """Record a file already written into the version's folder (e.g. model.onnx)."""
    with session_scope() as session:
        version = get_row(session, ModelVersion, version_id, f"no model version {version_id}")
        folder = models_root() / version.folder
        path = Path(path)
        if path.parent.resolve() != folder.resolve() or not path.is_file():
            raise InvalidInput(f"{path}: expected a file inside {folder}")
        version.files = {**version.files, role: path.name}
        session.add(version)


def remove_model(ref: str | int, *, force: bool = False) -> str:
    """Delete a version's row and folder. Refused while evaluations use it, unless ``force``
    (which deletes those evaluations too); the evaluation its own train job wrote (on val, after
    training) goes with it and does not count. Returns the name."""
    version = get_model(ref)
    with session_scope() as session:
        used = session.exec(select(func.count()).select_from(Evaluation)
                            .where(Evaluation.model_version_id == version.id, _not_its_own(version))).one()
        if used and not force:
            raise Conflict(f"model {version.name} is used by {used} evaluation(s); pass --force to delete them too")
        row = session.get(ModelVersion, version.id)
        session.delete(row)
    shutil.rmtree(model_dir(version), ignore_errors=True)
    return version.name


def _not_its_own(version: ModelVersion) -> Any:
    """SQL condition: an evaluation other than the one the version's train job wrote itself
    (``metrics["evaluation_id"]``, studio.training.readout)."""
    own = version.metrics.get("evaluation_id")
    return true() if not isinstance(own, int) else Evaluation.id != own


def cleanup(keep: int) -> list[str]:
    """Keep the ``keep`` newest versions of each lineage; remove older ones that no
    evaluation uses. The removed names."""
    if keep < 1:
        raise InvalidInput(f"--keep {keep}: expected at least 1")
    with session_scope() as session:
        versions = session.exec(select(ModelVersion).order_by(col(ModelVersion.created_at).desc(),
                                                              col(ModelVersion.id).desc())).all()
        own = {v.id: v.metrics.get("evaluation_id") for v in versions}
        evaluated = {vid for vid, eid in session.exec(select(Evaluation.model_version_id, Evaluation.id)).all()
                     if eid != own.get(vid)}  # the train job's own evaluation does not count
        seen: dict[str, int] = {}
        doomed = []
        for v in versions:
            line = v.name.rsplit("_v", 1)[0]
            seen[line] = seen.get(line, 0) + 1
            if seen[line] > keep and v.id not in evaluated:
                doomed.append(v.name)
    return [remove_model(name) for name in doomed]


# ---- dataset version lookups used by trainers ------------------------------------------

def dataset_name_of_version(dataset_version_id: int | None) -> str:
    """The dataset name of a dataset version (``external`` for None)."""
    if dataset_version_id is None:
        return "external"
    from studio.tables import Dataset

    with session_scope() as session:
        dv = get_row(session, DatasetVersion, dataset_version_id, f"no dataset version {dataset_version_id}")
        return session.get(Dataset, dv.dataset_id).name  # type: ignore[union-attr]


# ---- what the outputs mean ---------------------------------------------------------------

def num_outputs(task: str, classes: list[dict[str, Any]]) -> int:
    """Output channels / logits of a model of ``task`` for ``classes``.

    semantic: channel k is the class whose ``index`` is k (0 = background), so max index + 1;
    instance, classification, sequence: output k is ``classes[k]`` (list order).
    """
    if Task(task) is Task.semantic:
        return max(c["index"] for c in classes) + 1
    return len(classes)


def output_names(task: str, classes: list[dict[str, Any]]) -> list[str]:
    """The class name of each output (semantic: "background" where no class has that index)."""
    if Task(task) is Task.semantic:
        by_index = {c["index"]: c["name"] for c in classes}
        return [by_index.get(k, "background" if k == 0 else f"class {k}") for k in range(num_outputs(task, classes))]
    return [c["name"] for c in classes]
