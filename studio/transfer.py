"""Import and export of whole datasets: format detection and dispatch.

The format modules (``studio.formats``) turn files into a ``DatasetDoc`` and back;
``studio.datasets`` writes a doc to the database. This module joins them and is what
the CLI, the pages (through jobs) and the worker call.
"""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path
from typing import Literal

from studio.config import get_settings
from studio.datasets import IngestReport, doc_from_dataset, doc_from_version, ingest_doc
from studio.db import session_scope
from studio.errors import InvalidInput
from studio.formats._files import refuse_existing
from studio.formats.records import ClassRecord, DatasetDoc, ExportReport, ImageRecord
from studio.images import is_image_name
from studio.progress import ProgressFn, null_progress

ImportFormat = Literal["images", "coco", "yolo", "masks"]
ExportFormat = Literal["coco", "yolo", "masks"]
IMPORT_FORMATS: tuple[str, ...] = ("images", "coco", "yolo", "masks")
EXPORT_FORMATS: tuple[str, ...] = ("coco", "yolo", "masks")


def _is_archive(path: Path) -> bool:
    return path.is_file() and (zipfile.is_zipfile(path) or tarfile.is_tarfile(path))


def unpack_if_archive(source: Path) -> Path:
    """A zip/tar source is extracted safely under the uploads dir; folders pass through."""
    if not _is_archive(source):
        return source
    from studio.archive import extract_archive

    target = get_settings().uploads_dir / f"{source.stem}-{source.stat().st_mtime_ns}"
    return target if target.exists() else extract_archive(source, target)


def folder_doc(root: Path, split: str = "train") -> DatasetDoc:
    """Every file under ``root`` as an unannotated image (non-images are refused later, listed)."""
    if not root.is_dir():
        raise InvalidInput(f"{root}: expected a folder of images")
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    return DatasetDoc(images=[ImageRecord(p.relative_to(root).as_posix(), p, 0, 0, split) for p in files])


def _coco_paths(source: Path) -> tuple[Path, Path | None]:
    """(annotations.json, images root) from a COCO file or a folder holding one."""
    if source.is_file():
        json_path = source
    else:
        candidates = [source / "annotations.json", *sorted(source.glob("annotations/*.json")), *sorted(source.glob("*.json"))]
        found = [c for c in candidates if c.is_file()]
        if not found:
            raise InvalidInput(f"{source}: expected a COCO JSON file or a folder with annotations.json")
        json_path = found[0]
    base = json_path.parent.parent if json_path.parent.name == "annotations" else json_path.parent
    images_root = next((d for d in (base / "images", base) if d.is_dir()), None)
    return json_path, images_root


def load_doc(fmt: str, source: Path, *, images_root: Path | None = None, split: str = "train") -> DatasetDoc:
    """Read ``source`` in format ``fmt`` into a validated ``DatasetDoc`` (no database access)."""
    if not source.exists():
        raise InvalidInput(f"{source}: no such file or folder")
    source = unpack_if_archive(source)
    if fmt == "images":
        return folder_doc(source, split)
    if fmt == "coco":
        from studio.formats.coco import load_coco

        json_path, found_root = _coco_paths(source)
        return load_coco(json_path, images_root or found_root)
    if fmt == "yolo":
        from studio.formats.yolo import load_yolo

        return load_yolo(source)
    if fmt == "masks":
        from studio.formats.masks_png import load_masks

        return load_masks(source)
    raise InvalidInput(f"unknown import format {fmt!r}; expected one of {', '.join(IMPORT_FORMATS)}")


