"""YOLO-seg (Ultralytics) datasets: ``data.yaml`` + ``images/<split>/*`` + ``labels/<split>/*.txt``.

A label line is ``cls x1 y1 x2 y2 ...``: a class position (0-based, order of ``names``) and
one polygon, normalised to [0, 1] by the image width/height. Doc class index = cls + 1
(0 stays free for background). One polygon per instance: holes and extra parts are joined
by zero-width bridges (``studio.polygons.joined_polygon``), so they survive the round trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from studio import masks, polygons
from studio.errors import InvalidInput
from studio.formats._files import atomic_output_dir, copy_file, image_size, unique_names
from studio.formats.records import (
    AnnotationRecord,
    ClassRecord,
    DatasetDoc,
    ExportReport,
    ImageRecord,
)

SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".dng", ".mpo", ".pfm"})
_TOLERANCE = 1e-6
_MIN_IOU = 0.95


@dataclass(frozen=True)
class LabelLine:
    """One parsed label line: class position and the polygon in pixels ``[x1, y1, ...]``."""

    cls: int
    polygon: list[float]


# --------------------------------------------------------------------------- pure converters


def parse_label_text(text: str, source: str, num_classes: int, width: int, height: int) -> list[LabelLine]:
    """Parse a YOLO-seg label file's text; errors name ``source:line`` and what was expected."""
    lines: list[LabelLine] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        fields = raw.split()
        if not fields:
            continue
        where = f"{source}:{number}"
        try:
            values = [float(v) for v in fields]
        except ValueError:
            bad = next(v for v in fields if not _is_number(v))
            raise InvalidInput(f"{where}: expected numbers 'cls x1 y1 x2 y2 ...', found {bad!r}") from None
        cls, coords = values[0], values[1:]
        if not (cls.is_integer() and 0 <= cls < num_classes):
            raise InvalidInput(f"{where}: class {fields[0]} out of range; expected an integer in 0..{num_classes - 1}")
        if len(coords) % 2:
            raise InvalidInput(f"{where}: expected an even number of coordinates (x y pairs), found {len(coords)}")
        if len(coords) < 6:
            raise InvalidInput(f"{where}: expected a polygon of >= 3 points, found {len(coords) // 2}")
        outside = [v for v in coords if not -_TOLERANCE <= v <= 1 + _TOLERANCE]
        if outside:
            raise InvalidInput(f"{where}: expected normalised coordinates in [0, 1], found {outside[0]}")
        polygon = [min(max(v, 0.0), 1.0) * (width if i % 2 == 0 else height) for i, v in enumerate(coords)]
        lines.append(LabelLine(int(cls), polygon))
    return lines


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def label_text(lines: list[tuple[int, list[float]]], width: int, height: int) -> str:
    """``[(cls, pixel polygon [x1, y1, ...]), ...]`` -> label file text (6 decimals)."""
    out = []
    for cls, polygon in lines:
        coords = " ".join(
            f"{v / (width if i % 2 == 0 else height):.6f}" for i, v in enumerate(polygon)
        )
        out.append(f"{cls} {coords}")
    return "\n".join(out) + ("\n" if out else "")


def _class_names(names: Any, where: str) -> list[str]:
    """``names`` from data.yaml (list, or {int: name} dict with keys 0..n-1) -> list by position."""
    if isinstance(names, list) and all(isinstance(n, str) for n in names):
        return list(names)
    if isinstance(names, dict):
        try:
            by_key = {int(k): v for k, v in names.items()}
        except (TypeError, ValueError):
            by_key = {}
        if sorted(by_key) == list(range(len(names))) and all(isinstance(v, str) for v in by_key.values()):
            return [by_key[i] for i in range(len(names))]
    raise InvalidInput(f"{where}: expected 'names' as a list of names or a {{0: name, 1: ...}} dict, found {names!r:.80}")


