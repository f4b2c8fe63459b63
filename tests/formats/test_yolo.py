"""studio.formats.yolo: data.yaml variants, label validation with file:line, hole-keeping round trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from studio import masks
from studio.errors import Conflict, InvalidInput
from studio.formats.coco import load_coco
from studio.formats.records import AnnotationRecord, ClassRecord, DatasetDoc, ImageRecord
from studio.formats.yolo import label_path, load_yolo, save_yolo

H, W = 40, 50


def _write_dataset(root: Path, names: object, labels: dict[str, str], split_dir: str = "train",
                   extra: dict | None = None) -> Path:
    """A YOLO dataset: one W x H image per label file under images/<split_dir>."""
    root.mkdir(parents=True, exist_ok=True)
    for stem, text in labels.items():
        image = root / "images" / split_dir / f"{stem}.png"
        image.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (W, H)).save(image)
        label = root / "labels" / split_dir / f"{stem}.txt"
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text(text)
    config = {"path": ".", "train": f"images/{split_dir}", "names": names, **(extra or {})}
    (root / "data.yaml").write_text(yaml.safe_dump(config))
    return root


SQUARE = "0.2 0.25 0.6 0.25 0.6 0.75 0.2 0.75"  # x 10..30, y 10..30 in a 50x40 image


@pytest.mark.parametrize(
    "names",
    [
        ["cat", "dog"],  # list form
        {0: "cat", 1: "dog"},  # dict form (Ultralytics default)
        {"0": "cat", "1": "dog"},  # dict with string keys (hand-written YAML)
    ],
)
def test_load_yolo_reads_names_and_polygons(tmp_path: Path, names: object) -> None:
    root = _write_dataset(tmp_path / "ds", names, {"a": f"1 {SQUARE}\n\n", "b": ""})
    doc = load_yolo(root)
    assert [(c.name, c.index) for c in doc.classes] == [("cat", 1), ("dog", 2)]  # index = cls + 1
    assert [(i.key, i.width, i.height, i.split) for i in doc.images] == [
        ("images/train/a.png", W, H, "train"), ("images/train/b.png", W, H, "train")]
    (ann,) = doc.annotations
    assert ann.class_name == "dog" and ann.image_key == "images/train/a.png"
    expected = np.zeros((H, W), np.uint8)
    expected[10:30, 10:30] = 1
    assert masks.iou(ann.rle, masks.encode(expected)) == 1.0


def test_load_yolo_splits_relative_to_path(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    _write_dataset(root / "data", ["cat"], {"a": f"0 {SQUARE}"}, split_dir="val")
    (root / "data" / "data.yaml").unlink()
    (root / "data.yaml").write_text(yaml.safe_dump({"path": "data", "val": "images/val", "names": ["cat"]}))
    doc = load_yolo(root)
    assert [(i.key, i.split) for i in doc.images] == [("data/images/val/a.png", "val")]
    assert len(doc.annotations) == 1


def test_exif_orientation_swaps_width_and_height(tmp_path: Path) -> None:
    root = _write_dataset(tmp_path / "ds", ["cat"], {})
    image = root / "images" / "train" / "r.jpg"
    image.parent.mkdir(parents=True, exist_ok=True)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees when displayed
    Image.new("RGB", (W, H)).save(image, exif=exif)
    (doc_image,) = load_yolo(root).images
    assert (doc_image.width, doc_image.height) == (H, W)


def test_label_path_replaces_the_last_images_component() -> None:
    assert label_path(Path("/d/images/x/images/train/a.jpg")) == Path("/d/images/x/labels/train/a.txt")


@pytest.mark.parametrize(
    "line, message",
    [
        (f"2 {SQUARE}", "class 2 out of range; expected an integer in 0..1"),  # only 2 classes
        (f"-1 {SQUARE}", "class -1 out of range"),  # negative class
        (f"0.5 {SQUARE}", "class 0.5 out of range"),  # not an integer
        ("0 0.1 0.1 1.2 0.1 0.5 0.5", "expected normalised coordinates in [0, 1], found 1.2"),  # pixel coords
        ("0 0.1 0.1 -0.01 0.1 0.5 0.5", "found -0.01"),  # negative coordinate
        ("0 0.1 0.1 0.5 0.1 0.5", "expected an even number of coordinates"),  # odd count
        ("0 0.1 0.1 0.5 0.5", "expected a polygon of >= 3 points, found 2"),  # a detection box line, not a polygon
        ("0 0.1 0.1 0.5 zz 0.5 0.5", "expected numbers 'cls x1 y1 x2 y2 ...', found 'zz'"),  # non-numeric
    ],
)
def test_bad_label_lines_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    root = _write_dataset(tmp_path / "ds", ["cat", "dog"], {"a": f"0 {SQUARE}\n{line}\n"})
    with pytest.raises(InvalidInput) as info:
        load_yolo(root)
    assert f"{Path('labels') / 'train' / 'a.txt'}:2" in str(info.value)
    assert message in str(info.value)


def test_coordinates_within_tolerance_are_accepted(tmp_path: Path) -> None:
    root = _write_dataset(tmp_path / "ds", ["cat"], {"a": "0 0 0 1.0000005 0 1.0000005 1 -0.0000005 1"})
    (ann,) = load_yolo(root).annotations
    assert masks.area(ann.rle) == W * H


@pytest.mark.parametrize(
    "config, message",
    [
        ({"train": "images/train"}, "expected a mapping with 'names'"),  # names missing
        ({"train": "images/train", "names": "cat"}, "expected 'names' as a list"),  # names malformed
        ({"train": "images/train", "names": {1: "cat"}}, "expected 'names' as a list"),  # dict not 0-based
        ({"train": "images/train", "names": ["a"], "nc": 2}, "'nc' is 2 but 'names' has 1"),
        ({"train": "images/nope", "names": ["a"]}, "split path 'images/nope' not found"),
        ({"names": ["a"]}, "expected at least one of train, val, test"),
    ],
)
def test_bad_data_yaml(tmp_path: Path, config: dict, message: str) -> None:
    root = _write_dataset(tmp_path / "ds", ["cat"], {"a": ""})
    (root / "data.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(InvalidInput) as info:
        load_yolo(root)
    assert message in str(info.value) and "data.yaml" in str(info.value)


def _donut() -> np.ndarray:
    mask = np.zeros((H, W), np.uint8)
    mask[5:35, 5:35] = 1
    mask[12:28, 12:28] = 0
    mask[18:22, 18:22] = 1  # island in the hole
    mask[2:8, 40:48] = 1  # a second part
    return mask


def _doc(tmp_path: Path) -> DatasetDoc:
    images = []
    for key, split in (("x/a.png", "train"), ("y/a.png", "train"), ("b.png", "val")):
        path = tmp_path / "src" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (W, H)).save(path)
        images.append(ImageRecord(key, path, W, H, split))
    square = np.zeros((H, W), np.uint8)
    square[30:38, 2:9] = 1
    return DatasetDoc(
        classes=[ClassRecord("dog", 5), ClassRecord("cat", 2)],
        images=images,
        annotations=[
            AnnotationRecord("x/a.png", "dog", masks.encode(_donut())),
            AnnotationRecord("x/a.png", "cat", masks.encode(square)),
            AnnotationRecord("y/a.png", "cat", masks.encode(square), iscrowd=True),  # skipped
            AnnotationRecord("b.png", "dog", masks.encode(square)),
        ],
    )


def test_save_yolo_round_trip_keeps_holes_and_classes(tmp_path: Path) -> None:
    doc = _doc(tmp_path)
    report = save_yolo(doc, tmp_path / "out")
    assert (report.images, report.annotations, report.checked) == (3, 3, 3)
    assert report.min_iou >= 0.95
    assert any("1 crowd" in n for n in report.notes)
    config = yaml.safe_load((tmp_path / "out" / "data.yaml").read_text())
    assert config == {"path": ".", "train": "images/train", "val": "images/val", "names": {0: "cat", 1: "dog"}}
    labels = sorted(p.name for p in (tmp_path / "out" / "labels" / "train").iterdir())
    assert len(labels) == 2 and all(n.endswith("_a.txt") for n in labels)  # basename clash -> hashed prefix
    back = load_yolo(tmp_path / "out")
    assert [(c.name, c.index) for c in back.classes] == [("cat", 1), ("dog", 2)]
    donut = next(a for a in back.annotations if a.class_name == "dog" and "b.png" not in a.image_key)
    assert masks.iou(donut.rle, masks.encode(_donut())) >= 0.95
    decoded = masks.decode(donut.rle)
    assert decoded[12:18, 12:28].sum() == 0 and decoded[18:22, 18:22].all()  # hole empty, island kept
    assert decoded[2:8, 40:48].all()  # second part kept


def test_save_yolo_refuses_existing_output_unless_forced(tmp_path: Path) -> None:
    doc = _doc(tmp_path)
    (tmp_path / "out").mkdir()
    with pytest.raises(Conflict):
        save_yolo(doc, tmp_path / "out")
    save_yolo(doc, tmp_path / "out", force=True)
    assert (tmp_path / "out" / "data.yaml").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]


def test_failed_save_yolo_leaves_no_temp_files(tmp_path: Path) -> None:
    doc = _doc(tmp_path)
    doc.annotations[0].class_name = "ghost"  # not a class of the doc
    with pytest.raises(InvalidInput, match="ghost"):
        save_yolo(doc, tmp_path / "out")
    doc = _doc(tmp_path)
    doc.images[2].key = "/abs/b.png"  # unsafe key, refused mid-export
    doc.annotations[3].image_key = "/abs/b.png"
    with pytest.raises(InvalidInput, match="relative file path"):
        save_yolo(doc, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_real_coco_to_yolo_round_trip(coco_sample: Path, tmp_path: Path) -> None:
    doc = load_coco(coco_sample / "rle.json", coco_sample / "images")
    report = save_yolo(doc, tmp_path / "yolo")
    kept = [a for a in doc.annotations if not a.iscrowd]
    assert report.checked == len(kept) and report.min_iou >= 0.95
    back = load_yolo(tmp_path / "yolo")
    assert len(back.annotations) == len(kept)
    by_name = {Path(i.key).name: i.key for i in back.images}
    grouped = back.annotations_by_image()
    for image in doc.images:
        ours = [a for a in kept if a.image_key == image.key]
        theirs = grouped[by_name[image.key]]
        assert [a.class_name for a in theirs] == [a.class_name for a in ours]
        for got, want in zip(theirs, ours):
            assert masks.iou(got.rle, want.rle) >= 0.95
