"""COCO instance segmentation: ``DatasetDoc`` <-> COCO dict (pure), then JSON load/save.

Masks in the doc are compressed RLE; on import COCO polygons, uncompressed RLE (list
counts, used for crowds) and compressed RLE are all converted to it. On export, ``mode``
"rle" writes every mask as compressed RLE (exact); "polygon" writes pixel-edge polygons for
masks without holes (exact under pycocotools rasterisation) and RLE for masks with holes,
empty masks and crowds (COCO convention: iscrowd=1 uses RLE).
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from studio import masks, polygons
from studio.errors import InvalidInput
from studio.formats._files import atomic_output_dir, copy_file, safe_relative
from studio.formats.records import (
    AnnotationRecord,
    ClassRecord,
    DatasetDoc,
    ExportReport,
    ImageRecord,
)

CocoMode = Literal["rle", "polygon"]
ANNOTATIONS_FILE = "annotations.json"
_POLYGON_MIN_IOU = 0.95


# --------------------------------------------------------------------------- validation


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _require(entry: Any, keys: dict[str, type | tuple[type, ...]], what: str) -> dict[str, Any]:
    """Check ``entry`` is a dict holding ``keys`` with the given types; name ``what`` if not."""
    if not isinstance(entry, dict):
        raise InvalidInput(f"{what}: expected an object, found {type(entry).__name__}")
    for key, kind in keys.items():
        if key not in entry:
            raise InvalidInput(f"{what}: missing key {key!r}")
        value = entry[key]
        ok = _is_int(value) if kind is int else isinstance(value, kind) and not isinstance(value, bool)
        if not ok:
            expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise InvalidInput(f"{what}: expected {key!r} to be {expected}, found {type(value).__name__}")
    return entry


def _section(data: dict[str, Any], key: str, required: bool = True) -> list[Any]:
    if key not in data:
        if required:
            raise InvalidInput(f"COCO: missing top-level key {key!r}")
        return []
    if not isinstance(data[key], list):
        raise InvalidInput(f"COCO: expected {key!r} to be a list, found {type(data[key]).__name__}")
    return data[key]


def _classes(categories: list[Any]) -> dict[int, ClassRecord]:
    """COCO categories -> classes keyed by category id (index = id, name = name)."""
    by_id: dict[int, ClassRecord] = {}
    names: set[str] = set()
    for n, cat in enumerate(categories):
        _require(cat, {"id": int, "name": str}, f"category #{n}")
        if cat["id"] in by_id or cat["name"] in names:
            raise InvalidInput(f"category id {cat['id']} ({cat['name']!r}): expected unique ids and names")
        color = cat.get("color") if isinstance(cat.get("color"), str) else None
        by_id[int(cat["id"])] = ClassRecord(cat["name"], int(cat["id"]), color)
        names.add(cat["name"])
    return by_id


def _images(entries: list[Any], images_root: Path | None) -> dict[int, ImageRecord]:
    """COCO images -> records keyed by image id (key = file_name, split from "split" or train)."""
    by_id: dict[int, ImageRecord] = {}
    keys: set[str] = set()
    for n, img in enumerate(entries):
        what = f"image #{n} (id {img.get('id')!r})" if isinstance(img, dict) else f"image #{n}"
        _require(img, {"id": int, "file_name": str, "width": int, "height": int}, what)
        if img["width"] <= 0 or img["height"] <= 0:
            raise InvalidInput(f"{what}: expected positive width/height, found {img['width']}x{img['height']}")
        if img["id"] in by_id or img["file_name"] in keys:
            raise InvalidInput(f"{what}: expected unique image ids and file names, {img['file_name']!r} repeats")
        split = img.get("split", "train")
        if not isinstance(split, str) or not split:
            raise InvalidInput(f"{what}: expected 'split' to be a non-empty string, found {split!r}")
        path = images_root / img["file_name"] if images_root is not None else None
        by_id[int(img["id"])] = ImageRecord(img["file_name"], path, int(img["width"]), int(img["height"]), split)
        keys.add(img["file_name"])
    return by_id


def _segmentation_rle(seg: Any, image: ImageRecord, what: str) -> masks.RLE:
    """A COCO ``segmentation`` (polygons, uncompressed or compressed RLE) -> compressed RLE."""
    h, w = image.height, image.width
    if isinstance(seg, list):
        if not seg:
            raise InvalidInput(f"{what}: expected at least one polygon, found an empty list")
        try:
            return masks.rle_from_polygons(seg, h, w)
        except InvalidInput as exc:
            raise InvalidInput(f"{what}: {exc}") from None
    if isinstance(seg, dict):
        size = seg.get("size")
        if size != [h, w]:
            raise InvalidInput(f"{what}: RLE size {size!r} disagrees with its image's [height, width] = {[h, w]}")
        try:
            if isinstance(seg.get("counts"), list):
                return masks.rle_from_uncompressed(seg)
            rle = {"size": [h, w], "counts": seg.get("counts")}
            masks.decode_crop(rle)  # validates the counts string and its total length
            counts = rle["counts"]
            return {"size": [h, w], "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts}
        except InvalidInput as exc:
            raise InvalidInput(f"{what}: {exc}") from None
    raise InvalidInput(f"{what}: expected 'segmentation' as a polygon list or an RLE dict, found {type(seg).__name__}")


# --------------------------------------------------------------------------- pure converters


def doc_from_coco(data: dict[str, Any], images_root: Path | None) -> DatasetDoc:
    """A COCO instances dict -> validated ``DatasetDoc`` (every error raises InvalidInput
    naming the annotation / image / category). ``images_root``: folder holding ``file_name``s."""
    if not isinstance(data, dict):
        raise InvalidInput(f"COCO: expected a JSON object at the top level, found {type(data).__name__}")
    classes = _classes(_section(data, "categories"))
    images = _images(_section(data, "images"), images_root)
    annotations: list[AnnotationRecord] = []
    for n, ann in enumerate(_section(data, "annotations", required=False)):
        what = f"annotation id {ann.get('id')!r}" if isinstance(ann, dict) and "id" in ann else f"annotation #{n}"
        _require(ann, {"image_id": int, "category_id": int, "segmentation": (list, dict)}, what)
        if ann["image_id"] not in images:
            raise InvalidInput(f"{what}: unknown image_id {ann['image_id']} (not in 'images')")
        if ann["category_id"] not in classes:
            raise InvalidInput(f"{what}: unknown category_id {ann['category_id']} (not in 'categories')")
        iscrowd = ann.get("iscrowd", 0)
        if iscrowd not in (0, 1) or isinstance(iscrowd, float):
            raise InvalidInput(f"{what}: expected 'iscrowd' 0 or 1, found {iscrowd!r}")
        score = ann.get("score")
        if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
            raise InvalidInput(f"{what}: expected 'score' to be a number, found {type(score).__name__}")
        image = images[ann["image_id"]]
        rle = _segmentation_rle(ann["segmentation"], image, what)
        annotations.append(
            AnnotationRecord(image.key, classes[ann["category_id"]].name, rle, bool(iscrowd),
                             None if score is None else float(score))
        )
    return DatasetDoc(sorted(classes.values(), key=lambda c: c.index), list(images.values()), annotations)


def _segmentations(doc: DatasetDoc, mode: CocoMode) -> tuple[list[Any], dict[str, int]]:
    """The ``segmentation`` of every annotation and the count of objects kept as RLE per
    reason ("hole", "empty", "crowd"): polygons in polygon mode where possible, else RLE."""
    kept = {"hole": 0, "empty": 0, "crowd": 0}
    segmentations: list[Any] = [ann.rle for ann in doc.annotations]
    if mode == "rle":
        return segmentations, kept
    todo = [n for n, ann in enumerate(doc.annotations) if not ann.iscrowd]
    kept["crowd"] = len(doc.annotations) - len(todo)
    traced = polygons.coco_polygons_many([doc.annotations[n].rle for n in todo])
    for n, polys in zip(todo, traced):
        if polys is None:
            kept["hole"] += 1
        elif not polys:
            kept["empty"] += 1
        else:
            segmentations[n] = polys
    return segmentations, kept


def _coco_export(doc: DatasetDoc, mode: CocoMode) -> tuple[dict[str, Any], dict[str, int]]:
    """``coco_from_doc`` plus the count of objects kept as RLE per reason."""
    if mode not in ("rle", "polygon"):
        raise InvalidInput(f"COCO mode {mode!r}: expected 'rle' or 'polygon'")
    image_ids = {img.key: n for n, img in enumerate(doc.images, start=1)}
    sizes = {img.key: [img.height, img.width] for img in doc.images}
    class_ids = {c.name: c.index for c in doc.classes}
    for n, ann in enumerate(doc.annotations, start=1):
        if ann.image_key not in image_ids:
            raise InvalidInput(f"annotation {n}: image {ann.image_key!r} is not in the doc's images")
        if ann.class_name not in class_ids:
            raise InvalidInput(f"annotation {n}: class {ann.class_name!r} is not in the doc's classes")
        if list(ann.rle.get("size", [])) != sizes[ann.image_key]:
            raise InvalidInput(f"annotation {n}: mask size {ann.rle.get('size')} disagrees with image "
                               f"{ann.image_key!r} [height, width] = {sizes[ann.image_key]}")
    segmentations, kept = _segmentations(doc, mode)
    rles = [ann.rle for ann in doc.annotations]
    annotations = []
    for n, (ann, segmentation, area, box) in enumerate(
        zip(doc.annotations, segmentations, masks.areas(rles), masks.bboxes(rles)), start=1
    ):
        entry: dict[str, Any] = {
            "id": n,
            "image_id": image_ids[ann.image_key],
            "category_id": class_ids[ann.class_name],
            "segmentation": segmentation,
            "area": area,
            "bbox": box,
            "iscrowd": int(ann.iscrowd),
        }
        if ann.score is not None:
            entry["score"] = ann.score
        annotations.append(entry)
    data = {
        "images": [
            {"id": image_ids[i.key], "file_name": i.key, "width": i.width, "height": i.height, "split": i.split}
            for i in doc.images
        ],
        "categories": [
            {"id": c.index, "name": c.name, **({"color": c.color} if c.color else {})} for c in doc.classes
        ],
        "annotations": annotations,
    }
    return data, kept


def coco_from_doc(doc: DatasetDoc, mode: CocoMode = "rle") -> dict[str, Any]:
    """``DatasetDoc`` -> COCO instances dict. Images get ids 1..N, category id = class index;
    ``mode`` "rle": every mask as compressed RLE; "polygon": polygons unless the mask has a
    hole (then RLE). Each annotation carries bbox, area, iscrowd and score when set."""
    return _coco_export(doc, mode)[0]


# --------------------------------------------------------------------------- files


def load_coco(json_path: Path, images_root: Path | None = None) -> DatasetDoc:
    """Read a COCO instances JSON file into a validated ``DatasetDoc``."""
    json_path = Path(json_path)
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"{json_path}: expected COCO JSON, found malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{json_path}: expected a readable UTF-8 JSON file, found {exc}") from None
    try:
        return doc_from_coco(data, images_root)
    except InvalidInput as exc:
        raise InvalidInput(f"{json_path}: {exc}") from None


def _read_back_rles(written: list[dict[str, Any]], image: dict[str, Any]) -> list[Any]:
    """The RLE of each annotation of one image as pycocotools reads it (``COCO.annToRLE``),
    with all polygons of the image rasterised in one ``frPyObjects`` call."""
    h, w = image["height"], image["width"]
    polygons = [p for a in written if isinstance(a["segmentation"], list) for p in a["segmentation"]]
    rasters = iter(mask_utils.frPyObjects(polygons, h, w) if polygons else [])
    rles: list[Any] = []
    for ann in written:
        seg = ann["segmentation"]
        if not isinstance(seg, list):
            rles.append(mask_utils.frPyObjects(seg, h, w) if isinstance(seg["counts"], list) else seg)
        elif len(seg) == 1:
            rles.append(next(rasters))
        else:
            rles.append(mask_utils.merge([next(rasters) for _ in seg]))
    return rles


def _verify(json_file: Path, doc: DatasetDoc) -> tuple[int, float]:
    """Re-read ``json_file`` with pycocotools and compare each object with the doc's mask.

    RLE objects must be identical (IoU 1); polygon objects need IoU >= 0.95. IoUs are computed
    per image in one pycocotools call. Returns ``(checked, min_iou)``; raises InvalidInput on a
    mismatch.
    """
    with contextlib.redirect_stdout(io.StringIO()):  # COCO() prints progress
        coco = COCO(str(json_file))
    ann_ids = sorted(coco.anns)
    if len(ann_ids) != len(doc.annotations):
        raise InvalidInput(f"{json_file}: wrote {len(doc.annotations)} objects but read back {len(ann_ids)}")
    min_iou = 1.0
    for image_id, written in sorted(coco.imgToAnns.items()):
        got = _read_back_rles(written, coco.imgs[image_id])
        want = [doc.annotations[a["id"] - 1].rle for a in written]
        values = np.diagonal(mask_utils.iou(got, want, [0] * len(want))).copy()
        empty = values == 0  # pycocotools gives 0 for two empty masks
        if empty.any():
            both = (mask_utils.area([got[i] for i in np.flatnonzero(empty)]) == 0) & (
                mask_utils.area([want[i] for i in np.flatnonzero(empty)]) == 0)
            values[np.flatnonzero(empty)[both]] = 1.0
        for value, ann in zip(values, written):
            exact = isinstance(ann["segmentation"], dict)
            if (exact and value != 1.0) or value < _POLYGON_MIN_IOU:
                raise InvalidInput(
                    f"{json_file}: object {ann['id']} (image {image_id}) read back with IoU {value:.4f} "
                    "against the source mask")
        min_iou = min(min_iou, float(values.min()))
    return len(ann_ids), min_iou


def save_coco(doc: DatasetDoc, out_dir: Path, mode: CocoMode = "rle", copy_images: bool = True,
              force: bool = False) -> ExportReport:
    """Write ``out_dir/annotations.json`` (and ``out_dir/images/<key>`` when ``copy_images``
    and the image files exist), re-read and check it, then publish the folder atomically.

    Refuses an existing ``out_dir`` unless ``force`` (Conflict)."""
    out_dir = Path(out_dir)
    data, kept = _coco_export(doc, mode)
    notes: list[str] = []
    with atomic_output_dir(out_dir, force) as tmp:
        json_file = tmp / ANNOTATIONS_FILE
        json_file.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
        copied = 0
        if copy_images:
            for image in doc.images:
                if image.path is not None and Path(image.path).is_file():
                    copy_file(Path(image.path), tmp / "images" / safe_relative(image.key))
                    copied += 1
            if copied < len(doc.images):
                notes.append(f"{len(doc.images) - copied} image file(s) not available; not copied")
        checked, min_iou = _verify(json_file, doc)
    if mode == "polygon":
        for why, label in (("hole", "with holes"), ("empty", "empty"), ("crowd", "crowd")):
            if kept[why]:
                notes.append(f"{kept[why]} {label} object(s) written as RLE")
    return ExportReport(out_dir, len(doc.images), len(doc.annotations), checked, min_iou,
                        rle_fallbacks=kept["hole"], notes=notes)