def label_path(image_path: Path) -> Path:
    """Label file of an image: the last ``images`` folder in its path becomes ``labels``, suffix .txt."""
    parts = list(image_path.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


# --------------------------------------------------------------------------- load


def _find_yaml(root: Path) -> Path:
    if root.is_file():
        return root
    for name in ("data.yaml", "data.yml", "dataset.yaml"):
        if (root / name).is_file():
            return root / name
    found = sorted(root.glob("*.yaml")) + sorted(root.glob("*.yml"))
    if not found:
        raise InvalidInput(f"{root}: expected a YOLO dataset folder with data.yaml")
    return found[0]


def _split_images(entry: Any, base: Path, where: str) -> list[Path]:
    """Image files of one split entry: a folder, a .txt list of images, or a list of those."""
    entries = entry if isinstance(entry, list) else [entry]
    images: list[Path] = []
    for item in entries:
        if not isinstance(item, str):
            raise InvalidInput(f"{where}: expected split paths as strings, found {item!r}")
        path = (base / item).resolve() if not Path(item).is_absolute() else Path(item)
        if path.is_dir():
            images += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        elif path.is_file() and path.suffix == ".txt":
            listed = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            images += [(path.parent / p).resolve() if not Path(p).is_absolute() else Path(p) for p in listed]
        else:
            raise InvalidInput(f"{where}: split path {item!r} not found (looked for {path})")
    return images


def _key(image: Path, root: Path, base: Path) -> str:
    for folder in (root, base):
        try:
            return image.relative_to(folder).as_posix()
        except ValueError:
            continue
    return image.name


def load_yolo(root: Path) -> DatasetDoc:
    """Read a YOLO-seg dataset (folder with data.yaml, or the yaml itself) into a validated doc.

    Split entries (train/val/test) are relative to ``path`` (itself relative to the yaml's
    folder) or to the yaml's folder. Image sizes come from the file headers (EXIF orientation
    5-8 swaps width and height). Images without a label file have no annotations.
    """
    root = Path(root)
    yaml_path = _find_yaml(root)
    root = root if root.is_dir() else yaml_path.parent
    try:
        config = yaml.safe_load(yaml_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{yaml_path}: expected YAML, found a syntax error: {exc}") from None
    if not isinstance(config, dict) or "names" not in config:
        raise InvalidInput(f"{yaml_path}: expected a mapping with 'names' and train/val/test entries")
    names = _class_names(config["names"], str(yaml_path))
    if "nc" in config and config["nc"] != len(names):
        raise InvalidInput(f"{yaml_path}: 'nc' is {config['nc']} but 'names' has {len(names)} entries")
    base = yaml_path.parent
    if isinstance(config.get("path"), str) and (base / config["path"]).is_dir():
        base = (base / config["path"]).resolve()
    if not any(s in config for s in SPLITS):
        raise InvalidInput(f"{yaml_path}: expected at least one of {', '.join(SPLITS)}")
    classes = [ClassRecord(name, i + 1) for i, name in enumerate(names)]
    doc = DatasetDoc(classes=classes)
    seen: set[Path] = set()
    for split in SPLITS:
        if config.get(split) is None:
            continue
        for image in _split_images(config[split], base, f"{yaml_path} {split}"):
            if image in seen:
                continue
            seen.add(image)
            width, height = image_size(image)
            record = ImageRecord(_key(image, root.resolve(), base), image, width, height, split)
            doc.images.append(record)
            labels = label_path(image)
            if not labels.is_file():
                continue
            for line in parse_label_text(labels.read_text(encoding="utf-8"), str(labels), len(names), width, height):
                rle = masks.rle_from_polygons([line.polygon], height, width)
                doc.annotations.append(AnnotationRecord(record.key, names[line.cls], rle))
    return doc


# --------------------------------------------------------------------------- save


def _verify(written: dict[str, tuple[Path, list[AnnotationRecord]]],
            doc: DatasetDoc, positions: dict[str, int]) -> tuple[int, float]:
    """Re-read every label file, rasterise each polygon and compare with the doc's mask
    (IoU >= 0.95, class equal). Returns ``(checked, min_iou)``."""
    images = doc.image_by_key()
    checked, min_iou = 0, 1.0
    for key, (path, expected) in written.items():
        image = images[key]
        lines = parse_label_text(path.read_text(encoding="utf-8"), str(path), len(positions),
                                 image.width, image.height)
        if len(lines) != len(expected):
            raise InvalidInput(f"{path}: wrote {len(expected)} objects but read back {len(lines)}")
        for line, ann in zip(lines, expected):
            value = masks.iou(masks.rle_from_polygons([line.polygon], image.height, image.width), ann.rle)
            if line.cls != positions[ann.class_name] or value < _MIN_IOU:
                raise InvalidInput(f"{path}: object of class {ann.class_name!r} read back with IoU {value:.4f}")
            min_iou = min(min_iou, value)
            checked += 1
    return checked, min_iou


def save_yolo(doc: DatasetDoc, out_dir: Path, force: bool = False) -> ExportReport:
    """Write a YOLO-seg dataset: ``data.yaml`` (path ., one entry per split, names by class
    order), ``images/<split>/<name>`` copies and ``labels/<split>/<stem>.txt``; re-read and
    check every polygon, then publish the folder atomically (Conflict if it exists, unless
    ``force``). Crowd and empty masks are skipped and counted in the notes."""
    out_dir = Path(out_dir)
    ordered = sorted(doc.classes, key=lambda c: c.index)
    positions = {c.name: i for i, c in enumerate(ordered)}
    unknown = {a.class_name for a in doc.annotations} - set(positions)
    if unknown:
        raise InvalidInput(f"annotations use classes {sorted(unknown)} that the doc does not define")
    names = unique_names([(i.split, i.key) for i in doc.images], keep_dirs=False)
    by_image = doc.annotations_by_image()
    crowd = empty = missing = 0
    written: dict[str, tuple[Path, list[AnnotationRecord]]] = {}
    with atomic_output_dir(out_dir, force) as tmp:
        for image in doc.images:
            name = names[image.key]
            if image.path is not None and Path(image.path).is_file():
                copy_file(Path(image.path), tmp / "images" / image.split / name)
            else:
                missing += 1
            lines: list[tuple[int, list[float]]] = []
            kept: list[AnnotationRecord] = []
            for ann in by_image.get(image.key, []):
                if ann.iscrowd:
                    crowd += 1
                    continue
                polygon = polygons.joined_polygon(ann.rle)
                if not polygon:
                    empty += 1
                    continue
                lines.append((positions[ann.class_name], polygon))
                kept.append(ann)
            label_file = tmp / "labels" / image.split / f"{PurePosixPath(name).stem}.txt"
            label_file.parent.mkdir(parents=True, exist_ok=True)
            label_file.write_text(label_text(lines, image.width, image.height), encoding="utf-8")
            written[image.key] = (label_file, kept)
        splits = sorted({i.split for i in doc.images}, key=lambda s: (SPLITS.index(s) if s in SPLITS else 9, s))
        config = {"path": ".", **{s: f"images/{s}" for s in splits}, "names": dict(enumerate(c.name for c in ordered))}
        (tmp / "data.yaml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
        checked, min_iou = _verify(written, doc, positions)
    notes = [
        f"{n} {what}" for n, what in (
            (crowd, "crowd object(s) skipped (YOLO has no crowd regions)"),
            (empty, "empty mask(s) skipped"),
            (missing, "image file(s) not available; labels written without the image"),
        ) if n
    ]
    if "val" not in {i.split for i in doc.images}:
        notes.append("no 'val' split: Ultralytics training needs one")
    return ExportReport(out_dir, len(doc.images), checked, checked, min_iou, notes=notes)
