"""Model bundles: one version as a self-contained zip that another studio imports back, and its
generated model card and changelog.

A bundle (``bundle_version(ref, out)``; ``studio models bundle NAME OUT.zip``; the Models page)
is a zip with one folder ``<name>/``::

    manifest.json       format "studio.bundle/1", the version's facts, every file with its sha256
    weights.pt          weights only: {model (state_dict), epoch, best_metric, config}; never the
                        optimizer (or classical.npz for classical models, model.onnx [+ .data]
                        for versions that only have ONNX weights)
    config.yaml  classes.json  preprocessing.json  metrics.json  training_log.csv (when kept)
    README.md           the model card (task, data, classes, preprocessing, metrics, evaluations,
                        speed, production status, how to load it)
    CHANGELOG.md        what happened to this version, oldest first (trained / imported, the
                        version it follows, evaluations, benchmarks, exports, promotions)

``import_bundle(path)`` (``studio models import BUNDLE.zip``; the Models page upload) extracts it
with ``studio.archive.extract_archive`` (no member outside the folder, no links, no bombs) into a
temporary folder, checks the manifest and every checksum, refuses anything that could need
pickled code (``.pkl`` / ``.pickle`` / ``.joblib`` members; a checkpoint ``torch.load`` cannot
read with ``weights_only=True``; ``.npz`` with object arrays) and weights that do not fit the
architecture, then registers a new version (source "imported", its own name in this studio;
the original name is kept in ``config["bundle"]``). On any refusal nothing is written: the
temporary folder goes, no row, no model folder.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from studio.config import get_settings
from studio.errors import Conflict, InvalidInput, StudioError
from studio.naming import metrics_label, model_semver
from studio.registry import get_model, model_dir, sha256_of
from studio.tables import ModelVersion

BUNDLE_FORMAT = "studio.bundle/1"
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".dill")
METADATA_FILES = ("config.yaml", "classes.json", "preprocessing.json", "metrics.json")


@dataclass(frozen=True)
class ChangeEntry:
    when: datetime
    what: str


# --------------------------------------------------------------------------- changelog and card


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def changelog(ref: str | int | ModelVersion) -> list[ChangeEntry]:
    """What happened to a version, oldest first: created, the lineage version it follows (with
    the monitored metric of both), evaluations, benchmarks, export files, promotions and being
    replaced in production."""
    from sqlmodel import col, select

    from studio.benchmarking import list_benchmarks
    from studio.db import session_scope
    from studio.production import promotions_of, replaced_by
    from studio.tables import ModelVersion as MV
    from studio.training.readout import monitored_metric

    version = ref if isinstance(ref, ModelVersion) else get_model(ref)
    entries: list[ChangeEntry] = []
    metric = monitored_metric(version)
    best = version.metrics.get(f"best_{metric}") if metric else None
    score = f" ({metrics_label(f'best_{metric}')} {best:.4f})" if isinstance(best, (int, float)) else ""
    if version.source == "imported":
        entries.append(ChangeEntry(_utc(version.created_at), f"imported as {version.name}{score}"))
    else:
        data = _data_label(version)
        entries.append(ChangeEntry(_utc(version.created_at), f"trained{' on ' + data if data else ''}"
                                   f"{f' by job {version.job_id[:8]}' if version.job_id else ''}{score}"))
    lineage = version.name.rsplit("_v", 1)[0] + "_v"
    with session_scope() as session:
        older = session.exec(select(MV).where(col(MV.name).startswith(lineage), MV.id != version.id,
                                              MV.created_at <= version.created_at)
                             .order_by(col(MV.created_at).desc(), col(MV.id).desc())).first()
        if older is not None:
            session.expunge(older)
    if older is not None:
        before = older.metrics.get(f"best_{metric}") if metric else None
        change = f": {metrics_label(f'best_{metric}')} {before:.4f} -> {best:.4f}" \
            if isinstance(before, (int, float)) and isinstance(best, (int, float)) else ""
        entries.append(ChangeEntry(_utc(version.created_at), f"follows {model_semver(older.semver)} ({older.name}){change}"))
    from studio.evaluation.inspect import dataset_version_label, headline_metrics
    from studio.naming import metric_label
    from studio.tables import Evaluation

    with session_scope() as session:
        evaluations = session.exec(select(Evaluation).where(Evaluation.model_version_id == version.id)
                                   .order_by(col(Evaluation.id))).all()
        for e in evaluations:
            session.expunge(e)
    for e in evaluations:
        data = dataset_version_label(e.dataset_version_id) if e.dataset_version_id is not None else \
            str(e.summary.get("keypoint_dataset", "keypoint data"))
        head = ", ".join(f"{metric_label(k)} {v:.4f}" for k, v in headline_metrics(e.task, e.summary)[:2]
                         if k != "ms_per_image")
        entries.append(ChangeEntry(_utc(e.created_at), f"evaluated on {data} {e.split} (evaluation {e.id}): {head}"))
    for b in reversed(list_benchmarks(version)):
        entries.append(ChangeEntry(_utc(b["created_at"]), f"benchmarked: {b['runtime']} on {b['device']}, batch "
                                   f"{b['batch_size']} at {b['input_size']}: {b['latency_mean_ms']:.1f} ms "
                                   f"({b['fps']:.1f} images/s)"))
    folder = model_dir(version)
    for role in ("onnx", "onnx_int8", "torchscript"):
        path = folder / version.files.get(role, "\0")
        if role in version.files and path.is_file():
            when = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
            entries.append(ChangeEntry(when, f"exported to {role.replace('_', ' ').upper() if role != 'torchscript' else 'TorchScript'} "
                                       f"({path.name})"))
    for p in promotions_of(version):
        was = f", replacing {p.replaced}" if p.replaced else ""
        entries.append(ChangeEntry(_utc(p.created_at), f"promoted to production for {p.dataset} / {p.task}{was}"))
    for p in replaced_by(version):
        with session_scope() as session:
            newer = session.get(ModelVersion, p.model_version_id)
            name = newer.name if newer is not None else f"version {p.model_version_id}"
        entries.append(ChangeEntry(_utc(p.created_at), f"replaced in production for {p.dataset} / {p.task} by {name}"))
    return sorted(entries, key=lambda e: e.when)


def _data_label(version: ModelVersion) -> str:
    if version.dataset_version_id is not None:
        from studio.evaluation.inspect import dataset_version_label

        return dataset_version_label(version.dataset_version_id)
    config = version.config if isinstance(version.config, dict) else {}
    name, number = config.get("keypoint_dataset") or config.get("dataset"), config.get("keypoint_dataset_version")
    if name:
        from studio.naming import data_version

        return data_version(str(name), number if isinstance(number, int) else config.get("dataset_version"))
    return ""


def changelog_markdown(ref: str | int | ModelVersion) -> str:
    version = ref if isinstance(ref, ModelVersion) else get_model(ref)
    lines = [f"# Changelog of {version.name}", ""]
    lines += [f"- {e.when.strftime('%Y-%m-%d %H:%M')} UTC: {e.what}" for e in changelog(version)]
    return "\n".join(lines) + "\n"


def model_card(ref: str | int | ModelVersion, weights_file: str | None = None) -> str:
    """The model card (Markdown) of a version: what it is, the data, classes, preprocessing,
    metrics, evaluations, speed, production status and how to load it."""
    from studio.benchmarking import list_benchmarks
    from studio.evaluation.inspect import headline_metrics
    from studio.evaluation.views import list_evaluations
    from studio.naming import metric_label
    from studio.production import slots_of
    from studio.training.readout import train_vs_eval_note

    version = ref if isinstance(ref, ModelVersion) else get_model(ref)
    prep = _preprocessing(version)
    config = version.config if isinstance(version.config, dict) else {}
    out = [f"# {version.name}", "",
           f"A **{version.task}** model: {version.architecture}" + (f" ({version.backbone})" if version.backbone else "")
           + f", version {model_semver(version.semver)}, {version.source} {version.created_at.strftime('%Y-%m-%d')}.", ""]
    data = _data_label(version)
    out += ["## Data", "", f"Trained on {data}." if data else "Trained outside this studio (imported).", ""]
    if config.get("epochs") and version.source == "trained":
        out += [f"{config.get('epochs')} epochs at {config.get('image_size')} px, batch {config.get('batch_size')}, "
                f"lr {config.get('lr')}, optimizer {config.get('optimizer')}, loss {config.get('loss')}.", ""]
    out += ["## Classes", "", "| index | name | colour |", "|---:|---|---|"]
    out += [f"| {c['index']} | {c['name']} | {c.get('color') or ''} |" for c in version.classes]
    out += ["", "## Input", ""]
    keys = ("image_size", "resize", "input", "mean", "std", "channel_order", "input_range", "size_multiple", "layout")
    out += [f"- {k.replace('_', ' ')}: {prep[k]}" for k in keys if k in prep] or ["- (no preprocessing recorded)"]
    out += ["", "## Metrics", ""]
    numbers = {k: v for k, v in version.metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    out += [f"- {metrics_label(k)}: {v:.4f}" if isinstance(v, float) else f"- {metrics_label(k)}: {v}"
            for k, v in numbers.items()] or ["- none recorded"]
    note = train_vs_eval_note(version)
    if note:
        out += ["", note]
    evaluations = list_evaluations(version)
    if evaluations:
        out += ["", "## Evaluations", "", "| # | data | images | metrics |", "|---:|---|---:|---|"]
        for e in evaluations[:10]:
            head = ", ".join(f"{metric_label(k)} {v:.4f}" if k != "ms_per_image" else f"{v:.1f} ms per image"
                             for k, v in headline_metrics(e.task, e.summary))
            out.append(f"| {e.id} | {e.dataset} {e.split} | {e.image_count} | {head} |")
    benchmarks = list_benchmarks(version)
    if benchmarks:
        out += ["", "## Speed", "", "| runtime | device | batch | input | mean ms | FPS |", "|---|---|---:|---|---:|---:|"]
        out += [f"| {b['runtime']} | {b['device']} | {b['batch_size']} | {b['input_size']} | "
                f"{b['latency_mean_ms']:.1f} | {b['fps']:.1f} |" for b in benchmarks[:10]]
    slots = slots_of(version)
    out += ["", "## Production", ""]
    out += [f"In production for {s.dataset} / {s.task} since {s.promoted_at}." for s in slots] or \
        ["Not in production."]
    weights = weights_file or "weights.pt"
    out += ["", "## Use", "", "```bash", f"studio models import {version.name}.zip   # registers it in another studio",
            "studio evaluate NEW_NAME --split val --wait", "```", ""]
    if weights.endswith(".pt"):
        out += ["```python", "import torch", f"checkpoint = torch.load('{weights}', weights_only=True)  # no pickled code",
                "state_dict, config = checkpoint['model'], checkpoint['config']", "```", ""]
    out += ["See CHANGELOG.md for this version's history.", ""]
    return "\n".join(out)


def _preprocessing(version: ModelVersion) -> dict[str, Any]:
    path = model_dir(version) / "preprocessing.json"
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, json.JSONDecodeError):
        return {}


# --------------------------------------------------------------------------- writing a bundle


def _weights(version: ModelVersion, folder: Path) -> dict[str, Path]:
    """role -> the file to ship: a weights-only checkpoint written into ``folder``, or the
    classical arrays, or the ONNX file(s)."""
    from studio.registry import load_checkpoint, model_file, save_checkpoint

    if "classical" in version.files:
        return {"classical": model_file(version, "classical")}
    if "best" in version.files or "weights" in version.files:
        source = model_file(version, "best" if "best" in version.files else "weights")
        checkpoint = load_checkpoint(source)
        lean = folder / "weights.pt"
        save_checkpoint(lean, model=checkpoint["model"], epoch=checkpoint.get("epoch"),
                        best_metric=checkpoint.get("best_metric"), config=checkpoint.get("config") or version.config)
        return {"best": lean}
    if "onnx" in version.files:
        files = {"onnx": model_file(version, "onnx")}
        if "onnx_data" in version.files:
            files["onnx_data"] = model_file(version, "onnx_data")
        return files
    raise InvalidInput(f"model {version.name} has no weights file to bundle (its files: {', '.join(version.files)})")


def bundle_version(ref: str | int | ModelVersion, out: Path, *, force: bool = False) -> Path:
    """Write the bundle zip of a version to ``out`` (see the module docstring); ``out`` exists:
    Conflict unless ``force``. Written to a temporary name and renamed."""
    version = ref if isinstance(ref, ModelVersion) else get_model(ref)
    out = Path(out)
    if out.suffix.lower() != ".zip":
        raise InvalidInput(f"{out}: expected a .zip file name for the bundle")
    if out.exists() and not force:
        raise Conflict(f"{out} already exists; pass --force to replace it")
    work = Path(tempfile.mkdtemp(prefix=".bundle-", dir=get_settings().data_dir if get_settings().data_dir.is_dir()
                                 else None))
    try:
        folder = work / version.name
        folder.mkdir()
        shipped: dict[str, str] = {}
        for role, path in _weights(version, work).items():
            shutil.copy2(path, folder / path.name)
            shipped[role] = path.name
        source = model_dir(version)
        for name in METADATA_FILES:
            if (source / name).is_file():
                shutil.copy2(source / name, folder / name)
        if "training_log" in version.files and (source / version.files["training_log"]).is_file():
            shutil.copy2(source / version.files["training_log"], folder / "training_log.csv")
        weights_name = next(iter(shipped.values()))
        (folder / "README.md").write_text(model_card(version, weights_name))
        (folder / "CHANGELOG.md").write_text(changelog_markdown(version))
        from studio.production import model_dataset

        manifest = {"format": BUNDLE_FORMAT, "name": version.name, "semver": version.semver, "task": version.task,
                    "architecture": version.architecture, "backbone": version.backbone, "source": version.source,
                    "dataset": model_dataset(version) or "external", "created": version.created_at.isoformat(),
                    "weights": shipped,
                    "files": {p.name: sha256_of(p) for p in sorted(folder.iterdir()) if p.is_file()}}
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
        from studio.archive import zip_folder

        out.parent.mkdir(parents=True, exist_ok=True)
        zip_folder(folder, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


# --------------------------------------------------------------------------- importing one


def _read_manifest(root: Path, archive: Path) -> dict[str, Any]:
    path = root / "manifest.json"
    if not path.is_file():
        raise InvalidInput(f"{archive.name}: no manifest.json in its folder; expected a bundle written by "
                           "`studio models bundle` (one folder with manifest.json, weights, config, classes)")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{archive.name}: manifest.json is not readable JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise InvalidInput(f"{archive.name}: manifest format {manifest.get('format') if isinstance(manifest, dict) else None!r}; "
                           f"expected {BUNDLE_FORMAT!r}")
    for key in ("task", "architecture", "weights", "files"):
        if key not in manifest:
            raise InvalidInput(f"{archive.name}: manifest.json has no {key!r}; expected task, architecture, weights, files")
    return manifest


def _check_files(root: Path, manifest: dict[str, Any], archive: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file() and path.suffix.lower() in PICKLE_SUFFIXES:
            raise InvalidInput(f"{archive.name}: refused: {path.relative_to(root)} is a pickle, which could run code "
                               "when loaded; expected weights as a weights-only .pt, .npz or .onnx")
    listed = manifest["files"]
    if not isinstance(listed, dict):
        raise InvalidInput(f"{archive.name}: manifest 'files' must map file names to sha256 checksums")
    for name, digest in listed.items():
        path = root / str(name)
        if "/" in str(name) or not path.is_file():
            raise InvalidInput(f"{archive.name}: manifest lists {name!r}, which is not a file of the bundle's folder")
        if sha256_of(path) != digest:
            raise InvalidInput(f"{archive.name}: {name} does not match its sha256 in manifest.json (corrupt or edited)")
    for role, name in manifest["weights"].items():
        if name not in listed:
            raise InvalidInput(f"{archive.name}: weights file {name!r} ({role}) is not in the manifest's checksums")


def _check_weights(root: Path, manifest: dict[str, Any], config: dict[str, Any], classes: list[dict[str, Any]],
                   archive: Path) -> None:
    """Load every weights file the safe way; InvalidInput when it needs code or does not fit."""
    weights = manifest["weights"]
    if "best" in weights:
        from studio.model_import import check_state_dict_fits
        from studio.registry import load_checkpoint

        try:
            checkpoint = load_checkpoint(root / weights["best"])
        except StudioError as exc:
            raise InvalidInput(f"{archive.name}: {exc}") from None
        if set(checkpoint) - {"model", "epoch", "best_metric", "config"}:
            raise InvalidInput(f"{archive.name}: {weights['best']} carries {sorted(set(checkpoint) - {'model', 'epoch', 'best_metric', 'config'})}; "
                               "expected a weights-only checkpoint (model, epoch, best_metric, config)")
        if manifest["architecture"] not in ("yolov8-seg",):
            check_state_dict_fits(checkpoint["model"], manifest["task"], manifest["architecture"],
                                  manifest.get("backbone") or None, classes, config)
    elif "classical" in weights:
        import numpy as np

        try:
            with np.load(root / weights["classical"], allow_pickle=False) as data:
                for key in data.files:
                    _ = data[key]  # reading each array proves it holds no object
        except (ValueError, OSError) as exc:
            raise InvalidInput(f"{archive.name}: refused {weights['classical']}: {exc} (expected plain arrays, "
                               "no pickled objects)") from None
    elif "onnx" in weights:
        from studio.inference import onnx_session

        onnx_session(root / weights["onnx"], "cpu")
    else:
        raise InvalidInput(f"{archive.name}: manifest weights {sorted(weights)}: expected 'best', 'classical' or 'onnx'")


def import_bundle(path: Path) -> ModelVersion:
    """Register the version a bundle zip holds (see the module docstring); nothing is written when
    it is refused."""
    from studio.archive import extract_archive
    from studio.registry import check_classes, register_model

    archive = Path(path)
    if not archive.is_file() or not zipfile.is_zipfile(archive):
        raise InvalidInput(f"{archive}: expected a bundle .zip written by `studio models bundle`")
    uploads = get_settings().uploads_dir
    uploads.mkdir(parents=True, exist_ok=True)
    target = uploads / f".bundle-{uuid.uuid4().hex[:12]}"
    try:
        extract_archive(archive, target, max_total_bytes=8 * 2**30, max_files=1000)
        entries = [p for p in target.iterdir() if p.name != "__MACOSX"]
        if len(entries) != 1 or not entries[0].is_dir():
            raise InvalidInput(f"{archive.name}: expected one folder holding the bundle (as `studio models bundle` "
                               f"writes it), found {sorted(p.name for p in entries)[:5]}")
        root = entries[0]
        manifest = _read_manifest(root, archive)
        _check_files(root, manifest, archive)
        try:
            config = yaml.safe_load((root / "config.yaml").read_text()) if (root / "config.yaml").is_file() else {}
            classes = check_classes(json.loads((root / "classes.json").read_text()))
            metrics = json.loads((root / "metrics.json").read_text()) if (root / "metrics.json").is_file() else {}
            prep = json.loads((root / "preprocessing.json").read_text()) \
                if (root / "preprocessing.json").is_file() else {}
        except (OSError, json.JSONDecodeError, yaml.YAMLError) as exc:
            raise InvalidInput(f"{archive.name}: unreadable metadata ({exc}); expected config.yaml, classes.json, "
                               "metrics.json and preprocessing.json as `studio models bundle` writes them") from None
        config = config if isinstance(config, dict) else {}
        _check_weights(root, manifest, config, classes, archive)
        files = {role: root / name for role, name in manifest["weights"].items()}
        if (root / "training_log.csv").is_file():
            files["training_log"] = root / "training_log.csv"
        config = {**config, "bundle": {"name": manifest.get("name"), "semver": manifest.get("semver"),
                                       "source": manifest.get("source")}}
        return register_model(task=manifest["task"], architecture=manifest["architecture"],
                              backbone=manifest.get("backbone") or "", classes=classes,
                              dataset=str(manifest.get("dataset") or "external"), files=files, config=config,
                              metrics=metrics if isinstance(metrics, dict) else {}, preprocessing=prep,
                              source="imported", move=False)
    finally:
        shutil.rmtree(target, ignore_errors=True)


__all__ = ["BUNDLE_FORMAT", "ChangeEntry", "bundle_version", "changelog", "changelog_markdown", "import_bundle",
           "model_card"]
