"""Instance-segmentation mask AP: pycocotools ``COCOeval(iouType="segm")``, quietly, on dicts.

``coco_mask_ap(gt, predictions)`` takes a COCO instances dict (ground truth) and a COCO results
list (``image_id``, ``category_id``, ``segmentation``, ``score``) and returns
``{ap, ap50, ap75, ap_small, ap_medium, ap_large}`` (COCO's AP@[.50:.95], AP@.50, AP@.75 and
AP by object area < 32², 32²..96², > 96² pixels, at most 100 detections per image). A value
COCO cannot define (no ground-truth object in that area range, or none at all) is NaN, where
pycocotools prints -1. Empty predictions score 0.0 wherever ground truth exists.

What is normalised before pycocotools sees it (so the numbers are COCO's, without its pitfalls):

- ground-truth annotation ids are renumbered 1..n: COCOeval treats a match with gt id 0 as
  "unmatched" (it stores matched ids in a zero-initialised array);
- a missing ground-truth ``area`` is the mask area, a missing ``iscrowd`` is 0;
- a prediction's area is its mask area (``COCO.loadRes`` would use the box area of a result
  that also carries a ``bbox``); RLE ``counts`` may be ``str``, ``bytes`` or an uncompressed
  int list; polygon lists are rasterised;
- ``COCO.loadRes`` is not used (it crashes on an empty list), nothing is printed.

``coco_inputs_from_records(doc, predictions)`` builds both inputs from the studio's own records.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from studio import masks
from studio.errors import InvalidInput
from studio.formats.coco import coco_from_doc
from studio.formats.records import DatasetDoc

RLE = dict[str, Any]
SUMMARY_KEYS = ("ap", "ap50", "ap75", "ap_small", "ap_medium", "ap_large")  # COCOeval.stats[0:6]


class PredictedInstance(NamedTuple):
    """One predicted object: the image's ``ImageRecord.key``, the class index (``ClassRecord.index``
    = COCO category id), the confidence, and the mask: ``(H, W)`` bool/uint8 or a COCO RLE."""

    image_key: str
    class_index: int
    score: float
    mask: np.ndarray | RLE


@dataclass(frozen=True)
class MaskAPResult:
    """summary: ``{ap, ap50, ap75, ap_small, ap_medium, ap_large}``; per_class: category id ->
    AP@[.50:.95] over all areas (NaN for a category without ground truth)."""

    summary: dict[str, float]
    per_class: dict[int, float]


# --------------------------------------------------------------------------- validation


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _section(data: dict[str, Any], key: str, required: bool = True) -> list[Any]:
    value = data.get(key, None if required else [])
    if not isinstance(value, list):
        found = "nothing" if value is None else type(value).__name__
        raise InvalidInput(f"COCO ground truth: expected a list under {key!r}, found {found}")
    return value


def _entry(entry: Any, keys: tuple[str, ...], what: str) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise InvalidInput(f"{what}: expected an object, found {type(entry).__name__}")
    for key in keys:
        if key not in entry:
            raise InvalidInput(f"{what}: expected the key {key!r}, found keys {sorted(entry)}")
    return entry


def _rle(seg: Any, size: list[int], what: str) -> RLE:
    """A COCO ``segmentation`` (compressed RLE with str/bytes counts, uncompressed RLE, or
    polygons) for an image of ``size = [h, w]`` -> compressed RLE with str counts."""
    if isinstance(seg, list):
        try:
            return masks.rle_from_polygons(seg, *size)
        except InvalidInput as exc:
            raise InvalidInput(f"{what}: {exc}") from None
    if not isinstance(seg, dict) or "counts" not in seg or "size" not in seg:
        raise InvalidInput(f"{what}: expected 'segmentation' as an RLE dict or polygons, found {seg!r:.60}")
    found = seg["size"]
    if not isinstance(found, (list, tuple)) or [v if _is_int(v) else None for v in found] != size:
        raise InvalidInput(f"{what}: RLE size {found!r} disagrees with its image's [height, width] = {size}")
    try:
        if isinstance(seg["counts"], list):
            return masks.rle_from_uncompressed({"size": size, "counts": seg["counts"]})
        counts = seg["counts"]
        rle = {"size": size, "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts}
        masks.decode_crop(rle)  # validates the counts string and its total length
        return rle
    except (InvalidInput, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{what}: {exc}") from None


def _image_sizes(gt: Any) -> tuple[dict[int, list[int]], list[dict[str, Any]]]:
    if not isinstance(gt, dict):
        raise InvalidInput(f"COCO ground truth: expected a dict, found {type(gt).__name__}")
    sizes: dict[int, list[int]] = {}
    for n, img in enumerate(_section(gt, "images")):
        img = _entry(img, ("id", "height", "width"), f"COCO image #{n}")
        if not _is_int(img["id"]) or not all(_is_int(img[k]) and img[k] > 0 for k in ("height", "width")):
            raise InvalidInput(f"COCO image #{n}: expected int id and positive int height/width, "
                               f"found {img['id']!r}, {img['height']!r}, {img['width']!r}")
        if img["id"] in sizes:
            raise InvalidInput(f"COCO image #{n}: duplicate image id {img['id']}")
        sizes[int(img["id"])] = [int(img["height"]), int(img["width"])]
    categories = []
    for n, cat in enumerate(_section(gt, "categories")):
        cat = _entry(cat, ("id",), f"COCO category #{n}")
        if not _is_int(cat["id"]):
            raise InvalidInput(f"COCO category #{n}: expected an int id, found {cat['id']!r}")
        categories.append({"id": int(cat["id"]), "name": str(cat.get("name", cat["id"]))})
    if len({c["id"] for c in categories}) != len(categories):
        raise InvalidInput("COCO ground truth: duplicate category ids")
    return sizes, categories


def _known(ann: dict[str, Any], sizes: dict[int, list[int]], cat_ids: set[int], what: str) -> None:
    if not _is_int(ann["image_id"]) or int(ann["image_id"]) not in sizes:
        raise InvalidInput(f"{what}: unknown image_id {ann['image_id']!r} (expected one of the ground truth's "
                           f"{len(sizes)} image ids)")
    if not _is_int(ann["category_id"]) or int(ann["category_id"]) not in cat_ids:
        raise InvalidInput(f"{what}: unknown category_id {ann['category_id']!r} (expected one of "
                           f"{sorted(cat_ids)[:20]})")


def _gt_dataset(gt: dict[str, Any]) -> tuple[dict[str, Any], dict[int, list[int]]]:
    """A cleaned copy of the ground truth for pycocotools, and the image sizes by id."""
    sizes, categories = _image_sizes(gt)
    cat_ids = {c["id"] for c in categories}
    anns = []
    for n, ann in enumerate(_section(gt, "annotations", required=False)):
        what = f"COCO ground-truth annotation #{n}"
        ann = _entry(ann, ("image_id", "category_id", "segmentation"), what)
        _known(ann, sizes, cat_ids, what)
        iscrowd = ann.get("iscrowd", 0)
        if iscrowd not in (0, 1) or isinstance(iscrowd, float):
            raise InvalidInput(f"{what}: expected 'iscrowd' 0 or 1, found {iscrowd!r}")
        rle = _rle(ann["segmentation"], sizes[int(ann["image_id"])], what)
        area = ann.get("area")
        if area is not None and (isinstance(area, bool) or not isinstance(area, (int, float)) or area < 0):
            raise InvalidInput(f"{what}: expected 'area' to be a non-negative number, found {area!r}")
        anns.append({"id": n + 1, "image_id": int(ann["image_id"]), "category_id": int(ann["category_id"]),
                     "segmentation": rle, "iscrowd": int(iscrowd), "area": area})
    missing = [a for a in anns if a["area"] is None]
    for a, area in zip(missing, masks.areas([a["segmentation"] for a in missing])):
        a["area"] = area
    images = [{"id": i, "height": h, "width": w} for i, (h, w) in sizes.items()]
    return {"images": images, "categories": categories, "annotations": anns}, sizes


def _dt_annotations(predictions: Any, sizes: dict[int, list[int]], cat_ids: set[int]) -> list[dict[str, Any]]:
    if not isinstance(predictions, (list, tuple)):
        raise InvalidInput(f"predictions: expected a list of COCO result dicts, found {type(predictions).__name__}")
    dts = []
    for n, det in enumerate(predictions):
        what = f"prediction #{n}"
        det = _entry(det, ("image_id", "category_id", "segmentation", "score"), what)
        _known(det, sizes, cat_ids, what)
        score = det["score"]
        if isinstance(score, bool) or not isinstance(score, (int, float, np.number)) or not math.isfinite(score):
            raise InvalidInput(f"{what}: expected a finite number as 'score', found {score!r}")
        dts.append({"id": n + 1, "image_id": int(det["image_id"]), "category_id": int(det["category_id"]),
                    "segmentation": _rle(det["segmentation"], sizes[int(det["image_id"])], what),
                    "score": float(score), "iscrowd": 0})
    rles = [d["segmentation"] for d in dts]
    for d, area, box in zip(dts, masks.areas(rles), masks.bboxes(rles)):
        d["area"], d["bbox"] = area, box
    return dts


# --------------------------------------------------------------------------- evaluation


def _coco(dataset: dict[str, Any]) -> COCO:
    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def coco_mask_eval(gt: dict[str, Any], predictions: list[dict[str, Any]]) -> MaskAPResult:
    """COCO mask AP (summary and per category) of ``predictions`` against ``gt``; see the module
    docstring. InvalidInput for malformed input, or a prediction naming an image or category
    the ground truth does not have, or whose mask size disagrees with its image."""
    dataset, sizes = _gt_dataset(gt)
    dts = _dt_annotations(predictions, sizes, {c["id"] for c in dataset["categories"]})
    coco_gt = _coco(dataset)
    coco_dt = _coco({"images": dataset["images"], "categories": dataset["categories"], "annotations": dts})
    evaluator = COCOeval(coco_gt, coco_dt, iouType="segm")
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    summary = {k: (float(v) if v > -1 else math.nan) for k, v in zip(SUMMARY_KEYS, evaluator.stats[:6])}
    # precision: [iou thresholds, recall points, categories, area ranges (all first), max dets (100 last)]
    precision = evaluator.eval["precision"][:, :, :, 0, -1]
    per_class = {}
    for k, cat_id in enumerate(evaluator.params.catIds):
        values = precision[:, :, k]
        values = values[values > -1]
        per_class[int(cat_id)] = float(values.mean()) if values.size else math.nan
    return MaskAPResult(summary, per_class)


def coco_mask_ap(gt: dict[str, Any], predictions: list[dict[str, Any]]) -> dict[str, float]:
    """``{ap, ap50, ap75, ap_small, ap_medium, ap_large}`` (NaN where COCO has no value);
    ``gt``: COCO instances dict; ``predictions``: COCO results list."""
    return coco_mask_eval(gt, predictions).summary


# --------------------------------------------------------------------------- from studio records


def coco_inputs_from_records(doc: DatasetDoc, predictions: Iterable[PredictedInstance | tuple[Any, ...]]
                             ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(gt, results)`` for :func:`coco_mask_ap` from a ``DatasetDoc`` (its annotations are the
    ground truth; images get ids 1..N, category id = class index, as ``coco_from_doc``) and
    predicted instances ``(image_key, class_index, score, mask)`` with masks ``(H, W)`` bool/uint8
    or RLE. InvalidInput for an unknown image key or class index, or a mask of the wrong size."""
    gt = coco_from_doc(doc, "rle")
    image_ids = {img["file_name"]: img["id"] for img in gt["images"]}
    sizes = {img["file_name"]: [img["height"], img["width"]] for img in gt["images"]}
    class_ids = {c["id"] for c in gt["categories"]}
    results = []
    for n, item in enumerate(predictions):
        inst = PredictedInstance(*item)
        what = f"predicted instance #{n}"
        if inst.image_key not in image_ids:
            raise InvalidInput(f"{what}: unknown image key {inst.image_key!r} (not in the dataset's images)")
        if not _is_int(inst.class_index) or inst.class_index not in class_ids:
            raise InvalidInput(f"{what}: unknown class index {inst.class_index!r} (expected one of "
                               f"{sorted(class_ids)[:20]})")
        size = sizes[inst.image_key]
        if isinstance(inst.mask, np.ndarray):
            if inst.mask.shape != tuple(size):
                raise InvalidInput(f"{what}: expected a mask of shape {tuple(size)} (its image), "
                                   f"got {inst.mask.shape}")
            rle = masks.encode(inst.mask)
        else:
            rle = _rle(inst.mask, size, what)
        results.append({"image_id": image_ids[inst.image_key], "category_id": int(inst.class_index),
                        "segmentation": rle, "score": inst.score})
    return gt, results