def import_dataset(*, fmt: str, source: Path, dataset: str, link: bool = False, split: str | None = None,
                   images_root: Path | None = None, classes: list[str] | None = None,
                   progress: ProgressFn = null_progress) -> IngestReport:
    """Import ``source`` into ``dataset`` (created if needed).

    ``classes``: names to create besides those the source defines (a folder of images has
    none), in the same transaction. Folder imports skip and list files that are not readable
    images; annotated formats are refused whole on any error, leaving the database unchanged.
    """
    progress(0.0, f"reading {source}")
    doc = load_doc(fmt, Path(source), images_root=images_root, split=split or "train")
    if classes:
        _add_class_names(doc, classes)
    if split:
        for image in doc.images:
            image.split = split
    not_images: list[str] = []
    if fmt == "images":
        not_images = [f"{i.path}: not an image file (by extension)" for i in doc.images if not is_image_name(i.path)]
        doc.images = [i for i in doc.images if is_image_name(i.path)]  # type: ignore[arg-type]
    report = ingest_doc(doc, dataset=dataset, link=link, skip_bad_images=(fmt == "images"), progress=progress)
    report.skipped.extend(not_images)
    return report


def _add_class_names(doc: DatasetDoc, names: list[str]) -> None:
    """Append ``names`` missing from ``doc.classes`` (validated; indexes after the doc's own)."""
    from studio.class_names import clean_class_name

    known = {c.name for c in doc.classes}
    next_index = max((c.index for c in doc.classes), default=0) + 1
    for raw in names:
        name = clean_class_name(raw)
        if name in known:
            continue
        doc.classes.append(ClassRecord(name=name, index=next_index))
        known.add(name)
        next_index += 1


def export_dataset(*, fmt: str, dataset: str, out: Path, mode: str = "rle", version: int | None = None,
                   force: bool = False, include_images: bool = True,
                   progress: ProgressFn = null_progress) -> ExportReport:
    """Export accepted annotations of ``dataset`` (or of its snapshot ``version``) to ``out``.

    Every exporter re-reads what it wrote and checks it before returning.
    """
    refuse_existing(Path(out), force)  # before any work: nothing to undo, one clear line
    progress(0.0, "reading the dataset")
    with session_scope() as session:
        doc = doc_from_version(session, dataset, version) if version else doc_from_dataset(session, dataset)
    progress(0.2, f"writing {fmt} ({len(doc.annotations)} objects)")
    out = Path(out)
    if fmt == "coco":
        from studio.formats.coco import save_coco

        if mode not in ("rle", "polygon"):
            raise InvalidInput(f"COCO mode {mode!r}: expected 'rle' or 'polygon'")
        report = save_coco(doc, out, mode=mode, copy_images=include_images, force=force)
    elif fmt == "yolo":
        from studio.formats.yolo import save_yolo

        report = save_yolo(doc, out, force=force)
    elif fmt == "masks":
        from studio.formats.masks_png import save_masks

        report = save_masks(doc, out, force=force)
    else:
        raise InvalidInput(f"unknown export format {fmt!r}; expected one of {', '.join(EXPORT_FORMATS)}")
    progress(1.0, f"exported and checked {report.checked} objects")
    return report


# ---- helpers for the pages (uploads in, downloads out) ---------------------------------

def save_upload(file_name: str, data: bytes) -> Path:
    """Keep an uploaded file under the uploads dir (name reduced to its base name)."""
    import re
    import uuid

    safe = re.sub(r"[^A-Za-z0-9._-]", "_", Path(file_name).name) or "upload"
    target = get_settings().uploads_dir / uuid.uuid4().hex[:12] / safe
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{safe}.part")
    tmp.write_bytes(data)
    tmp.replace(target)
    return target


def export_target(dataset: str, fmt: str, mode: str = "rle") -> Path:
    """A fresh output folder under the exports dir: ``<dataset>-<fmt>[-<mode>]-<UTC time>``."""
    from datetime import datetime, timezone

    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    suffix = f"-{mode}" if fmt == "coco" else ""
    return get_settings().exports_dir / f"{dataset}-{fmt}{suffix}-{stamp}"


def zipped(folder: Path) -> Path:
    """``folder`` as a zip next to it (made once, reused), for a download button."""
    from studio.archive import zip_folder

    out = folder.with_suffix(".zip")
    return out if out.exists() else zip_folder(folder, out)
