"""studio.formats.coco: validation, RLE/polygon export (holes kept as RLE), atomic save, real COCO files."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from studio import masks
from studio.errors import Conflict, InvalidInput
from studio.formats.coco import coco_from_doc, doc_from_coco, load_coco, save_coco
from studio.formats.records import AnnotationRecord, ClassRecord, DatasetDoc, ImageRecord

H, W = 30, 40


def _donut() -> np.ndarray:
    mask = np.zeros((H, W), np.uint8)
    mask[5:25, 5:25] = 1
    mask[10:20, 10:20] = 0
    return mask


def _square() -> np.ndarray:
    mask = np.zeros((H, W), np.uint8)
    mask[2:8, 28:36] = 1
    return mask


def _doc(tmp_path: Path | None = None) -> DatasetDoc:
    """Two images; a donut (hole), a square, and a crowd region with a score."""
    path = None
    if tmp_path is not None:
        path = tmp_path / "src" / "a.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (W, H)).save(path)
    return DatasetDoc(
        classes=[ClassRecord("ring", 3), ClassRecord("box", 7, "#123456")],
        images=[ImageRecord("a.png", path, W, H, "train"), ImageRecord("sub/b.png", None, W, H, "val")],
        annotations=[
            AnnotationRecord("a.png", "ring", masks.encode(_donut())),
            AnnotationRecord("a.png", "box", masks.encode(_square()), score=0.5),
            AnnotationRecord("sub/b.png", "box", masks.encode(_square()), iscrowd=True),
        ],
    )


def _coco() -> dict[str, Any]:
    """A small valid COCO dict with a polygon, an uncompressed crowd RLE and a compressed RLE."""
    square = masks.encode(_square())
    runs = masks._runs_from_string(square["counts"]).tolist()
    return {
        "images": [{"id": 11, "file_name": "a.jpg", "width": W, "height": H},
                   {"id": 12, "file_name": "b.jpg", "width": W, "height": H, "split": "val"}],
        "categories": [{"id": 1, "name": "person"}, {"id": 5, "name": "car"}],
        "annotations": [
            {"id": 7, "image_id": 11, "category_id": 1, "iscrowd": 0,
             "segmentation": [[28, 2, 36, 2, 36, 8, 28, 8]]},
            {"id": 8, "image_id": 11, "category_id": 5, "iscrowd": 1,
             "segmentation": {"size": [H, W], "counts": runs}},
            {"id": 9, "image_id": 12, "category_id": 5, "iscrowd": 0, "score": 0.9, "segmentation": square},
        ],
    }


def test_doc_from_coco_reads_polygons_and_both_rle_forms() -> None:
    doc = doc_from_coco(_coco(), Path("/imgs"))
    assert [(c.name, c.index) for c in doc.classes] == [("person", 1), ("car", 5)]
    assert [(i.key, i.split, i.path) for i in doc.images] == [
        ("a.jpg", "train", Path("/imgs/a.jpg")), ("b.jpg", "val", Path("/imgs/b.jpg"))]
    square = masks.encode(_square())
    for ann in doc.annotations:
        assert isinstance(ann.rle["counts"], str)
        assert masks.iou(ann.rle, square) == 1.0  # all three forms decode to the same pixels
    assert [a.iscrowd for a in doc.annotations] == [False, True, False]
    assert doc.annotations[2].score == 0.9


def _mutate(path: str, value: Any) -> dict[str, Any]:
    """_coco() with one entry replaced (path like 'annotations.0.image_id'); value DELETE removes it."""
    data = copy.deepcopy(_coco())
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    key: Any = int(last) if last.isdigit() else last
    if value is DELETE:
        del node[key]
    else:
        node[key] = value
    return data


DELETE = object()


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("annotations.0.image_id", 99, "annotation id 7: unknown image_id 99"),  # dangling image reference
        ("annotations.0.category_id", 42, "annotation id 7: unknown category_id 42"),  # dangling category
        ("annotations.0.segmentation", [[1, 1, 5, 5]], "annotation id 7: polygon 0: expected an even number of coordinates for >= 3 points, found 4"),  # 2 points
        ("annotations.0.segmentation", [[1, 1, 5, 5, 6]], "annotation id 7: polygon 0"),  # odd coordinate count
        ("annotations.0.segmentation", [], "annotation id 7: expected at least one polygon"),  # empty polygon list
        ("annotations.2.segmentation", {"size": [H + 1, W], "counts": "abc"}, "annotation id 9: RLE size [31, 40] disagrees with its image's [height, width] = [30, 40]"),
        ("annotations.1.segmentation", {"size": [H, W], "counts": [5, 6]}, "annotation id 8: RLE counts must sum to height*width = 1200"),  # short uncompressed RLE
        ("annotations.2.segmentation", {"size": [H, W], "counts": 5}, "annotation id 9: expected compressed RLE 'counts' as str"),
        ("annotations.0.segmentation", "oops", "annotation id 7: expected 'segmentation' to be list or dict, found str"),  # wrong type
        ("annotations.0.segmentation", DELETE, "annotation id 7: missing key 'segmentation'"),  # missing key
        ("annotations.0.image_id", "11", "annotation id 7: expected 'image_id' to be int, found str"),  # wrong type
        ("annotations.0.iscrowd", 2, "annotation id 7: expected 'iscrowd' 0 or 1"),
        ("images.0.width", 0, "expected positive width/height"),  # impossible size
        ("images.0.file_name", DELETE, "image #0 (id 11): missing key 'file_name'"),
        ("images.1.id", 11, "expected unique image ids"),  # duplicate id
        ("categories.1.name", "person", "expected unique ids and names"),  # duplicate category name
        ("categories", DELETE, "missing top-level key 'categories'"),
        ("images", {"a": 1}, "expected 'images' to be a list, found dict"),
    ],
)
def test_doc_from_coco_rejects_bad_input_naming_the_culprit(path: str, value: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        doc_from_coco(_mutate(path, value), None)
    assert message in str(info.value)


def test_load_coco_reports_json_error_position(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [\n  {"id": 1,, }]}')
    with pytest.raises(InvalidInput) as info:
        load_coco(bad)
    assert "bad.json" in str(info.value) and "line 2 column" in str(info.value)


def test_load_coco_prefixes_validation_errors_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps(_mutate("annotations.0.image_id", 99)))
    with pytest.raises(InvalidInput, match=r"c\.json: annotation id 7: unknown image_id 99"):
        load_coco(path)


@pytest.mark.parametrize(
    "mode, kinds",
    [
        ("rle", [dict, dict, dict]),  # RLE mode: always RLE
        ("polygon", [dict, list, dict]),  # donut keeps RLE (hole), square -> polygon, crowd keeps RLE
    ],
)
def test_coco_from_doc_modes(mode: str, kinds: list[type]) -> None:
    data = coco_from_doc(_doc(), mode)  # type: ignore[arg-type]
    assert [type(a["segmentation"]) for a in data["annotations"]] == kinds
    assert [i["id"] for i in data["images"]] == [1, 2]
    assert [c["id"] for c in data["categories"]] == [3, 7]
    first, second, third = data["annotations"]
    assert first["category_id"] == 3 and first["area"] == int(_donut().sum()) and "score" not in first
    assert second["score"] == 0.5 and second["bbox"] == [28.0, 2.0, 8.0, 6.0]
    assert third["iscrowd"] == 1 and third["image_id"] == 2
    json.dumps(data)  # JSON-ready (str counts)


def test_coco_from_doc_rejects_unknown_mode() -> None:
    with pytest.raises(InvalidInput, match="expected 'rle' or 'polygon'"):
        coco_from_doc(_doc(), "svg")  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["rle", "polygon"])
def test_save_coco_round_trip_keeps_holes(tmp_path: Path, mode: str) -> None:
    doc = _doc(tmp_path)
    report = save_coco(doc, tmp_path / "out", mode=mode)  # type: ignore[arg-type]
    assert (report.images, report.annotations, report.checked, report.min_iou) == (2, 3, 3, 1.0)
    assert report.rle_fallbacks == (1 if mode == "polygon" else 0)  # the donut
    assert (tmp_path / "out" / "images" / "a.png").is_file()  # copied; b.png has no file
    assert any("not available" in n for n in report.notes)
    back = load_coco(tmp_path / "out" / "annotations.json")
    for got, want in zip(back.annotations, doc.annotations):
        assert masks.iou(got.rle, want.rle) == 1.0
    assert masks.decode(back.annotations[0].rle)[10:20, 10:20].sum() == 0  # hole still empty
    assert [i.split for i in back.images] == ["train", "val"]


def test_save_coco_without_image_copies(tmp_path: Path) -> None:
    save_coco(_doc(tmp_path), tmp_path / "out", copy_images=False)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["annotations.json"]


def test_save_coco_refuses_existing_output_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    with pytest.raises(Conflict, match="already exists"):
        save_coco(_doc(), out)
    assert (out / "keep.txt").read_text() == "old"  # untouched
    save_coco(_doc(), out, force=True)
    assert sorted(p.name for p in out.iterdir()) == ["annotations.json"]  # replaced whole
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temp or backup folders left


def test_failed_save_leaves_no_temp_files(tmp_path: Path) -> None:
    doc = _doc(tmp_path)
    doc.images[0].key = "../escape.png"  # unsafe key: refused while copying images
    doc.annotations[0].image_key = doc.annotations[1].image_key = "../escape.png"
    with pytest.raises(InvalidInput, match="expected a relative file path"):
        save_coco(doc, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def _iou_by_object(a, b) -> list[float]:
    return [masks.iou(x.rle, y.rle) for x, y in zip(a.annotations, b.annotations)]


@pytest.mark.parametrize("name", ["instances.json", "rle.json"])  # polygons only / polygons + crowd RLE
def test_real_coco_round_trips(coco_sample: Path, tmp_path: Path, name: str) -> None:
    doc = load_coco(coco_sample / name, coco_sample / "images")
    assert doc.annotations and all(i.path.is_file() for i in doc.images)
    rle_report = save_coco(doc, tmp_path / "rle", mode="rle")
    again = load_coco(tmp_path / "rle" / "annotations.json", tmp_path / "rle" / "images")
    assert [a.rle for a in again.annotations] == [a.rle for a in doc.annotations]  # identical masks
    assert [(a.class_name, a.iscrowd) for a in again.annotations] == [(a.class_name, a.iscrowd) for a in doc.annotations]
    assert rle_report.min_iou == 1.0 and rle_report.checked == len(doc.annotations)
    poly_report = save_coco(doc, tmp_path / "poly", mode="polygon")
    assert poly_report.min_iou >= 0.95
    back = load_coco(tmp_path / "poly" / "annotations.json")
    assert min(_iou_by_object(doc, back)) >= 0.95
    data = json.loads((tmp_path / "poly" / "annotations.json").read_text())
    crowd = [a for a in data["annotations"] if a["iscrowd"]]
    assert all(isinstance(a["segmentation"], dict) for a in crowd)
    polygons = [a for a in data["annotations"] if isinstance(a["segmentation"], list)]
    assert len(polygons) == len(doc.annotations) - len(crowd) - poly_report.rle_fallbacks
