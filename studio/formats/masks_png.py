"""Semantic PNG masks (VOC style): one 8-bit PNG per image whose pixel value is the class index.

Layout read: ``root/JPEGImages`` (or ``images``) with ``root/SegmentationClass``,
``SegmentationClassPNG`` or ``masks`` holding ``<same stem>.png``, and a classes file:
``class_names.txt`` / ``labels.txt`` (line i = class index i; a labelme ``__ignore__`` first
line is skipped) or ``classes.json`` (``[{"name", "index", "color"}, ...]``). Value 255 means
unlabelled and is not stored. Layout written: ``images/<key>``, ``masks/<stem>.png``
(palette PNG), ``classes.json``.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image

from studio import masks
from studio.colors import color_for_index, hex_to_rgb
from studio.errors import InvalidInput
from studio.formats._files import atomic_output_dir, copy_file, image_size, unique_names
from studio.formats.records import (
    AnnotationRecord,
    ClassRecord,
    DatasetDoc,
    ExportReport,
    ImageRecord,
)

IGNORE = 255
IMAGE_DIRS = ("JPEGImages", "images")
MASK_DIRS = ("SegmentationClass", "SegmentationClassPNG", "masks")
CLASS_FILES = ("classes.json", "class_names.txt", "labels.txt")
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})


# --------------------------------------------------------------------------- pure converters


def classes_from_names(lines: list[str]) -> list[ClassRecord]:
    """Class-names text lines (line i = index i) -> classes; a first ``__ignore__`` line
    (labelme: value -1/255) is skipped, blank trailing lines are ignored."""
    names = [line.strip() for line in lines]
    while names and not names[-1]:
        names.pop()
    if names and names[0] == "__ignore__":
        names = names[1:]
    if not names or any(not n for n in names) or len(set(names)) != len(names):
        raise InvalidInput(f"expected one unique, non-empty class name per line, found {names!r:.120}")
    return [ClassRecord(name, i) for i, name in enumerate(names)]


def classes_from_json(data: Any) -> list[ClassRecord]:
    """``[{"name": str, "index": int, "color": "#rrggbb" | null}, ...]`` -> classes."""
    if not isinstance(data, list):
        raise InvalidInput(f"expected a list of {{name, index, color}} objects, found {type(data).__name__}")
    classes = []
    for n, entry in enumerate(data):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not isinstance(entry.get("index"), int) \
                or isinstance(entry.get("index"), bool):
            raise InvalidInput(f"class #{n}: expected {{'name': str, 'index': int}}, found {entry!r:.80}")
        color = entry.get("color")
        if color is not None:
            try:
                hex_to_rgb(color)
            except (ValueError, AttributeError):
                raise InvalidInput(f"class {entry['name']!r}: expected colour '#rrggbb', found {color!r}") from None
        classes.append(ClassRecord(entry["name"], entry["index"], color))
    if len({c.index for c in classes}) != len(classes) or len({c.name for c in classes}) != len(classes):
        raise InvalidInput("classes: expected unique names and indices")
    return classes


def annotations_from_label_map(label_map: np.ndarray, key: str, classes: dict[int, ClassRecord],
                               source: str) -> list[AnnotationRecord]:
    """``HxW`` uint8 class-index map -> one annotation per class value present (255 skipped).
    Values that name no class raise InvalidInput naming ``source`` and the value."""
    values = [int(v) for v in np.unique(label_map) if v != IGNORE]
    unknown = [v for v in values if v not in classes]
    if unknown:
        raise InvalidInput(f"{source}: pixel value(s) {unknown} name no class in the classes file "
                           f"(known: {sorted(classes)}, 255 = unlabelled)")
    return [AnnotationRecord(key, classes[v].name, masks.encode(label_map == v)) for v in values]


def label_map_from_annotations(annotations: list[AnnotationRecord], index_of: dict[str, int],
                               height: int, width: int, fill: int) -> np.ndarray:
    """Paint annotations into an ``HxW`` uint8 map filled with ``fill``; larger areas first so
    small objects stay on top."""
    label_map = np.full((height, width), fill, np.uint8)
    for ann in sorted(annotations, key=lambda a: masks.area(a.rle), reverse=True):
        if ann.rle["size"] != [height, width]:
            raise InvalidInput(f"{ann.image_key}: mask size {ann.rle['size']} disagrees with the image {[height, width]}")
        crop, x0, y0 = masks.decode_crop(ann.rle)
        region = label_map[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]]
        region[crop.astype(bool)] = index_of[ann.class_name]
    return label_map


def palette_for(classes: list[ClassRecord]) -> list[int]:
    """768-entry PNG palette: class colours at their indices, 255 white, the rest black."""
    palette = [0] * 768
    palette[3 * IGNORE : 3 * IGNORE + 3] = [255, 255, 255]
    for c in classes:
        palette[3 * c.index : 3 * c.index + 3] = hex_to_rgb(c.color or color_for_index(c.index))
    return palette


# --------------------------------------------------------------------------- files


def _first_dir(root: Path, names: tuple[str, ...], what: str) -> Path:
    for name in names:
        if (root / name).is_dir():
            return root / name
    raise InvalidInput(f"{root}: expected the {what} folder, named one of {', '.join(names)}")


def _read_classes(root: Path) -> list[ClassRecord]:
    for name in CLASS_FILES:
        path = root / name
        if not path.is_file():
            continue
        try:
            if name.endswith(".json"):
                return classes_from_json(json.loads(path.read_text(encoding="utf-8")))
            return classes_from_names(path.read_text(encoding="utf-8").splitlines())
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{path}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
        except InvalidInput as exc:
            raise InvalidInput(f"{path}: {exc}") from None
    raise InvalidInput(f"{root}: expected a classes file ({', '.join(CLASS_FILES)})")


def _read_label_map(path: Path) -> tuple[np.ndarray, list[int] | None]:
    """``(HxW uint8 map, palette or None)`` of a palette or 8-bit grayscale PNG."""
    try:
        with Image.open(path) as image:
            if image.mode not in ("P", "L"):
                raise InvalidInput(f"{path}: expected an 8-bit palette (P) or grayscale (L) PNG, found mode {image.mode}")
            palette = image.getpalette() if image.mode == "P" else None
            return np.asarray(image, dtype=np.uint8), palette
    except OSError as exc:
        raise InvalidInput(f"{path}: expected a readable PNG mask, found {exc}") from None


def _splits(root: Path) -> dict[str, str]:
    """Image stem -> split from VOC ``ImageSets/Segmentation/<split>.txt`` lists, if present."""
    found: dict[str, str] = {}
    lists = root / "ImageSets" / "Segmentation"
    for split in ("train", "val", "test"):
        if (lists / f"{split}.txt").is_file():
            for stem in (lists / f"{split}.txt").read_text(encoding="utf-8").split():
                found.setdefault(stem, split)
    return found


def load_masks(root: Path) -> DatasetDoc:
    """Read a semantic PNG-mask dataset (layout in the module docstring) into a validated doc.

    One annotation per class value present in each mask (index 0 included when the classes
    file names it, e.g. VOC ``_background_``). Images without a mask are unannotated; class
    colours come from the classes file, else from the PNG palette."""
    root = Path(root)
    image_dir = _first_dir(root, IMAGE_DIRS, "images")
    mask_dir = _first_dir(root, MASK_DIRS, "masks")
    classes = _read_classes(root)
    by_index = {c.index: c for c in classes}
    index_of = {c.name: c.index for c in classes}
    colors: dict[int, str] = {}
    splits = _splits(root)
    doc = DatasetDoc()
    images = sorted(p for p in image_dir.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    for path in images:
        key = path.relative_to(image_dir).as_posix()
        width, height = image_size(path)
        record = ImageRecord(key, path, width, height, splits.get(path.stem, "train"))
        doc.images.append(record)
        mask_path = mask_dir / PurePosixPath(key).with_suffix(".png")
        if not mask_path.is_file():
            continue
        label_map, palette = _read_label_map(mask_path)
        if label_map.shape != (height, width):
            raise InvalidInput(f"{mask_path}: mask is {label_map.shape[1]}x{label_map.shape[0]} "
                               f"but its image {path.name} is {width}x{height}")
        anns = annotations_from_label_map(label_map, key, by_index, str(mask_path))
        doc.annotations += anns
        if palette:
            for ann in anns:
                index = index_of[ann.class_name]
                colors.setdefault(index, "#{:02x}{:02x}{:02x}".format(*palette[3 * index : 3 * index + 3]))
    stems = {PurePosixPath(i.key).with_suffix("").as_posix() for i in doc.images}
    orphans = [p.relative_to(mask_dir).as_posix() for p in sorted(mask_dir.rglob("*.png"))
               if p.relative_to(mask_dir).with_suffix("").as_posix() not in stems]
    if orphans:
        raise InvalidInput(f"{mask_dir}: {len(orphans)} mask(s) have no image in {image_dir.name}, e.g. {orphans[:3]}")
    doc.classes = [c if c.color else ClassRecord(c.name, c.index, colors.get(c.index)) for c in classes]
    return doc


def doc_from_masks(root: Path) -> DatasetDoc:
    """Alias of :func:`load_masks` (the semantic-mask layout is only defined on disk)."""
    return load_masks(root)


def save_masks(doc: DatasetDoc, out_dir: Path, force: bool = False) -> ExportReport:
    """Write ``images/<key>``, ``masks/<stem>.png`` (palette PNG, value = class index, 255 =
    unlabelled) and ``classes.json``; re-read every PNG and compare it per pixel with what was
    painted, then publish the folder atomically (Conflict if it exists, unless ``force``).

    Unpainted pixels get 255 when the doc has a class with index 0 (explicit background),
    else 0. Classes with an index outside 0..254 cannot be written (InvalidInput)."""
    out_dir = Path(out_dir)
    too_big = [c for c in doc.classes if not 0 <= c.index <= 254]
    if too_big:
        raise InvalidInput(f"class {too_big[0].name!r} has index {too_big[0].index}; PNG masks hold 0..254 (255 = unlabelled)")
    index_of = {c.name: c.index for c in doc.classes}
    unknown = {a.class_name for a in doc.annotations} - set(index_of)
    if unknown:
        raise InvalidInput(f"annotations use classes {sorted(unknown)} that the doc does not define")
    fill = IGNORE if 0 in index_of.values() else 0
    palette = palette_for(doc.classes)
    names = unique_names([("", i.key) for i in doc.images], keep_dirs=True)
    by_image = doc.annotations_by_image()
    missing = 0
    with atomic_output_dir(out_dir, force) as tmp:
        for image in doc.images:
            name = PurePosixPath(names[image.key])
            if image.path is not None and Path(image.path).is_file():
                copy_file(Path(image.path), tmp / "images" / name)
            else:
                missing += 1
            label_map = label_map_from_annotations(by_image.get(image.key, []), index_of, image.height, image.width, fill)
            mask_file = tmp / "masks" / name.with_suffix(".png")
            mask_file.parent.mkdir(parents=True, exist_ok=True)
            png = Image.fromarray(label_map)  # mode L; putpalette makes it P
            png.putpalette(palette)
            png.save(mask_file, optimize=False)
            read_back, _ = _read_label_map(mask_file)
            if not np.array_equal(read_back, label_map):
                raise InvalidInput(f"{mask_file}: read back differs from what was written")
        classes = [{"name": c.name, "index": c.index, "color": c.color or color_for_index(c.index)}
                   for c in sorted(doc.classes, key=lambda c: c.index)]
        (tmp / "classes.json").write_text(json.dumps(classes, indent=1), encoding="utf-8")
    notes = [f"{missing} image file(s) not available; masks written without the image"] if missing else []
    return ExportReport(out_dir, len(doc.images), len(doc.annotations), len(doc.annotations), 1.0, notes=notes)
